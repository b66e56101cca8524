"""`zoo pretrain` and `zoo run --pretrainer 3dmrl`: pretrain, save the backbone, reuse it, load it for fine-tuning."""

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from zoo_cli.main import app

runner = CliRunner()


def _tiny_csv(tmp_path: Path) -> Path:
    rows = ["solute,solvent,dG", "CCO,O,-5.0", "CCCO,O,-4.8", "c1ccccc1,CCO,-3.9", "CC(=O)C,O,-3.8", "CCN,CCCCCCCCO,-4.5",
            "CCCl,O,-0.3", "CC#N,CCO,-3.9", "OCCO,O,-9.3", "CCOC,c1ccccc1,-2.5", "CCCC,O,2.1", "C,CCO,0.5",
            "CN,O,-4.6"]
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_run_with_3dmrl_pretrains_then_reuses(tmp_path, monkeypatch):
    from zoo_core.data.splits import mi5fold
    from zoo_core.train import pretraining

    seen = []
    real = pretraining.pretrained_backbone
    monkeypatch.setattr(pretraining, "pretrained_backbone", lambda *a, **k: seen.append(a[2]) or real(*a, **k))
    csv = _tiny_csv(tmp_path)
    args = ["run", "--encoder", "cigin", "--pretrainer", "3dmrl", "--dataset", str(csv), "--explicit-h",
            "--folds", "2", "--repeats", "1", "--only-fold", "0", "--epochs", "1", "--pretrain-epochs", "1",
            "--output", str(tmp_path / "runs"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "pretraining cigin(mpnn) with 3dmrl on 6 pairs (pair set train-split)" in first.stderr
    assert "pretraining epoch 1/1: loss " in first.stderr and "contrastive " in first.stderr
    lines = csv.read_text().splitlines()[1:]
    train = {tuple(lines[i].split(",")[:2]) for i in mi5fold(len(lines), seed=0, n_folds=2)[0][0]}
    assert set(seen[0]) == train and len(seen[0]) == 6  # only the fold's training pairs, no valid/test pair
    pre = json.loads(first.stdout)["pretraining"]
    assert (pre["pair_set"], pre["transductive"], pre["epochs"], pre["pairs_per_fold"], pre["reused"]) == \
        ("train-split", False, 1, [6], [False])
    metrics = json.loads((Path(json.loads(first.stdout)["run_dir"]) / "metrics.json").read_text())
    assert metrics["pretraining"]["folds"][0]["fold"] == 0
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "reusing pretrained backbone" in second.stderr and "pretraining cigin" not in second.stderr
    assert json.loads(second.stdout)["pretraining"]["reused"] == [True]


def test_pretrain_train_split_is_what_run_reuses_and_records_the_pair_set(tmp_path):
    from zoo_core.weights import read_metadata

    csv = _tiny_csv(tmp_path)
    r = runner.invoke(app, ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "train-split",
                            "--dataset", str(csv), "--folds", "2", "--fold", "1", "--epochs", "1",
                            "--output", str(tmp_path / "pre"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert (record["pair_set"], record["transductive"], record["pairs"], record["fold"]) == ("train-split", False, 6, 1)
    meta = read_metadata(record["weights"])[1]
    assert meta["pair_set"]["pair_set"] == "train-split" and meta["epochs"] == 1 and meta["pretrain_pairs"] == 6
    r = runner.invoke(app, ["run", "--encoder", "cigin", "--pretrainer", "3dmrl", "--dataset", str(csv), "--folds", "2",
                            "--repeats", "1", "--only-fold", "1", "--epochs", "1", "--pretrain-epochs", "1",
                            "--output", str(tmp_path / "runs"), "--json"])
    assert r.exit_code == 0, r.output
    assert "reusing pretrained backbone" in r.stderr


def test_list_pair_sets_and_pretrain_needs_a_dataset_for_train_split(tmp_path):
    r = runner.invoke(app, ["list", "pair-sets"])
    assert r.exit_code == 0 and "combisolv-product" in r.stdout and "[transductive]" in r.stdout
    r = runner.invoke(app, ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "train-split"])
    assert r.exit_code == 1 and "needs --dataset" in r.stderr


def test_pretrain_command_weights_load_into_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    r = runner.invoke(app, ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "freesolv",
                            "--pairs-ratio", "0.02", "--epochs", "1", "--output", str(tmp_path / "pre"), "-q"])
    assert r.exit_code == 0, r.output
    weights = Path(r.stdout.strip().splitlines()[-1])
    assert weights.name == "backbone.safetensors" and weights.exists()
    r = runner.invoke(app, ["run", "--encoder", "cigin", "--dataset", "freesolv", "--pretrained-weights", str(weights),
                            "--folds", "5", "--repeats", "1", "--only-fold", "0", "--epochs", "1",
                            "--output", str(tmp_path / "runs"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["rmse"]["mean"] > 0
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--dataset", "freesolv", "--pretrained-weights", str(weights),
                            "--folds", "5", "--repeats", "1", "--only-fold", "0", "--epochs", "1",
                            "--output", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 1 and "pretrained for cigin(mpnn)" in r.stderr


def test_interrupted_zoo_pretrain_resumes_and_a_longer_run_extends(tmp_path, monkeypatch):
    """Stopped after epoch 1 of 2, `zoo pretrain` says where it stopped; the same command resumes at epoch 2 (not
    epoch 1). The checkpoint stays, so a 3-epoch run of the same settings only trains epoch 3, and its backbone
    equals a 3-epoch run from scratch."""
    from safetensors.torch import load_file

    from zoo_core.train import pretraining

    class Stop(Exception):
        pass

    real_line = pretraining._epoch_line

    def stop_at_first_epoch(record, epochs):
        if record["epoch"] == 1:
            raise Stop
        return real_line(record, epochs)

    csv = _tiny_csv(tmp_path)

    def args(epochs, out):
        return ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "train-split", "--dataset",
                str(csv), "--folds", "2", "--epochs", str(epochs), "--output", str(tmp_path / out), "--json"]

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZOO_DEBUG", "1")  # the interruption escapes the CLI as it would with its traceback
    monkeypatch.setattr(pretraining, "_epoch_line", stop_at_first_epoch)
    first = runner.invoke(app, args(2, "a"))
    assert isinstance(first.exception, Stop)
    assert "pretraining stopped after epoch 1/2; the same command resumes it" in first.stderr
    checkpoints = list((tmp_path / "home" / "pretrained").glob(".*.checkpoint.safetensors"))
    assert len(checkpoints) == 1
    monkeypatch.setattr(pretraining, "_epoch_line", real_line)
    second = runner.invoke(app, args(2, "a"))
    assert second.exit_code == 0, second.output
    assert "continuing pretraining after epoch 1/2" in second.stderr
    assert "pretraining epoch 2/2" in second.stderr and "pretraining epoch 1/2" not in second.stderr
    assert json.loads(second.stdout)["reused"] is False and checkpoints[0].exists()
    longer = runner.invoke(app, args(3, "b"))
    assert longer.exit_code == 0, longer.output
    assert "continuing pretraining after epoch 2/3" in longer.stderr
    assert "pretraining epoch 3/3" in longer.stderr and "pretraining epoch 2/3" not in longer.stderr
    extended = load_file(json.loads(longer.stdout)["weights"])
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "fresh-home"))
    scratch = runner.invoke(app, args(3, "c"))
    assert scratch.exit_code == 0 and "continuing" not in scratch.stderr
    fresh = load_file(json.loads(scratch.stdout)["weights"])
    assert extended.keys() == fresh.keys()
    assert all(torch.allclose(extended[k], fresh[k], atol=1e-6) for k in fresh)


def test_compiled_pretraining_continues_the_same_run_in_the_same_cache(tmp_path, monkeypatch):
    """`--compile` is an execution setting: it trains to the eager backbone (up to float rounding) under the same
    cache key and checkpoint, so an eager run's checkpoint is continued by a compiled one."""
    from safetensors.torch import load_file

    csv = _tiny_csv(tmp_path)

    def pretrain(home, epochs, *extra):
        monkeypatch.setenv("ZOO_HOME", str(tmp_path / home))
        result = runner.invoke(app, ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs",
                                     "train-split", "--dataset", str(csv), "--folds", "2", "--epochs", str(epochs),
                                     "--output", str(tmp_path / home / "runs"), "--json", *extra])
        assert result.exit_code == 0, result.output
        return result, json.loads(result.stdout)

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    _, eager = pretrain("eager", 2)
    _, compiled = pretrain("compiled", 2, "--compile")
    assert Path(eager["cache"]).name == Path(compiled["cache"]).name
    a, b = load_file(eager["weights"]), load_file(compiled["weights"])
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)
    longer, _ = pretrain("eager", 3, "--compile")
    assert "continuing pretraining after epoch 2/3" in longer.stderr

    from zoo_core.train import pretraining

    asked = []
    real = pretraining.pretrained_backbone
    monkeypatch.setattr(pretraining, "pretrained_backbone", lambda *a, **k: asked.append(k["compile"]) or real(*a, **k))
    run_args = ["run", "--encoder", "cigin", "--pretrainer", "3dmrl", "--dataset", str(csv), "--folds", "2",
                "--repeats", "1", "--only-fold", "0", "--epochs", "1", "--pretrain-epochs", "1", "--output",
                str(tmp_path / "runs")]
    for extra in ([], ["--compile"]):
        assert runner.invoke(app, run_args + extra).exit_code == 0
    assert asked == [False, True]  # `zoo run --compile` reaches the pretrainer


