"""The plugin kit (issue 37, part 3): `zoo plugin new NAME` writes a package that builds into a wheel keeping its
registry fragment, installs into a fresh environment (tests/wheel_env.py) and trains there; a factory registered
without a registry entry is reported with the fix (an error under ZOO_STRICT_PLUGINS=1)."""

from __future__ import annotations

import json
import math
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from test_plugins import _make_dist, _zoo
from wheel_env import ROOT, build_wheels, clean_env, deps_view, fresh_env, where_installed, zoo
from zoo_cli.main import app

runner = CliRunner()


def test_plugin_new_refuses_bad_and_taken_names_and_a_used_folder(tmp_path):
    for bad in ("MyGin", "my-gin", "1gin", "class", "gin_"):
        r = runner.invoke(app, ["plugin", "new", bad, "--dir", str(tmp_path / bad)])
        assert r.exit_code == 2 and "invalid plugin name" in r.stderr and not (tmp_path / bad).exists(), r.output
    r = runner.invoke(app, ["plugin", "new", "mpnn", "--dir", str(tmp_path / "taken")])
    assert r.exit_code == 2 and "already a registry name" in r.stderr and not (tmp_path / "taken").exists()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    r = runner.invoke(app, ["plugin", "new", "mygin", "--dir", str(tmp_path / "used")])
    assert r.exit_code == 2 and "already exists" in r.stderr
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["keep.txt"]


def test_a_factory_without_a_registry_entry_is_named_with_the_fix(tmp_path):
    _make_dist(tmp_path, "zoo_lonely", "lonely", "zoo_lonely_plugin", """
        from zoo_core.hookspecs import hookimpl

        @hookimpl
        def zoo_register_encoders(register):
            register("lonely_gin", "zoo_lonely_plugin:Nothing")
        """)
    r = _zoo(["list", "encoders", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "lonely_gin" in line]
    assert len(lines) == 1, r.stderr
    for fix in ("plugin 'lonely'", "no registry entry", "impl: lonely_gin, plugin: zoo_lonely", "zoo_registry_files",
                "package data", "zoo plugin new", "ZOO_STRICT_PLUGINS=1"):
        assert fix in lines[0], (fix, lines[0])
    strict = _zoo(["list", "encoders"], tmp_path, ZOO_STRICT_PLUGINS="1")
    errors = [line for line in strict.stderr.splitlines() if line.strip()]
    assert strict.returncode == 1 and len(errors) == 1 and "lonely_gin" in errors[0], strict.stderr
    quiet = _zoo(["list", "encoders"], tmp_path, ZOO_DISABLE_PLUGINS="zoo_lonely")  # by distribution name
    assert quiet.returncode == 0 and "lonely" not in quiet.stderr


@pytest.fixture(scope="module")
def mygin(tmp_path_factory):
    """(bin folder, plugin folder, work folder): `zoo plugin new mygin` built and installed from wheels, beside
    zoo-core, zoo-mpnn (late_fusion, the default pair model) and zoo-datasets (FreeSolv)."""
    tmp = tmp_path_factory.mktemp("plugin-kit")
    r = runner.invoke(app, ["plugin", "new", "mygin", "--dir", str(tmp / "zoo-mygin")])
    assert r.exit_code == 0, r.output
    plugins = [ROOT / "plugins" / "zoo-mpnn", ROOT / "plugins" / "zoo-datasets"]
    wheels = build_wheels([ROOT, *plugins, tmp / "zoo-mygin"], tmp / "wheels")
    with zipfile.ZipFile(next(w for w in wheels if w.name.startswith("zoo_mygin-"))) as whl:
        assert "zoo_mygin/registry.yaml" in whl.namelist()  # the package data made it into the wheel
    bin_dir = fresh_env(tmp / "env", wheels, deps_view(tmp / "deps-view"))
    (tmp / "work").mkdir()
    return bin_dir, tmp / "zoo-mygin", tmp / "work"


def test_a_new_plugin_from_its_wheel_is_listed_trains_and_passes_its_tests(mygin, tmp_path):
    bin_dir, plugin, work = mygin
    env = clean_env(tmp_path / "home")
    files = where_installed(bin_dir, ["zoo_core", "zoo_mygin"], env, work)
    assert all(Path(f).is_relative_to(bin_dir.parent) for f in files.values()), files
    listed = zoo(bin_dir, ["list", "encoders", "--json"], env, work)
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["mygin"]["available"] is True and rows["mygin"]["plugin"] == "zoo-mygin", rows.get("mygin")
    assert "warning" not in listed.stderr, listed.stderr
    # the acceptance command, narrowed to fold 0 of one repeat: the other 14 folds of the default protocol would
    # add ~100 s on the 2-core CI machine and exercise nothing new
    run = zoo(bin_dir, ["run", "--encoder", "mygin", "--dataset", "freesolv", "--epochs", "2", "--repeats", "1",
                        "--only-fold", "0", "--output", str(tmp_path / "runs"), "--json"], env, work, timeout=600)
    metrics = json.loads((Path(json.loads(run.stdout)["run_dir"]) / "metrics.json").read_text())
    assert [fold["fold"] for fold in metrics["folds"]] == [0], metrics["folds"]
    assert math.isfinite(metrics["folds"][0]["test"]["rmse"]), metrics["folds"][0]
    tests = subprocess.run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                           cwd=plugin, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600)
    assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout[-3000:]
