"""The peer bench (bench/peer_bench.py) without chemprop: a stand-in executable writes chemprop's output files
(test_predictions.csv, lightning's metrics.csv), so the fold runner, the scoring on exactly the fold's test rows, the
record, its pairing with zoo records on shared folds and its BENCHMARKS.md section are checked in CI."""

import argparse
import csv
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from bench import peer_bench
from bench.render import render_markdown
from zoo_core.data.export import export_folds

FAKE_CHEMPROP = r'''#!{python}
"""chemprop's stand-in: --version, and train writing each test row's target + 0.5 as its prediction."""
import csv, json, sys
from pathlib import Path
argv = sys.argv[1:]
if argv == ["--version"]:
    print("chemprop 9.9.9")
    sys.exit(0)
def values(flag):
    i = argv.index(flag) + 1
    out = []
    while i < len(argv) and not argv[i].startswith("--"):
        out.append(argv[i]); i += 1
    return out
roles, targets = values("--smiles-columns"), values("--target-columns")
rows = list(csv.DictReader(open(values("--data-path")[0])))
test = json.load(open(values("--splits-file")[0]))[0]["test"]
model = Path(values("--save-dir")[0]) / "model_0"
(model / "trainer_logs" / "version_0").mkdir(parents=True)
with open(model / "test_predictions.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(roles + targets)
    for i in test:
        w.writerow([rows[i][r] for r in roles] + [float(rows[i][t]) + 0.5 for t in targets])
epochs = int(values("--epochs")[0]) if "--epochs" in argv else 50
losses = [1.0, 0.5, 0.7][:epochs]
(model / "trainer_logs" / "version_0" / "metrics.csv").write_text(
    "epoch,step,train_loss_epoch,val/mse,val_loss\n" + "".join(f"{e},1,,{v},{v}\n{e},1,0.9,,\n"
                                                             for e, v in enumerate(losses)))
'''


