"""Plugin isolation: a broken plugin is skipped with a one-line warning; strict and disable switches work."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _make_dist(root: Path, dist: str, ep_name: str, module: str, code: str) -> None:
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{ep_name} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(code))


@pytest.fixture
def plugin_path(tmp_path):
    _make_dist(tmp_path, "zoo_broken", "broken", "zoo_broken_plugin", "raise ImportError('boom: missing dependency')\n")
    _make_dist(tmp_path, "zoo_typo", "typo", "zoo_typo_plugin", """
        from zoo_core.hookspecs import hookimpl

        @hookimpl
        def zoo_register_encoder(register):   # misspelled: the hook is zoo_register_encoders
            register("never", object)
        """)
    _make_dist(tmp_path, "zoo_extra", "extra", "zoo_extra_plugin", """
        from pathlib import Path
        from zoo_core.hookspecs import hookimpl

        @hookimpl
        def zoo_register_encoders(register):
            register("extra_encoder", "zoo_extra_plugin:Nothing")

        @hookimpl
        def zoo_registry_files(register):
            register(Path(__file__).with_name("extra_registry.yaml"))
        """)
    (tmp_path / "extra_registry.yaml").write_text(
        "encoders:\n  extra-enc:\n    impl: extra_encoder\n    featurizer: mrl56\n    description: third-party\n")
    return tmp_path


def _zoo(args, path, **env):
    full = dict(os.environ, PYTHONPATH=str(path), **env)
    return subprocess.run([sys.executable, "-m", "zoo_cli.main", *args], capture_output=True, text=True, env=full,
                          timeout=120)


def test_broken_plugin_is_skipped_with_one_line_warning(plugin_path):
    r = _zoo(["plugins", "--json"], plugin_path)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "plugin 'broken'" in line]
    assert len(warnings) == 1 and "boom: missing dependency" in warnings[0]
    rows = json.loads(r.stdout)
    names = {row["name"] for row in rows}
    assert {"core", "mpnn", "extra"} <= names
    skipped = [row for row in rows if row.get("skipped")]
    assert [row["name"] for row in skipped] == ["broken"]
    extra = next(row for row in rows if row["name"] == "extra")
    assert extra["registered"] == {"encoders": ["extra_encoder"]} and "zoo_register_encoders" in extra["hooks"]


def test_misspelled_hook_is_reported(plugin_path):
    r = _zoo(["plugins", "--json"], plugin_path)
    assert "typo" in r.stderr and "zoo_register_encoder" in r.stderr


def test_strict_mode_raises(plugin_path):
    r = _zoo(["plugins"], plugin_path, ZOO_STRICT_PLUGINS="1")
    assert r.returncode != 0
    assert "broken" in r.stderr


def test_disable_by_name(plugin_path):
    r = _zoo(["plugins", "--json"], plugin_path, ZOO_DISABLE_PLUGINS="broken,typo")
    assert r.returncode == 0
    assert "broken" not in r.stderr and "typo" not in r.stderr
    assert "broken" not in {row["name"] for row in json.loads(r.stdout)}


def test_plugin_registry_fragment_is_merged(plugin_path):
    r = _zoo(["list", "encoders", "--json"], plugin_path, ZOO_DISABLE_PLUGINS="broken,typo")
    assert r.returncode == 0, r.stderr
    names = {row["name"]: row for row in json.loads(r.stdout)}
    assert names["extra-enc"]["available"] is True and "mpnn" in names


def test_conflicting_fragment_is_skipped(plugin_path):
    (plugin_path / "extra_registry.yaml").write_text(
        "encoders:\n  mpnn:\n    impl: extra_encoder\n    featurizer: mrl56\n")
    r = _zoo(["list", "encoders", "--json"], plugin_path, ZOO_DISABLE_PLUGINS="broken,typo")
    assert r.returncode == 0
    assert "conflicts" in r.stderr and "extra_registry.yaml" in r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["mpnn"]["impl"] == "mpnn"
