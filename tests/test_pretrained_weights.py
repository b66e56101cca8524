"""Pretrained weights (issue #5): the registry's weight files, `zoo predict --weights` reproducing the recorded test
RMSE (a DDI model's test AUROC), offline use, featurizer refusal, `load_pretrained`, `zoo info`/`zoo list` for
weights, and bench/publish_weights.py (section rewrite and a smoke run end to end). No network.

The registry checked is the zoo's own (``registry.yaml``, read through the ``zoo_core/registry.yaml`` symlink as in
normal use); ``ZOO_WEIGHTS_TEST_REGISTRY=/path/registry.yaml`` checks another one (e.g. a smoke run's copy made
with ``python bench/publish_weights.py --only cigin.compsol,mpnn.freesolv --epochs 3 --registry ...``).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zoo_cli.main import app
from zoo_core import registry as R
from zoo_core.weights import is_pretrained_backbone

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 5_000_000
TOLERANCE = 1e-4
# every published file must reproduce its recorded test RMSE (issue #5 names cigin.compsol)
REPRODUCE = ("cigin.compsol", "mpnn.freesolv", "attentivefp.compsol", "cgib.abraham", "cigin.3dmrl-compsol")
runner = CliRunner()


def _main_registry_path() -> Path | None:
    value = os.environ.get("ZOO_WEIGHTS_TEST_REGISTRY")
    return Path(value).expanduser().resolve() if value else None  # None: the zoo's own (the symlink)


def _weights_entries() -> dict:
    return R.parse_registry_file(_main_registry_path() or R.default_registry_path())["weights"]


def use_registry(monkeypatch, main: Path | None = None, fragments=()):
    """Make the process-wide registry (what the CLI sees) = ``main`` (default: the zoo's own) + plugin fragments
    + ``fragments``; a fragment that fails to load is an error here, not a warning."""
    from zoo_core.plugins import get_catalog

    extra = list(get_catalog().registry_files) + [(str(f), "test") for f in fragments]
    reg = R.load_registry(extra, strict_fragments=True, main=main)
    monkeypatch.setattr(R, "_REGISTRY", reg)
    return reg


def _local_file(entry) -> Path | None:
    """The local file of an entry: the checkout's copy of a release file (``weights/`` beside the real registry
    file), the path its url names (relative to that file), or None for another URL."""
    from zoo_core import weight_sources as ws

    url = entry["url"]
    if ws.is_release_url(url):
        return Path(entry.source).resolve().parent / ws.CHECKOUT_FOLDER / urllib.parse.unquote(url.rsplit("/", 1)[1])
    if urllib.parse.urlsplit(url).scheme.lower() in ("http", "https", "file"):
        return None
    path = Path(url).expanduser()
    return path if path.is_absolute() else Path(entry.source).resolve().parent / path


# --- every published weight file matches its registry entry -----------------------------------------------

@pytest.mark.parametrize("name", sorted(_weights_entries()))
def test_registry_weight_file_matches_entry(name):
    check_weight_file(name, _weights_entries())


def check_weight_file(name: str, entries: dict) -> None:
    """The file of ``entries[name]`` exists (locally or in the cache) and matches the entry: hash, size, model,
    featurizer; a backbone has no dataset or metrics, a full-data version no metrics but a published evaluation
    version, any other entry its test metrics."""
    from zoo_core.hub import cached_path, sha256_file
    from zoo_core.weights import read_metadata

    entry = entries[name]
    path = _local_file(entry)
    if path is None:  # a URL elsewhere: check the copy in the cache when there is one
        path = cached_path("weights", f"{name}.safetensors")
        if not path.is_file():
            pytest.skip(f"{name}: url {entry['url']} is remote and not in the cache; nothing local to check")
    assert path.is_file(), (f"registry entry weights.{name} names {entry['url']}, but {path} does not exist: run "
                            f"`python bench/publish_weights.py --only {name}` and commit the file")
    assert sha256_file(path) == entry["sha256"], f"{path}: sha256 differs from the registry entry"
    size = path.stat().st_size
    assert entry.get("size_bytes") == size, f"{path}: {size} bytes, the registry says {entry.get('size_bytes')}"
    limit = _publisher().size_limit(name)  # 5 MB unless the recipe states its own (cgib.chchminer's 8 MB)
    assert size < limit, f"{path}: {size:,} bytes, over the {limit:,}-byte limit for weights kept in the repository"
    spec, meta = read_metadata(path)
    assert (spec["pair_model"], spec["encoder"]) == (entry["pair_model"], entry["encoder"])
    assert {k: spec["featurizer"][k] for k in entry["featurizer"]} == entry["featurizer"]
    if (entry.get("pretraining") or {}).get("cache_key"):  # a pretrained backbone (checked below)
        assert is_pretrained_backbone(meta) and not entry.get("metrics") and not entry.get("dataset")
        for key in ("license", "card"):
            assert entry.get(key), f"weights.{name} has no {key}"
        return
    assert not is_pretrained_backbone(meta)
    assert meta["dataset"] == entry["dataset"]
    for key in ("license", "card"):
        assert entry.get(key), f"weights.{name} has no {key}"
    training = entry.get("training") or {}
    if training.get("full_data"):  # nothing held out: the error to expect is its evaluation version's
        evaluation = entries.get(training["evaluation"])
        assert "metrics" not in entry.data and evaluation and evaluation["metrics"]["rmse"], name
        assert meta["full_data"]["pairs"] == training["train_pairs"] and "test_metrics" not in meta
        assert f"{name}" in evaluation["card"] and "no held-out test" in entry["card"], name
        return
    assert entry.get("metrics"), f"weights.{name} has no metrics"


def test_every_published_weight_has_its_release_url():
    """The zoo's own weights travel: each url is the release asset ``<name>.safetensors`` (a wheel carries no
    weights/ folder), fetched from ZOO_WEIGHTS_URL when set, from the checkout's weights/ when present."""
    from zoo_core import weight_sources as ws

    entries = R.parse_registry_file(R.default_registry_path())["weights"]
    assert entries
    for name, entry in entries.items():
        assert entry["url"] == ws.release_url(f"{name}.safetensors"), (name, entry["url"])
        assert ws.checkout_copy(entry["url"], entry.source) == ROOT / "weights" / f"{name}.safetensors"