def _publish(tmp_path: Path, monkeypatch, backbone: Path, name: str) -> Path:
    """Publish ``backbone`` as registry weights ``name`` (a fragment beside the zoo's registry, as a plugin's
    would be); returns the published copy."""
    import hashlib
    import shutil

    import yaml

    from zoo_core import registry as R
    from zoo_core.plugins import get_catalog
    from zoo_core.weights import read_metadata

    spec, meta = read_metadata(backbone)
    published = tmp_path / "published" / f"{name}.safetensors"
    published.parent.mkdir(exist_ok=True)
    shutil.copy(backbone, published)
    entry = {"encoder": spec["encoder"], "pair_model": spec["pair_model"], "pretrainer": "3dmrl",
             "url": str(published), "sha256": hashlib.sha256(published.read_bytes()).hexdigest(),
             "size_bytes": published.stat().st_size, "featurizer": spec["featurizer"],
             "pretraining": {"cache_key": meta["cache_key"], "epochs": meta["epochs"]}}
    fragment = tmp_path / "published" / "registry.yaml"
    fragment.write_text(yaml.safe_dump({"weights": {name: entry}}))
    extra = list(get_catalog().registry_files) + [(str(fragment), "test")]
    monkeypatch.setattr(R, "_REGISTRY", R.load_registry(extra, strict_fragments=True))
    return published


