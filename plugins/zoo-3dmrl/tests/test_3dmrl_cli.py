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