@pytest.fixture
def fake_chemprop(tmp_path) -> str:
    path = tmp_path / "chemprop"
    path.write_text(FAKE_CHEMPROP.replace("{python}", sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _zoo_record(dataset: str, rmse_by_fold: dict, **extra) -> dict:
    return {"model": "mpnn", "dataset": dataset, "mean": 1.0, "fold_records": [
        {"repeat": r, "fold": k, "test": {"rmse": v}, **extra} for (r, k), v in rmse_by_fold.items()]}


def test_a_fold_is_scored_by_the_zoo_on_exactly_its_test_rows(tmp_path, fake_chemprop):
    manifest = export_folds({"dataset": "freesolv", "folds": 5, "repeats": 1, "seed": 0}, tmp_path / "export-freesolv")
    options = json.dumps({"chemprop": fake_chemprop, "epochs": 3})
    result = peer_bench.run_fold(("freesolv", 0, 2, options, str(tmp_path)))
    assert result["test"]["rmse"] == pytest.approx(0.5) and result["test"]["mae"] == pytest.approx(0.5)
    assert (result["seed"], result["best_epoch"], result["epochs_run"]) == (2, 2, 3)
    folds = json.loads((tmp_path / "export-freesolv" / "splits-r0.json").read_text())
    assert result["test_rows"] == len(folds[2]["test"])
    cmd = peer_bench.chemprop_command(json.loads(options), manifest, Path("E"), Path("s.json"), Path("o"), 2)
    assert cmd[cmd.index("--smiles-columns") + 1:cmd.index("--smiles-columns") + 3] == ["solute", "solvent"]
    assert ["--epochs", "3"] == cmd[-2:] and "--patience" not in cmd and "--splits-file" in cmd


def test_predictions_of_other_rows_or_in_another_order_are_refused(tmp_path, fake_chemprop):
    export_folds({"dataset": "freesolv", "folds": 5, "repeats": 1, "seed": 0}, tmp_path / "export-freesolv")
    options = json.dumps({"chemprop": fake_chemprop})
    result = peer_bench.run_fold(("freesolv", 0, 0, options, str(tmp_path)))
    predictions = Path(result["run_dir"]) / "out" / "model_0" / "test_predictions.csv"
    lines = predictions.read_text().splitlines()
    predictions.write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")
    export = tmp_path / "export-freesolv"
    manifest = json.loads((export / "manifest.json").read_text())
    test = json.loads((export / "splits-r0.json").read_text())[0]["test"]
    with pytest.raises(RuntimeError, match="first difference at test row 0"):
        peer_bench.score_predictions(predictions, export, test, manifest)


def test_record_pairs_with_zoo_records_on_shared_folds_only(tmp_path):
    folds = [{"repeat": 0, "fold": k, "test": {"rmse": 1.0 + 0.1 * k}, "best_epoch": 10, "seconds": 2.0}
             for k in range(3)]
    record = peer_bench.peer_record("freesolv", folds, {"peer_version": "2.3.1", "default_budget": True})
    assert record["mean"] == pytest.approx(1.1) and record["folds_run"] == 3 and record["repeats"] == 1
    results = tmp_path / "results"
    results.mkdir()
    (results / "zoo.json").write_text(json.dumps([
        _zoo_record("freesolv", {(0, 0): 1.2, (0, 1): 1.2, (0, 2): 1.0, (1, 0): 9.0}),
        _zoo_record("compsol", {(0, 0): 0.3, (0, 1): 0.3}),                      # another dataset
        _zoo_record("freesolv", {(0, 0): 1.0, (0, 1): 1.0}, arm="none")]))      # a pretraining arm
    (results / "one-fold.json").write_text(json.dumps([_zoo_record("freesolv", {(0, 0): 1.0})]))
    (results / "peer-freesolv.json").write_text(json.dumps([dict(record, kind="peer")]))
    pairs = peer_bench.zoo_pairings(record, results)
    assert len(pairs) == 1
    p = pairs[0]
    assert (p["zoo_record"], p["folds"], p["peer_better"]) == ("zoo.json", 3, 2)
    assert p["mean_diff"] == pytest.approx((-0.2 - 0.1 + 0.2) / 3) and p["mean_zoo"] == pytest.approx(3.4 / 3)


def test_peer_command_writes_a_record_and_a_benchmarks_section(tmp_path, monkeypatch, fake_chemprop):
    zoo_results, out = tmp_path / "zoo-results", tmp_path / "smoke"
    zoo_results.mkdir()
    (zoo_results / "freesolv.json").write_text(json.dumps([_zoo_record("freesolv", {(0, 0): 1.0, (0, 1): 0.2})]))
    monkeypatch.setattr(peer_bench, "RESULTS", zoo_results)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp")
    parser = argparse.ArgumentParser()
    peer_bench.add_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["peer", "--datasets", "freesolv", "--repeats", "1", "--only-fold", "0", "--only-fold",
                              "1", "--epochs", "3", "--chemprop", fake_chemprop, "--results", str(out)])
    peer_bench.peer(args)
    record, = json.loads((out / "peer-freesolv.json").read_text())
    assert record["kind"] == "peer" and record["peer_version"] == "9.9.9" and not record["default_budget"]
    assert record["mean"] == pytest.approx(0.5) and record["folds_run"] == 2 and record["export"]["rows"] == 560
    assert record["command"] == ("python bench/run_bench.py peer --datasets freesolv --repeats 1 --only-fold 0 "
                                 "--only-fold 1 --epochs 3")
    assert record["chemprop_command"].startswith("chemprop train --data-path EXPORT/data.csv")
    assert fake_chemprop not in json.dumps(record)
    assert record["paired"][0]["mean_diff"] == pytest.approx(0.5 - 0.6) and record["paired"][0]["peer_better"] == 1
    text = render_markdown(out)
    assert "## Peer: chemprop v2 on the zoo's folds" in text and "**not the default budget:** --epochs 3" in text
    assert "| chemprop 9.9.9 | freesolv | 0.500 (1 repeat) | 2 of 5 × 1 |" in text


def test_a_missing_chemprop_stops_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match="pip install torch==2.13.0 chemprop"):
        peer_bench.chemprop_version(str(tmp_path / "no-chemprop"))
