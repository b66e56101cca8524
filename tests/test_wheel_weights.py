"""Weights that travel (issue 37, part 1): the zoo installed from wheels into a fresh environment (no checkout, so
no weights/ folder) downloads every published weight file from a 127.0.0.1 server standing in for the release
(``ZOO_WEIGHTS_URL``), predicts with each trained one, and then works with ``ZOO_OFFLINE=1`` from the cache alone.
The environment strategy and its cost are in tests/wheel_env.py. No network: the server is this test's own."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from local_http import FolderServer
from wheel_env import ROOT, build_wheels, clean_env, deps_view, fresh_env, where_installed, zoo
from zoo_cli.main import app
from zoo_core import registry as R
from zoo_core.hub import sha256_file
from zoo_core.weight_sources import release_url

PAIRS = [("CCO", "O"), ("c1ccccc1", "CCCCCCCCO"), ("CC(=O)C", "ClCCl")]
COLUMNS = "solute,solvent"  # every published model reads them, whatever its roles are called (chromophore, drug_a)


def _published() -> dict:
    return R.parse_registry_file(R.default_registry_path())["weights"]


def _plugins_needed(weights: dict) -> list[Path]:
    """The plugin folders a user installs to use these weights: those of their encoders and pair models."""
    reg = R.parse_registry_file(R.default_registry_path())
    dists = set()
    for entry in weights.values():
        for section, name in (("encoders", entry["encoder"]), ("pair_models", entry["pair_model"])):
            dists.add(reg[section][name].get("plugin", "zoo-core"))
    dists.discard("zoo-core")
    return [ROOT / "plugins" / d for d in sorted(dists)]


def _predictions(path: Path) -> list[float]:
    rows = list(csv.DictReader(open(path, newline="")))
    assert len(rows) == len(PAIRS) and all(row["prediction"] for row in rows), rows
    return [float(row["prediction"]) for row in rows]


def _checkout_predictions(name: str, pairs: Path, out: Path) -> list[float]:
    """What the checkout (weights/ beside registry.yaml) predicts, in this process."""
    r = CliRunner().invoke(app, ["predict", "--weights", name, "--input", str(pairs), "--output", str(out),
                                 "--columns", COLUMNS])
    assert r.exit_code == 0, r.output
    return _predictions(out)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, work folder) of a fresh environment with zoo-core and the plugins the weights need."""
    tmp = tmp_path_factory.mktemp("wheels")
    wheels = build_wheels([ROOT, *_plugins_needed(_published())], tmp / "wheels")
    bin_dir = fresh_env(tmp / "env", wheels, deps_view(tmp / "deps-view"))
    work = tmp / "work"
    work.mkdir()
    return bin_dir, work


def test_installed_zoo_downloads_predicts_then_works_offline(installed, tmp_path):
    t0 = time.monotonic()
    bin_dir, work = installed
    weights = _published()
    trained = sorted(n for n, e in weights.items() if e.get("dataset"))
    assert {"cigin.compsol", "mpnn.freesolv"} <= set(trained)
    home = tmp_path / "home"
    env = clean_env(home)
    files = where_installed(bin_dir, ["zoo_core", "zoo_cli"], env, work)
    site = Path(files["zoo_core"]).parent
    assert all(Path(f).is_relative_to(bin_dir.parent) for f in files.values()), files  # the wheels, not the checkout
    assert (site / "registry.yaml").is_file() and not (site.parent / "weights").exists()

    mirror = tmp_path / "mirror"
    shutil.copytree(ROOT / "weights", mirror)  # a copy of weights/ stands in for the release
    pairs = work / "pairs.csv"
    pairs.write_text("solute,solvent\n" + "".join(f"{a},{b}\n" for a, b in PAIRS))
    with FolderServer(mirror) as server:
        env["ZOO_WEIGHTS_URL"] = server.url
        zoo(bin_dir, ["predict", "--weights", "cigin.compsol", "-i", str(pairs), "-o", "cold.csv"], env, work)
        for name, entry in weights.items():  # every published file, by name
            done = zoo(bin_dir, ["download", name, "--quiet"], env, work)
            path = Path(done.stdout.strip().splitlines()[-1])
            assert path == home / "weights" / f"{name}.safetensors" and sha256_file(path) == entry["sha256"]
        assert dict(server.gets) == {f"{n}.safetensors": 1 for n in weights}, server.gets  # each fetched once
        assert all(weights[n]["url"] == release_url(f"{n}.safetensors") for n in weights)

    env["ZOO_OFFLINE"] = "1"  # the server is gone: everything now comes from the cache
    for name in trained:
        zoo(bin_dir, ["predict", "--weights", name, "-i", str(pairs), "-o", f"{name}.csv", "--columns", COLUMNS], env,
            work)
        expected = _checkout_predictions(name, pairs, tmp_path / f"{name}-checkout.csv")
        # predictions are written with 6 significant digits: two runs whose floats differ in the last bits may round
        # one unit of the sixth digit apart (relative <= 1e-5), never more
        assert _predictions(work / f"{name}.csv") == pytest.approx(expected, rel=1.5e-5, abs=1.5e-5), name
        if "auroc" in weights[name].get("metrics", {}):  # a DDI model: a probability for every pair
            assert all(0.0 <= p <= 1.0 for p in expected), (name, expected)
    assert _predictions(work / "cold.csv") == _predictions(work / "cigin.compsol.csv")
    for name in sorted(set(weights) - set(trained)):  # the backbones: served from the cache too
        assert zoo(bin_dir, ["download", name, "-q"], env, work).stdout.strip().endswith(f"{name}.safetensors")
    refused = zoo(bin_dir, ["download", "nope.none"], env, work, check=False)
    assert refused.returncode != 0 and "nope.none" in refused.stderr
    print(json.dumps({"seconds_in_test": round(time.monotonic() - t0, 1)}))


def test_an_installed_zoo_without_a_mirror_says_where_it_fetches_from(installed, tmp_path):
    """No server at the mirror address: the message names the release asset, the mirror and ZOO_WEIGHTS_URL."""
    bin_dir, work = installed
    env = clean_env(tmp_path / "home", ZOO_WEIGHTS_URL="http://127.0.0.1:9/")  # port 9 (discard): refused
    r = zoo(bin_dir, ["download", "mpnn.freesolv"], env, work, check=False)
    message = " ".join(r.stderr.split())
    assert r.returncode == 1 and "http://127.0.0.1:9/mpnn.freesolv.safetensors" in message, r.stderr
    assert "ZOO_WEIGHTS_URL" in message and not (tmp_path / "home" / "weights" / "mpnn.freesolv.safetensors").exists()