def test_a_published_backbone_fills_the_cache_instead_of_pretraining(tmp_path, monkeypatch):
    """Settings whose backbone is published (registry `pretraining.cache_key`) take the verified file instead of
    pretraining again; the result is the same backbone; ZOO_NO_PUBLISHED_BACKBONES=1 pretrains; a tampered file
    is refused."""
    from safetensors.torch import load_file

    csv = _tiny_csv(tmp_path)

    def pretrain(home):
        monkeypatch.setenv("ZOO_HOME", str(tmp_path / home))
        return runner.invoke(app, ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "train-split",
                                   "--dataset", str(csv), "--folds", "2", "--epochs", "1",
                                   "--output", str(tmp_path / home / "runs"), "--json"])

    made = pretrain("home-a")
    assert made.exit_code == 0, made.output
    assert "pretraining cigin" in made.stderr
    backbone = Path(json.loads(made.stdout)["weights"])
    published = _publish(tmp_path, monkeypatch, backbone, "cigin.tiny-3dmrl")
    took = pretrain("home-b")
    assert took.exit_code == 0, took.output
    assert "published as weights 'cigin.tiny-3dmrl' (sha256 verified)" in took.stderr
    assert "pretraining cigin" not in took.stderr and json.loads(took.stdout)["reused"] is True
    assert load_file(json.loads(took.stdout)["weights"]).keys() == load_file(backbone).keys()
    assert Path(json.loads(took.stdout)["weights"]).read_bytes() == backbone.read_bytes()
    monkeypatch.setenv("ZOO_NO_PUBLISHED_BACKBONES", "1")
    own = pretrain("home-c")
    assert own.exit_code == 0 and "pretraining cigin" in own.stderr and "published as" not in own.stderr
    monkeypatch.delenv("ZOO_NO_PUBLISHED_BACKBONES")
    published.write_bytes(published.read_bytes()[:-1] + b"\0")
    bad = pretrain("home-d")
    said = str(bad.exception or "") + bad.output
    assert bad.exit_code != 0 and "sha256 mismatch" in said and "ZOO_NO_PUBLISHED_BACKBONES=1 pretrains" in said