def test_mirror_base_replaces_the_release_base_only(monkeypatch):
    from zoo_core import weight_sources as ws

    url = ws.release_url("a.b.safetensors")
    assert url.startswith("https://github.com/") and ws.mirrored(url) == url
    monkeypatch.setenv("ZOO_WEIGHTS_URL", "http://127.0.0.1:9/mirror")
    assert ws.mirrored(url) == "http://127.0.0.1:9/mirror/a.b.safetensors"
    elsewhere = "https://example.org/w/a.b.safetensors"
    assert ws.mirrored(elsewhere) == elsewhere and not ws.is_release_url(elsewhere)
    assert ws.checkout_copy(url, ROOT / "nowhere" / "registry.yaml") is None


@pytest.mark.parametrize("name", sorted(n for n, e in _weights_entries().items()
                                        if (e.get("pretraining") or {}).get("cache_key")))
def test_a_published_backbone_has_the_key_its_settings_give_now(name):
    """The key a published backbone is found by is the one the zoo computes today for its recorded settings (model,
    pair set and its pairs, budget, pretrainer parameters): if featurizers, pair sets or defaults change, this
    fails and says to republish, instead of the backbone silently never being found again."""
    from zoo_core.data.pair_sets import resolve
    from zoo_core.models import model_spec
    from zoo_core.train.pretraining import backbone_key

    entry = _weights_entries()[name]
    pre = entry["pretraining"]
    spec = model_spec(entry["model"], None if entry["model"] == entry["pair_model"] else entry["pair_model"],
                      task="regression", explicit_h=entry["featurizer"]["explicit_h"])
    assert (spec["pair_model"], spec["encoder"]) == (entry["pair_model"], entry["encoder"])
    pset = resolve(pre["pair_set"], ratio=pre["ratio"])
    assert len(pset.pairs) == pre["pairs"]
    key = backbone_key(pre["pretrainer"], spec, pset.pairs, pre["epochs"], pre["batch_size"], pre["lr"], pre["seed"],
                       pre["params"], pset.record()["pair_set"])
    assert key == pre["cache_key"], (f"weights.{name}: its settings now give key {key}, not {pre['cache_key']}: "
                                     f"republish it with `python bench/publish_weights.py --only {name}`")


# --- `zoo predict --weights NAME` reproduces the recorded test RMSE ---------------------------------------

