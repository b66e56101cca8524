"""Full-data training (issue 37, "models people want"): ``zoo run --full-data --epochs N`` trains on every pair for
exactly N epochs, writes weights ``zoo predict`` loads and a metrics.json without test metrics, and refuses what
makes no sense with it in one line, exit status 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoo_cli.main import app

runner = CliRunner()


def test_full_data_run_trains_every_freesolv_pair_for_the_epochs_given(tmp_path, monkeypatch):
    from zoo_core.train import trainer
    from zoo_core.weights import read_metadata

    epoch_rows = []
    real_epoch = trainer.train_epoch

    def counting_epoch(model, opt, dataset, rows, *args, **kwargs):
        epoch_rows.append(len(rows))
        return real_epoch(model, opt, dataset, rows, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_epoch", counting_epoch)
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--full-data", "--epochs", "2", "--output",
                            str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert epoch_rows == [560, 560]  # the embedded FreeSolv default: every pair, exactly two epochs
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "metrics.json", "model.safetensors"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["full_data"] is True and metrics["held_out_test"] is None and "no held-out" in metrics["note"]
    assert (metrics["n_pairs"], metrics["epochs"]) == (560, 2)
    assert not {"summary", "folds", "test", "valid"} & set(metrics) and "not a test error" in metrics[
        "training_fit_note"]
    _, meta = read_metadata(run_dir / "model.safetensors")
    assert meta["full_data"]["pairs"] == 560 and meta["full_data"]["epochs"] == 2 and "test_metrics" not in meta

    pairs = tmp_path / "mine.csv"
    pairs.write_text("solute,solvent\nCCO,O\nc1ccccc1,O\n")
    r = runner.invoke(app, ["predict", "--run", str(run_dir), "--input", str(pairs), "--output",
                            str(tmp_path / "out.csv")])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "out.csv", newline="")))
    assert len(rows) == 2 and all(float(row["prediction"]) == float(row["prediction"]) for row in rows)
    assert "kcal/mol" in r.stdout  # freesolv's units, named by zoo predict
    r = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert r.exit_code == 2 and "no checkpoints" in r.stderr, r.output


@pytest.mark.parametrize("extra, says", [
    (["--epochs", "2", "--only-fold", "0"], "drop --only-fold"),
    (["--epochs", "2", "--folds", "3"], "drop --folds"),
    (["--epochs", "2", "--repeats", "1"], "drop --repeats"),
    (["--epochs", "2", "--patience", "5"], "drop --patience"),
    (["--epochs", "2", "--split", "random"], "drop --split"),
    ([], "needs --epochs"),
    (["--epochs", "0"], "needs --epochs"),
    (["--epochs", "2", "--workers", "2"], "drop --workers"),
    (["--epochs", "2", "--nproc", "2"], "drop --nproc"),
])
def test_full_data_refuses_what_makes_no_sense_in_one_line(tmp_path, extra, says):
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--full-data", *extra, "--output", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("zoo: error: --full-data") and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "runs").exists()


def test_a_config_file_may_ask_for_full_data_but_not_for_folds(tmp_path):
    from zoo_core.errors import UsageError
    from zoo_core.train.config import resolve_config

    config = tmp_path / "full.yaml"
    config.write_text("full_data: true\nepochs: 3\n")
    cfg = resolve_config({"encoder": "mpnn"}, config)
    assert cfg["full_data"] and cfg["epochs"] == 3 and cfg["folds"] is None and cfg["patience"] is None
    config.write_text("full_data: true\nepochs: 3\nfolds: 5\n")
    with pytest.raises(UsageError, match="drop --folds"):
        resolve_config({"encoder": "mpnn"}, config)
    assert not resolve_config({"encoder": "mpnn"})["full_data"]  # normal runs are untouched


def test_a_full_data_run_pretrains_on_every_pair(tmp_path):
    """With a pretrainer, the train-split pair set of a full-data run is every pair of the dataset."""
    rows = ["CCO,O,-5.0", "CCCO,O,-4.8", "CCCCO,O,-4.7", "c1ccccc1,O,-0.9", "CC(=O)C,O,-3.8", "CCN,O,-4.5",
            "CCCl,O,-0.3", "CC#N,O,-3.9", "OCCO,O,-9.3", "CCOC,O,-1.5", "CCCC,O,2.1", "C,O,2.0"]
    data = tmp_path / "tiny.csv"
    data.write_text("solute,solvent,dG\n" + "\n".join(rows) + "\n")
    r = runner.invoke(app, ["run", "--encoder", "cigin", "--pretrainer", "3dmrl", "--dataset", str(data),
                            "--full-data", "--epochs", "1", "--pretrain-epochs", "1", "--output",
                            str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((Path(json.loads(r.stdout)["run_dir"]) / "metrics.json").read_text())
    pre = metrics["pretraining"]
    assert (pre["pair_set"], pre["pairs"], pre["transductive"], metrics["n_pairs"]) == ("train-split", 12, False, 12)


def test_a_fold_records_its_plateau_drops_and_full_data_replays_them(tmp_path, monkeypatch):
    """A fold whose plateau drops the rate records [epoch, lr] (fold record and run metrics); ``--lr-steps`` makes
    the full-data run train each epoch at the rate the fold had then."""
    from zoo_core.train import full_data, trainer

    config = tmp_path / "drops.yaml"
    config.write_text("plateau_patience: 0\nplateau_factor: 0.5\n")  # every epoch without a new best halves the lr
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--config", str(config), "--only-fold", "0", "--repeats",
                            "1", "--epochs", "6", "--patience", "6", "--lr", "0.3", "--output", str(tmp_path / "runs"),
                            "--json", "--quiet"])  # a rate this high cannot improve every epoch: the plateau drops it
    assert r.exit_code == 0, r.output
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    fold = json.loads((run_dir / "metrics.json").read_text())["folds"][0]
    record = json.loads(next(run_dir.glob("folds/*.json")).read_text())
    steps = fold["lr_steps"]
    assert steps and record["lr_steps"] == steps
    assert all(later[0] > earlier[0] and later[1] < earlier[1] for earlier, later in zip(steps, steps[1:]))
    assert all(2 <= e <= 6 and lr < 0.3 for e, lr in steps)

    rates = []
    real_epoch = trainer.train_epoch

    def rate_seen(model, opt, *args, **kwargs):
        rates.append(opt.lr)
        return real_epoch(model, opt, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_epoch", rate_seen)
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--full-data", "--epochs", "4", "--lr-steps", "2:5e-4,4:1e-4",
                            "--output", str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert rates == [1e-3, 5e-4, 5e-4, 1e-4]
    assert full_data.lr_at(3, 1e-3, [[2, 5e-4], [4, 1e-4]]) == 5e-4


@pytest.mark.parametrize("extra", [["--full-data", "--epochs", "4", "--lr-steps", "5:1e-4"],
                                   ["--full-data", "--epochs", "4", "--lr-steps", "3:1e-4,2:1e-5"],
                                   ["--full-data", "--epochs", "4", "--lr-steps", "two:1e-4"],
                                   ["--epochs", "4", "--lr-steps", "2:1e-4"]])
def test_bad_lr_steps_are_one_line_usage_errors(tmp_path, extra):
    r = runner.invoke(app, ["run", "--encoder", "mpnn", *extra, "--output", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "--lr-steps" in r.stderr and r.stderr.count("\n") == 1, r.output
    assert not (tmp_path / "runs").exists()