def test_a_backbone_fine_tunes_by_weights_name_and_is_refused_by_predict(tmp_path, monkeypatch):
    csv = _tiny_csv(tmp_path)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    r = runner.invoke(app, ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "train-split",
                            "--dataset", str(csv), "--folds", "2", "--epochs", "1", "--output", str(tmp_path / "pre"),
                            "--json", "-q"])
    assert r.exit_code == 0, r.output
    published = _publish(tmp_path, monkeypatch, Path(json.loads(r.stdout)["weights"]), "cigin.tiny-3dmrl")
    r = runner.invoke(app, ["run", "--encoder", "cigin", "--dataset", str(csv), "--pretrained-weights",
                            "cigin.tiny-3dmrl", "--folds", "2", "--repeats", "1", "--only-fold", "0", "--epochs", "1",
                            "--output", str(tmp_path / "runs"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    pre = json.loads(r.stdout)["pretraining"]
    assert pre["pretrained_weights"] == "cigin.tiny-3dmrl" and pre["pretrainer"] == "3dmrl"
    assert pre["sha256"] == __import__("hashlib").sha256(published.read_bytes()).hexdigest()
    for source in ("cigin.tiny-3dmrl", str(published)):
        p = runner.invoke(app, ["predict", "--weights", source, "--input", str(csv), "--output",
                                str(tmp_path / "p.csv")])
        assert p.exit_code == 1 and "a pretrained backbone" in p.stderr and "fine-tune it first" in p.stderr
    r = runner.invoke(app, ["run", "--encoder", "cigin", "--dataset", str(csv), "--pretrained-weights",
                            str(tmp_path / "missing.safetensors"), "--folds", "2", "--repeats", "1", "--only-fold",
                            "0", "--epochs", "1", "--output", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 1 and "missing.safetensors: no such weight file" in r.stderr


def test_a_cached_backbone_is_reused_while_a_longer_pretraining_holds_the_lock(tmp_path, monkeypatch):
    """The lock of a run key is held for the whole of a pretraining; a run that needs a backbone of the same
    settings with fewer epochs, already in the cache, reads it without waiting (a bench fine-tuning from the
    40-epoch backbone while the 100-epoch one pretrains)."""
    import threading

    from zoo_core.train.pretraining import _exclusive

    csv = _tiny_csv(tmp_path)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    args = ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "train-split", "--dataset",
            str(csv), "--folds", "2", "--epochs", "1", "--output", str(tmp_path / "runs"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    (lock,) = (tmp_path / "home" / "pretrained").glob(".*.lock")
    results = []
    with _exclusive(lock):  # what `zoo pretrain ... --epochs 100` of the same settings holds while it runs
        worker = threading.Thread(target=lambda: results.append(runner.invoke(app, args)), daemon=True)
        worker.start()
        worker.join(timeout=60)
        waited = worker.is_alive()
    worker.join()
    assert not waited, "a run needing a cached backbone waited on the lock of a pretraining in progress"
    assert results[0].exit_code == 0, results[0].output
    assert "reusing pretrained backbone" in results[0].stderr
    # each run copies the backbone into its own run dir (named by the second it started): compare the bytes
    reused, made = (Path(json.loads(r.stdout)["weights"]) for r in (results[0], first))
    assert reused.read_bytes() == made.read_bytes()