def predict_reproduces_registry_rmse(name: str, tmp_path: Path, monkeypatch, main: Path | None = None) -> float:
    """Rebuild the entry's test fold (as zoo_core.train.run does), predict it with the CLI, compare the RMSE."""
    from zoo_core.data.datasets import dataset_entry, load_table
    from zoo_core.data.pairs import PairDataset
    from zoo_core.data.splits import make_splits

    reg = use_registry(monkeypatch, main=main)
    entry = reg.sections["weights"].get(name)
    if entry is None:
        pytest.fail(f"the registry has no weights entry {name!r}: generate it with "
                    f"`python bench/publish_weights.py --only {name}` (writes weights/ and registry.yaml)")
    training, metrics = entry["training"], entry["metrics"]
    split, seed, fold, n_folds = training["split"], training["seed"], training["fold"], training["folds"]
    said = re.match(r"(\S+) seed (\d+) fold (\d+)", metrics["split"])
    assert said and (said[1], int(said[2]), int(said[3])) == (split, seed, fold), metrics["split"]
    data = dataset_entry(entry["dataset"])
    assert data["split"] == split and bool(data["explicit_h"]) == entry["featurizer"]["explicit_h"]
    ds = PairDataset.from_table(load_table(entry["dataset"]), entry["featurizer"]["name"], bool(data["explicit_h"]),
                                progress=False)
    test_rows = make_splits(split, len(ds), seed, ds.table.a, ds.table.b, n_folds=n_folds)[fold][2]
    assert len(test_rows) == metrics["test_pairs"]
    a_col, b_col = data["roles"]
    pairs = tmp_path / f"{name}-test-fold.csv"
    with open(pairs, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([a_col, b_col, "target"])
        w.writerows([ds.table.a[i], ds.table.b[i], repr(float(ds.y[i, 0]))] for i in test_rows)
    out = tmp_path / f"{name}-predictions.csv"
    r = runner.invoke(app, ["predict", "--weights", name, "--input", str(pairs), "--output", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["failed"] == 0
    rows = list(csv.DictReader(open(out, newline="")))
    assert len(rows) == len(test_rows) and all(row["prediction"] for row in rows)
    rmse = math.sqrt(sum((float(row["target"]) - float(row["prediction"])) ** 2 for row in rows) / len(rows))
    assert abs(rmse - metrics["rmse"]) <= TOLERANCE, (name, rmse, metrics["rmse"])
    return rmse


@pytest.mark.parametrize("name", REPRODUCE)
def test_zoo_predict_reproduces_registry_rmse(name, tmp_path, monkeypatch):
    predict_reproduces_registry_rmse(name, tmp_path, monkeypatch, main=_main_registry_path())


def predict_reproduces_registry_auroc(name: str, tmp_path: Path, monkeypatch, main: Path | None = None,
                                      tolerance: float = TOLERANCE) -> float:
    """A DDI entry: rebuild its test part (the seed's negatives and split, as `zoo run` draws them), predict it with
    the CLI from a two-column drug-pair CSV, compare the AUROC of the written probabilities."""
    from zoo_core.data.datasets import dataset_entry, load_table
    from zoo_core.data.pairs import PairDataset
    from zoo_core.train.metrics import auroc

    reg = use_registry(monkeypatch, main=main)
    entry = reg.sections["weights"][name]
    training, metrics, data = entry["training"], entry["metrics"], dataset_entry(entry["dataset"])
    assert training["seed"] == 0 and data.get("negatives") and bool(data["explicit_h"]) == entry["featurizer"][
        "explicit_h"]
    ds = PairDataset.from_table(load_table(entry["dataset"]), entry["featurizer"]["name"], bool(data["explicit_h"]),
                                progress=False)
    ds, (_, _, test_rows) = _publisher().evaluation_rows(ds, data, training["split"])
    assert len(test_rows) == metrics["test_pairs"]
    pairs, out = tmp_path / f"{name}-test-pairs.csv", tmp_path / f"{name}-probabilities.csv"
    with open(pairs, "w", newline="") as f:
        csv.writer(f).writerows([data["roles"], *([ds.table.a[i], ds.table.b[i]] for i in test_rows)])
    r = runner.invoke(app, ["predict", "--weights", name, "--input", str(pairs), "--output", str(out), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["failed"] == 0, r.output
    p = [float(row["prediction"]) for row in csv.DictReader(open(out, newline=""))]
    assert len(p) == len(test_rows) and all(0.0 <= v <= 1.0 for v in p)
    value = auroc(ds.y.numpy()[test_rows, 0], p)
    assert abs(value - metrics["auroc"]) <= tolerance, (name, value, metrics["auroc"])
    return value


@pytest.mark.parametrize("name", sorted(n for n, e in _weights_entries().items()
                                        if "auroc" in (e.get("metrics") or {})))
def test_zoo_predict_reproduces_registry_auroc(name, tmp_path, monkeypatch):
    predict_reproduces_registry_auroc(name, tmp_path, monkeypatch, main=_main_registry_path())


# --- a tiny weight file (untrained late_fusion(mpnn)) for the hub, CLI and load_pretrained tests ----------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, str]:
    """(file, sha256) of freshly initialised late_fusion(mpnn) weights with a featurizer spec of today."""
    import torch

    from zoo_core.hub import sha256_file
    from zoo_core.models import build_model, model_spec
    from zoo_core.weights import save_model

    torch.manual_seed(0)
    spec = model_spec("mpnn", explicit_h=True, encoder_params={"steps": 1}, pair_params={"mlp_hidden": [8]})
    path = save_model(tmp_path_factory.mktemp("tiny") / "tiny.safetensors", build_model(spec), spec,
                      {"dataset": "freesolv"})
    return path, sha256_file(path)


def _fragment(folder: Path, entries: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "registry.yaml"
    path.write_text(yaml.safe_dump({"weights": entries}, sort_keys=False))
    return path


def _entry(url: str, sha: str, **more) -> dict:
    return {"description": "unit-test weights", "encoder": "mpnn", "pair_model": "late_fusion", "dataset": "freesolv",
            "url": url, "sha256": sha, "featurizer": {"name": "mrl56", "version": "1", "explicit_h": True}, **more}


def _pairs_csv(tmp_path: Path) -> Path:
    path = tmp_path / "mine.csv"
    path.write_text("solute,solvent\nCCO,O\nc1ccccc1,O\n")
    return path


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_offline_cold_cache_says_how_to_pre_seed_then_warm_cache_predicts(tiny, tmp_path, monkeypatch):
    from zoo_core.hub import cached_path

    path, sha = tiny
    frag = _fragment(tmp_path / "frag", {"tiny.remote": _entry("https://127.0.0.1:9/tiny.safetensors", sha)})
    use_registry(monkeypatch, fragments=[frag])
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    _no_network(monkeypatch)
    args = ["predict", "--weights", "tiny.remote", "--input", str(_pairs_csv(tmp_path)),
            "--output", str(tmp_path / "out.csv")]
    r = runner.invoke(app, args)
    dest = cached_path("weights", "tiny.remote.safetensors")
    assert r.exit_code == 1 and not (tmp_path / "out.csv").exists()
    message = " ".join(r.stderr.split())
    assert "ZOO_OFFLINE" in message and "pre-seed" in message and str(dest) in message and sha in message, message
    dest.parent.mkdir(parents=True)
    shutil.copyfile(path, dest)  # pre-seed the cache as the message says
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert [bool(row["prediction"]) for row in rows] == [True, True]


def test_a_release_file_comes_from_the_mirror_verified_then_from_the_cache(tiny, tmp_path, monkeypatch):
    """A release url outside a checkout (no weights/ beside the registry): ZOO_WEIGHTS_URL's server is asked once,
    the file is sha256-checked into the cache; a mirror serving other bytes is refused, naming the variable."""
    from local_http import FolderServer, PROXY_VARS

    from zoo_core.errors import DownloadError
    from zoo_core.hub import cached_path, weights_path
    from zoo_core.weight_sources import release_url

    path, sha = tiny
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copyfile(path, mirror / "tiny.rel.safetensors")
    (mirror / "tiny.bad.safetensors").write_bytes(b"not the published bytes")
    frag = _fragment(tmp_path / "frag", {n: _entry(release_url(f"{n}.safetensors"), sha)
                                         for n in ("tiny.rel", "tiny.bad")})
    use_registry(monkeypatch, fragments=[frag])
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    with FolderServer(mirror) as server:
        monkeypatch.setenv("ZOO_WEIGHTS_URL", server.url.rstrip("/"))  # with or without the trailing slash
        assert weights_path("tiny.rel", progress=False) == cached_path("weights", "tiny.rel.safetensors")
        assert weights_path("tiny.rel", progress=False).read_bytes() == path.read_bytes()
        assert server.gets["tiny.rel.safetensors"] == 1
        with pytest.raises(DownloadError, match="sha256 mismatch") as error:
            weights_path("tiny.bad", progress=False)
        assert "ZOO_WEIGHTS_URL" in str(error.value) and server.url in str(error.value)
        assert not cached_path("weights", "tiny.bad.safetensors").exists()
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home-offline"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.delenv("ZOO_WEIGHTS_URL")
    with pytest.raises(DownloadError, match="ZOO_OFFLINE") as error:
        weights_path("tiny.rel", progress=False)
    assert "ZOO_WEIGHTS_URL=BASE" in str(error.value) and "file:///" in str(error.value)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", mirror.as_uri() + "/")  # a local copy of the release works offline
    assert weights_path("tiny.rel", progress=False).read_bytes() == path.read_bytes()


def test_featurizer_mismatch_is_refused_naming_the_difference(tiny, tmp_path, monkeypatch):
    from zoo_core.errors import FeaturizerMismatch
    from zoo_core.weights import load_model, read_metadata, save_model

    path, _ = tiny
    model, spec, meta = load_model(path)
    spec = dict(spec, featurizer=dict(spec["featurizer"], version="0-old"))
    old = save_model(tmp_path / "old.safetensors", model, spec, meta)
    assert read_metadata(old)[0]["featurizer"]["version"] == "0-old"
    with pytest.raises(FeaturizerMismatch, match=r"version: weights have '0-old', requested '1'"):
        load_model(old, check_installed=True)
    current = read_metadata(path)[0]["featurizer"]
    with pytest.raises(FeaturizerMismatch, match="version"):
        load_model(old, expected_featurizer=current)
    r = runner.invoke(app, ["predict", "--weights", str(old), "--input", str(_pairs_csv(tmp_path)),
                            "--output", str(tmp_path / "out.csv")])
    assert r.exit_code == 1 and "featurizer mismatch" in r.stderr and "'0-old'" in r.stderr, r.output
    r = runner.invoke(app, ["explain", "--weights", str(old), "--solute", "CCO", "--solvent", "O", "--json"])
    assert r.exit_code == 1 and "featurizer mismatch" in r.stderr, r.output
    frag = _fragment(tmp_path / "frag", {"tiny.old": _entry(str(old), hashlib.sha256(old.read_bytes()).hexdigest())})
    use_registry(monkeypatch, fragments=[frag])
    import zoo_core

    with pytest.raises(FeaturizerMismatch, match="version"):
        zoo_core.load_pretrained("tiny.old")


def test_load_pretrained_resolves_relative_url_through_a_symlinked_registry(tiny, tmp_path, monkeypatch):
    import torch

    import zoo_core
    from zoo_core.hub import weights_path
    from zoo_core.weights import read_metadata

    path, sha = tiny
    real = tmp_path / "repo"
    (real / "weights").mkdir(parents=True)
    shutil.copyfile(path, real / "weights" / "tiny.local.safetensors")
    _fragment(real, {"tiny.local": _entry("weights/tiny.local.safetensors", sha)})
    (tmp_path / "pkg").mkdir()
    link = tmp_path / "pkg" / "registry.yaml"  # like zoo_core/registry.yaml -> ../registry.yaml
    link.symlink_to(real / "registry.yaml")
    use_registry(monkeypatch, fragments=[link])
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    _no_network(monkeypatch)
    assert weights_path("tiny.local") == real / "weights" / "tiny.local.safetensors"  # local file, not the cache
    assert "load_pretrained" in zoo_core.__all__
    model = zoo_core.load_pretrained("tiny.local")
    assert not model.training and not any(m.training for m in model.modules())
    assert model.zoo_spec == read_metadata(path)[0] and model.zoo_meta["dataset"] == "freesolv"
    from safetensors.torch import load_file

    saved = load_file(str(path))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())


def test_info_and_list_for_weights(tiny, tmp_path, monkeypatch):
    path, sha = tiny
    size = path.stat().st_size
    card = "What it is.\n\nLimits: a unit test.\n"
    entries = {name: _entry(str(path), sha, size_bytes=size, license="MIT", card=card,
                            metrics={"split": "mi5fold seed 0 fold 0, test part", "test_pairs": 56, "rmse": 1.25})
               for name in ("cigin.unit-test", "cigin.3dmrl-unit-test", "mpnn.unit-test")}
    use_registry(monkeypatch, fragments=[_fragment(tmp_path / "frag", entries)])
    r = runner.invoke(app, ["list", "weights", "cigin*", "--json"])
    assert r.exit_code == 0, r.output
    names = {row["name"] for row in json.loads(r.stdout)}
    assert {"cigin.unit-test", "cigin.3dmrl-unit-test"} <= names and not any(n.startswith("mpnn.") for n in names)
    r = runner.invoke(app, ["list", "weights", "*.unit-test", "--json"])
    assert {row["name"] for row in json.loads(r.stdout)} == {"cigin.unit-test", "mpnn.unit-test"}
    r = runner.invoke(app, ["list", "weights", "cigin*"])
    assert r.exit_code == 0 and "weights:" in r.stdout and "cigin.3dmrl-unit-test" in r.stdout
    r = runner.invoke(app, ["info", "cigin.unit-test"])
    assert r.exit_code == 0, r.output
    for text in ("rmse: 1.25", "mi5fold seed 0 fold 0", "dataset: freesolv", "name: mrl56", "license: MIT", sha,
                 f"url: {path}", "card: |", "  Limits: a unit test."):
        assert text in r.stdout, (text, r.stdout)
    assert re.search(rf"size: '?{size / 1e3:.1f} kB \({size:,} bytes\)", r.stdout), r.stdout  # the tiny file is < 1 MB
    r = runner.invoke(app, ["info", "cigin.unit-test", "--json"])
    info = json.loads(r.stdout)
    assert info["card"] == card and info["sha256"] == sha and info["size_bytes"] == size and "kB" in info["size"]


# --- bench/publish_weights.py ------------------------------------------------------------------------------

def _publisher():
    spec = importlib.util.spec_from_file_location("publish_weights", ROOT / "bench" / "publish_weights.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_publisher_rewrites_only_the_weights_section():
    pw = _publisher()
    text = (ROOT / "registry.yaml").read_text(encoding="utf-8")
    before = text[: re.search(r"^weights:", text, re.M).start()]
    block = pw.entry_block("a.b", _entry("weights/a.b.safetensors", "0" * 64, card="line 1\n\nline 2\n"))
    once = pw.set_weights_entries(text, {"a.b": block})
    assert once.startswith(before) and yaml.safe_load(once)["weights"]["a.b"]["card"] == "line 1\n\nline 2\n"
    twice = pw.set_weights_entries(once, {"c.d": pw.entry_block("c.d", _entry("x", "1" * 64))})
    again = pw.set_weights_entries(twice, {"a.b": pw.entry_block("a.b", _entry("y", "2" * 64))})
    weights = yaml.safe_load(again)["weights"]
    existing = list(yaml.safe_load(text)["weights"] or {})  # the zoo's published entries stay, in order
    assert list(weights) == existing + ["a.b", "c.d"] and weights["a.b"]["url"] == "y" and weights["c.d"]["url"] == "x"
    assert again.startswith(before)
    middle = "version: 1\n# head\nweights: {}\n\n# about datasets\ndatasets:\n  x: {a: 1}   # kept\n"
    out = pw.set_weights_entries(middle, {"a.b": block})
    assert out.startswith("version: 1\n# head\nweights:\n  a.b:\n")
    assert out.endswith("\n\n# about datasets\ndatasets:\n  x: {a: 1}   # kept\n")


def test_publish_script_smoke_run_end_to_end(tmp_path, monkeypatch):
    """--only mpnn.freesolv --epochs 1 into a registry copy: file, entry, untouched rest, reproducible RMSE."""
    from zoo_core.hub import sha256_file
    from zoo_core.weight_sources import release_url
    from zoo_core.weights import read_metadata

    pw = _publisher()
    registry = tmp_path / "registry.yaml"
    original = (ROOT / "registry.yaml").read_text(encoding="utf-8")
    registry.write_text(original, encoding="utf-8")
    args = ["--only", "mpnn.freesolv", "--epochs", "1", "--output-dir", str(tmp_path / "weights"),
            "--registry", str(registry), "--runs-dir", str(tmp_path / "runs"), "--quiet"]
    with pytest.raises(SystemExit):  # smoke budgets never go into the repository's registry and weights/
        pw.main(args[:4])
    assert pw.main(args) == 0
    text = registry.read_text(encoding="utf-8")
    head = original[: re.search(r"^weights:", original, re.M).start()]
    assert text.startswith(head) and text.count("\nweights:") == 1
    entry = R.parse_registry_file(registry)["weights"]["mpnn.freesolv"]
    file = tmp_path / "weights" / "mpnn.freesolv.safetensors"
    assert entry["url"] == release_url("mpnn.freesolv.safetensors") and entry["sha256"] == sha256_file(file)
    assert entry["size_bytes"] == file.stat().st_size < MAX_BYTES
    assert (entry["model"], entry["encoder"], entry["pair_model"], entry["dataset"]) == (
        "mpnn", "mpnn", "late_fusion", "freesolv")
    assert entry["training"]["epochs"] == 1 and "FreeSolv" in entry["card"] and entry["license"]
    assert "mpnn.freesolv.full (all 560 pairs for the" in " ".join(entry["card"].split())
    assert "is not published yet" in " ".join(entry["card"].split())  # until the .full publication rewrites it
    assert isinstance(entry["training"]["lr_steps"], list)
    spec, meta = read_metadata(file)
    assert meta["split_description"] == "mi5fold seed 0 fold 0" and meta["dataset"] == "freesolv"
    assert {"zoo_version", "torch_version", "rdkit_version", "test_metrics"} <= set(meta)
    assert abs(meta["test_metrics"]["rmse"] - entry["metrics"]["rmse"]) <= TOLERANCE
    predict_reproduces_registry_rmse("mpnn.freesolv", tmp_path, monkeypatch, main=registry)


def _registry_copy(tmp_path: Path, weights: tuple[str, ...] = ()) -> Path:
    """A copy of the zoo's registry with ``weights/`` beside it holding copies of the named files."""
    registry = tmp_path / "registry.yaml"
    registry.write_text((ROOT / "registry.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "weights").mkdir()
    for name in weights:
        shutil.copyfile(ROOT / "weights" / f"{name}.safetensors", tmp_path / "weights" / f"{name}.safetensors")
    return registry


def test_publish_a_full_data_version_beside_its_evaluation_version(tmp_path, monkeypatch):
    """--only mpnn.freesolv.full --epochs 1 into a registry copy (without a published mpnn.freesolv.full): every
    FreeSolv pair trained on, an entry without metrics naming the error to expect (mpnn.freesolv's), that version's
    card naming it, the rest untouched, and `zoo predict --weights mpnn.freesolv.full` predicts."""
    pw = _publisher()
    registry = _registry_copy(tmp_path, ("mpnn.freesolv",))
    text = yaml.safe_load(registry.read_text(encoding="utf-8"))
    if "mpnn.freesolv.full" in text["weights"]:  # published in the zoo: start from the state before it was
        old = text["weights"]["mpnn.freesolv"]
        t = old["training"]
        n = t["train_pairs"] + t["valid_pairs"] + t["test_pairs"]
        unpublished = dict(old, card=pw.with_sibling_note(old["card"], pw.sibling_note("mpnn.freesolv", n,
                                                                                      t["best_epoch"], False)))
        del text["weights"]["mpnn.freesolv.full"]
        text["weights"]["mpnn.freesolv"] = unpublished
        registry.write_text(yaml.safe_dump(text, sort_keys=False, allow_unicode=True), encoding="utf-8")
    before = yaml.safe_load(registry.read_text(encoding="utf-8"))
    assert "mpnn.freesolv.full" not in before["weights"]
    old = before["weights"]["mpnn.freesolv"]
    chosen, rmse = old["training"]["best_epoch"], float(old["metrics"]["rmse"])
    args = ["--only", "mpnn.freesolv.full", "--epochs", "1", "--output-dir", str(tmp_path / "weights"),
            "--registry", str(registry), "--runs-dir", str(tmp_path / "runs"), "--quiet"]
    assert pw.main(args) == 0
    after = yaml.safe_load(registry.read_text(encoding="utf-8"))
    assert {k: v for k, v in after.items() if k != "weights"} == {k: v for k, v in before.items() if k != "weights"}
    evaluation = after["weights"]["mpnn.freesolv"]
    assert {k: v for k, v in evaluation.items() if k != "card"} == {k: v for k, v in old.items() if k != "card"}
    assert (f"Its full-data version, mpnn.freesolv.full, trained on all 560 pairs for the {chosen} epochs" in
            " ".join(evaluation["card"].split()))
    assert "is not published yet" not in evaluation["card"]
    assert [n for n in after["weights"] if n not in before["weights"]] == ["mpnn.freesolv.full"]
    entry = R.parse_registry_file(registry)["weights"]["mpnn.freesolv.full"]
    training = entry["training"]
    assert "metrics" not in entry.data and training["full_data"] and training["evaluation"] == "mpnn.freesolv"
    assert (training["train_pairs"], training["epochs"], training["chosen_epochs"]) == (560, 1, chosen)
    card = " ".join(entry["card"].split())
    assert (f"Full-data version: trained on all 560 pairs for 1 epoch (a smoke budget; the fold-0 validation chose "
            f"{chosen}); no held-out test, expect about the fold-0 evaluation version's test error (RMSE {rmse:.3f} "
            "kcal/mol, see mpnn.freesolv)") in card
    assert f"expect about its test RMSE {rmse:.3f} kcal/mol" in entry["description"]
    check_weight_file("mpnn.freesolv.full", R.parse_registry_file(registry)["weights"])
    use_registry(monkeypatch, main=registry)
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["predict", "--weights", "mpnn.freesolv.full", "--input", str(_pairs_csv(tmp_path)),
                            "--output", str(out)])
    assert r.exit_code == 0 and "kcal/mol" in r.stdout, r.output
    assert all(row["prediction"] for row in csv.DictReader(open(out, newline="")))


def test_a_full_data_version_needs_its_evaluation_version_published(tmp_path, capsys):
    """The epoch count comes from the evaluation version's registry entry and file: without them, a one-line
    refusal saying what to publish first, before anything trains."""
    pw = _publisher()
    registry = _registry_copy(tmp_path)  # entries, but no cigin.compsol file beside them
    args = ["--only", "cigin.compsol.full", "--epochs", "1", "--output-dir", str(tmp_path / "weights"),
            "--registry", str(registry), "--runs-dir", str(tmp_path / "runs")]
    with pytest.raises(SystemExit) as stop:
        pw.main(args)
    message = capsys.readouterr().err
    assert stop.value.code == 2 and "evaluation version cigin.compsol is not published" in message, message
    assert "python bench/publish_weights.py --only cigin.compsol" in message and not (tmp_path / "runs").exists()


def test_weight_metadata_is_read_from_the_header_and_bad_files_are_named(tmp_path):
    """read_metadata parses the safetensors JSON header itself (no torch, no tensor loaded); a file that is not a
    safetensors file, or one without the zoo's metadata, gets an error naming it."""
    import torch
    from safetensors.torch import save_file

    from zoo_core.errors import ZooError
    from zoo_core.weights import read_metadata, safetensors_metadata

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain), metadata={"a": "1"})
    assert safetensors_metadata(plain) == {"a": "1"}
    with pytest.raises(ZooError, match=r"plain\.safetensors: not a zoo weight file"):
        read_metadata(plain)
    for name, content in (("short.bin", b"abc"), ("huge.bin", (10**12).to_bytes(8, "little") + b"{}"),
                          ("garbage.bin", (5).to_bytes(8, "little") + b"\xff\xfe{[x")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ZooError, match=rf"{name}: not a safetensors file"):
            safetensors_metadata(tmp_path / name)


def test_publish_a_backbone_that_zoo_run_then_takes_instead_of_pretraining(tmp_path, monkeypatch):
    """--only cigin.3dmrl-combisolv at a smoke budget into a registry copy: the entry has no metrics but the
    pretraining cache key, and `zoo run --pretrainer 3dmrl` with those settings (fresh cache) takes the file."""
    from zoo_core.hub import sha256_file

    pw = _publisher()
    registry = tmp_path / "registry.yaml"
    registry.write_text((ROOT / "registry.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home-publish"))
    args = ["--only", "cigin.3dmrl-combisolv", "--pretrain-epochs", "1", "--pretrain-ratio", "0.0002",
            "--output-dir", str(tmp_path / "weights"), "--registry", str(registry), "--runs-dir",
            str(tmp_path / "runs"), "--quiet"]
    assert pw.main(args) == 0
    entry = R.parse_registry_file(registry)["weights"]["cigin.3dmrl-combisolv"]
    file = tmp_path / "weights" / "cigin.3dmrl-combisolv.safetensors"
    assert entry["sha256"] == sha256_file(file) and entry["size_bytes"] == file.stat().st_size
    assert "dataset" not in entry.data and "metrics" not in entry.data
    pre = entry["pretraining"]
    assert (pre["pair_set"], pre["transductive"], pre["ratio"], pre["epochs"]) == (
        "combisolv-product", True, 0.0002, 1)
    assert len(pre["cache_key"]) == 24 and "TRANSDUCTIVE" in entry["card"]
    use_registry(monkeypatch, main=registry)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home-user"))
    r = runner.invoke(app, ["run", "--encoder", "cigin", "--pretrainer", "3dmrl", "--dataset", "freesolv",
                            "--pairs", "combisolv-product", "--pairs-ratio", "0.0002", "--pretrain-epochs", "1",
                            "--folds", "5", "--repeats", "1", "--only-fold", "0", "--epochs", "1",
                            "--output", str(tmp_path / "user-runs"), "--json"])
    assert r.exit_code == 0, r.output
    assert "published as weights 'cigin.3dmrl-combisolv' (sha256 verified)" in r.stderr
    assert "pretraining cigin" not in r.stderr
    assert json.loads(r.stdout)["pretraining"]["reused"] == [True]


def test_an_interrupted_publication_resumes_its_run_of_the_same_settings(tmp_path):
    """publish_weights continues an unfinished run under --runs-dir whose config.yaml records the recipe's
    settings (names resolved as a run records them; settings added later not compared), never a finished run or one
    of other settings."""
    from zoo_core.train.config import resolve_config

    pw = _publisher()
    cfg = resolve_config({"encoder": "cigin", "dataset": "freesolv", "seed": 0, "repeats": 1, "folds": 5,
                          "only_folds": [0], "epochs": 500, "patience": 50, "output": str(tmp_path), "threads": 1})
    recorded = {k: v for k, v in cfg.items() if k != "loss"}   # written before `loss` existed
    recorded.update(encoder="mpnn", pair_model="cigin", featurizer="mrl56", output="elsewhere", threads=2)

    def run_dir(name: str, settings: dict, finished: bool = False) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "config.yaml").write_text(yaml.safe_dump(settings))
        if finished:
            (path / "metrics.json").write_text("{}")
        return path

    assert pw.unfinished_run(tmp_path, cfg) is None
    run_dir("20261207-100000-finished", recorded, finished=True)
    run_dir("20261207-110000-other-lr", dict(recorded, lr=5e-3))
    run_dir("20261207-120000-other-model", dict(recorded, encoder="attentivefp", pair_model="late_fusion"))
    assert pw.unfinished_run(tmp_path, cfg) is None
    wanted = run_dir("20261207-090000-interrupted", recorded)
    assert pw.unfinished_run(tmp_path, cfg) == wanted
