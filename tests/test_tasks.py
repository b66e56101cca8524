"""Beyond pair regression (issue 34): multi-task labels, per-task metrics, target scaling, selection by a
validation metric, the DeepChem scaffold split, molecule datasets end to end through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo_core.data.splits import make_splits
from zoo_core.train import metrics as M
from zoo_core.train.trainer import TrainConfig, pos_weights, task_loss_fn, train_fold, validation_score

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "moleculenet" / "chemprop_tox21.csv").is_file(),
                                  reason=f"shared data copies not found in {SHARED}")


# --- metrics ---------------------------------------------------------------------------------------------

def test_auroc_with_ties_equals_the_hand_computed_value():
    y = np.array([1, 0, 1, 0, 1], dtype=float)
    s = np.array([0.8, 0.8, 0.3, 0.1, 0.8])
    # positives {0.8, 0.3, 0.8} x negatives {0.8, 0.1}: 0.5 + 1 + 0 + 1 + 0.5 + 1 = 4 of 6 pairs
    assert M.auroc(y, s) == pytest.approx(4 / 6)
    out = M.compute("classification", np.stack([y, 1 - y], 1), np.stack([s, -s], 1), ["a", "b"])
    assert out["per_task"]["a"]["auroc"] == pytest.approx(4 / 6)
    assert out["per_task"]["b"]["auroc"] == pytest.approx(4 / 6)      # labels and scores both flipped
    assert out["auroc"] == pytest.approx(4 / 6)


def test_a_nan_label_is_never_scored():
    y = np.array([[1, 0], [0, np.nan], [1, 1], [np.nan, 0], [0, 1]], dtype=float)
    p = np.array([[2.0, -1.0], [-1.0, 50.0], [1.0, 3.0], [-50.0, -2.0], [0.5, 0.2]])
    scored = M.compute("classification", y, p, ["a", "b"])
    for t, name in enumerate("ab"):
        keep = ~np.isnan(y[:, t])
        alone = M.compute("classification", y[keep, t], p[keep, t])
        assert scored["per_task"][name] == pytest.approx({k: alone[k] for k in M.CLASSIFICATION})
    p_garbage = p.copy()
    p_garbage[np.isnan(y)] = np.array([-1e6, 1e6])       # predictions on unlabelled cells change nothing
    assert M.compute("classification", y, p_garbage, ["a", "b"]) == scored
    reg = M.compute("regression", np.array([[1.0], [np.nan], [3.0]]), np.array([[1.0], [99.0], [5.0]]))
    assert reg["rmse"] == pytest.approx(np.sqrt(2.0)) and reg["mae"] == pytest.approx(1.0)


def test_a_nan_label_never_reaches_the_loss():
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    pred = torch.tensor([[0.3, 0.7], [-0.2, 0.1]], requires_grad=True)
    loss = task_loss_fn("classification")(pred, y)
    labelled = torch.nn.functional.binary_cross_entropy_with_logits(pred[[0, 1, 1], [0, 0, 1]], y[[0, 1, 1], [0, 0, 1]])
    assert loss.item() == pytest.approx(labelled.item())
    loss.backward()
    assert pred.grad[0, 1] == 0 and torch.isfinite(pred.grad).all()
    mse = task_loss_fn("regression")(pred.detach(), torch.tensor([[0.3, float("nan")], [0.0, 0.0]]))
    assert mse.item() == pytest.approx((0.2 ** 2 + 0.1 ** 2) / 3)


def test_tasks_with_one_class_in_a_split_are_skipped_and_named():
    y = np.array([[1, 0, np.nan], [0, 0, np.nan], [1, 0, 1]], dtype=float)
    p = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    out = M.compute("classification", y, p, ["both", "only_negatives", "one_label"])
    assert out["skipped_tasks"] == ["only_negatives", "one_label"]
    assert list(out["per_task"]) == ["both"] and out["auroc"] == 1.0


def test_validation_score_follows_the_metric_direction():
    y = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    good, bad = torch.tensor([[2.0], [-2.0], [1.0], [-1.0]]), torch.tensor([[-2.0], [2.0], [-1.0], [1.0]])
    by_auroc = validation_score("auroc", "classification", task_loss_fn("classification"), None, ["t"])
    assert by_auroc(good, y) == 0.0 and by_auroc(bad, y) == 1.0        # minimised: 1 - AUROC
    by_loss = validation_score("loss", "classification", task_loss_fn("classification"), None, ["t"])
    assert by_loss(good, y) < by_loss(bad, y)
    assert M.direction("auroc") == "max" and M.direction("rmse") == "min" and M.direction("loss") == "min"


def test_balanced_pos_weight_counts_labelled_training_rows():
    y = np.array([[1, 0], [0, np.nan], [0, 1], [0, 1]], dtype=float)
    assert pos_weights("balanced", y).tolist() == [3.0, 0.5]
    assert pos_weights(2.0, y).tolist() == [2.0, 2.0] and pos_weights(None, y) is None


# --- the deterministic scaffold split ------------------------------------------------------------------------

def _parsable(name: str) -> list[str]:
    from rdkit import Chem, RDLogger

    from zoo_core.data.datasets import load_table

    RDLogger.DisableLog("rdApp.*")
    return [s for s in load_table(name).smiles if Chem.MolFromSmiles(s) is not None]


@needs_shared
@pytest.mark.parametrize("name,sizes", [("tox21", (6258, 782, 783)), ("clintox", (1182, 148, 148))])
def test_deepchem_scaffold_split_gives_the_same_sets_every_time(name, sizes):
    smiles = _parsable(name)
    first = make_splits("scaffold", len(smiles), 0, smiles)
    again = make_splits("scaffold", len(smiles), 7, smiles)            # the seed does not matter
    assert tuple(len(part) for part in first[0]) == sizes
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0]))
    from zoo_core.data.splits import scaffolds

    groups = np.asarray(scaffolds(smiles), dtype=object)
    tr, va, te = first[0]
    assert not set(groups[tr]) & set(groups[te]) and not set(groups[va]) & set(groups[te])


def test_scaffold_split_puts_the_largest_groups_first():
    smiles = ["c1ccccc1C"] * 8 + ["C1CCCCC1O"] + ["CCO"] * 1   # benzene scaffold 8, cyclohexane 1, acyclic 1
    tr, va, te = make_splits("scaffold", len(smiles), 0, smiles)[0]
    assert tr.tolist() == list(range(8)) and va.tolist() == [9] and te.tolist() == [8]


# --- target scaling ------------------------------------------------------------------------------------------

def _toy_regression(offset: float, scale: float, n: int = 48):
    from zoo_core.data.molecules import MolDataset
    from zoo_core.data.table import MolTable

    smiles = ["C" * k + "O" * j for k in range(1, 9) for j in range(0, 6)][:n]
    y = np.array([[offset + scale * (s.count("C") - 2 * s.count("O"))] for s in smiles], dtype=float)
    table = MolTable("toy", ("molecule",), smiles, y, np.arange(2, n + 2), targets=("value",))
    return MolDataset.from_table(table, "mrl56", False, use_cache=False, progress=False)


def _fit(dataset, scale: bool, epochs: int, lr: float = 3e-3):
    from zoo_core.models import build_model, model_spec

    torch.manual_seed(0)
    spec = model_spec("mpnn", roles=1, scale_targets=scale, tasks=["value"])
    model = build_model(spec)
    rows = np.arange(len(dataset))
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=8, patience=epochs)
    result = train_fold(model, dataset, rows[::2], rows[1::4], rows[3::4], cfg, "regression", seed=0)
    return model, spec, result


def test_scaled_and_unscaled_training_predict_in_the_same_unit(tmp_path):
    from zoo_core.nn.scaler import scaler_of
    from zoo_core.weights import load_model, save_model

    data = _toy_regression(offset=2.0, scale=1.0)
    scaled, spec, r_scaled = _fit(data, True, epochs=60)
    plain, _, r_plain = _fit(data, False, epochs=60)
    y_test = data.y.numpy()[r_scaled.test_rows, 0]
    for result in (r_scaled, r_plain):                    # both in the dataset's unit, both close to the labels
        assert result.test["rmse"] < 0.5 * y_test.std()
    assert np.abs(r_scaled.test_pred - r_plain.test_pred).mean() < 0.5 * y_test.std()
    train_y = data.y.numpy()[::2, 0]
    fitted = scaler_of(scaled)
    assert fitted.mean.item() == pytest.approx(train_y.mean(), rel=1e-5)
    assert fitted.std.item() == pytest.approx(train_y.std(), rel=1e-5)
    scaled.train()
    raw = scaled(data.batch(np.arange(4))).pred           # training mode: standardised outputs
    scaled.eval()
    with torch.no_grad():
        unit = scaled(data.batch(np.arange(4))).pred
    assert torch.allclose(unit, raw.detach() * fitted.std + fitted.mean, atol=1e-5)
    path = save_model(tmp_path / "m.safetensors", scaled, spec, {})
    loaded, spec2, _ = load_model(path)                   # the scaler travels in the weights
    with torch.no_grad():
        assert torch.allclose(loaded(data.batch(np.arange(4))).pred, unit, atol=1e-5)
    assert spec2["scale_targets"] is True


def test_targets_in_the_hundreds_train_only_with_scaling():
    data = _toy_regression(offset=500.0, scale=30.0)
    _, _, scaled = _fit(data, True, epochs=8)
    _, _, plain = _fit(data, False, epochs=8)
    y_test = data.y.numpy()[scaled.test_rows, 0]
    assert scaled.test["rmse"] < y_test.std()             # better than predicting the mean, in 8 epochs
    assert plain.test["rmse"] > 2 * y_test.std()          # raw targets: still far from the labels after 8 epochs


# --- molecule datasets end to end ----------------------------------------------------------------------------

def test_own_molecule_csv_with_several_targets(tmp_path):
    from typer.testing import CliRunner

    from zoo_cli.main import app

    path = tmp_path / "mols.csv"
    smiles = ["C" * k + "O" * j + "N" * i for k in range(1, 6) for j in range(3) for i in range(3)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["smiles", "mass", "polar"])
        for i, s in enumerate(smiles):
            w.writerow([s, 100 + 14 * s.count("C") + 16 * s.count("O"), "" if i % 5 == 0 else s.count("O")])
    r = CliRunner().invoke(app, ["run", "--encoder", "mpnn", "--dataset", str(path), "--columns", "smiles,mass,polar",
                                 "--repeats", "1", "--only-fold", "0", "--epochs", "3", "--output", str(tmp_path),
                                 "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tasks"] == ["mass", "polar"] and metrics["scale_targets"] is True
    assert metrics["pair_model"] == "molecule" and metrics["bad_rows"] == 0
    assert set(metrics["per_task"]) == {"mass", "polar"}
    rows = list(csv.DictReader(open(run_dir / "predictions.csv")))
    assert set(rows[0]) == {"repeat", "fold", "line", "smiles", "mass", "polar", "pred_mass", "pred_polar"}
    assert any(row["polar"] == "" for row in rows)       # an unlabelled cell stays empty, the row is kept


@needs_shared
def test_tox21_scaffold_run_reports_per_task_auroc_and_predict_writes_every_task(tmp_path):
    from typer.testing import CliRunner

    from zoo_cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["run", "--encoder", "attentivefp", "--dataset", "tox21", "--split", "scaffold",
                            "--repeats", "1", "--epochs", "1", "--output", str(tmp_path), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["folds"][0]["test"]
    assert len(test["per_task"]) + len(test["skipped_tasks"]) == 12
    assert test["auroc"] == pytest.approx(np.mean([t["auroc"] for t in test["per_task"].values()]))
    assert metrics["select_by"] == "auroc" and metrics["split"] == "scaffold" and metrics["bad_rows"] == 8
    assert metrics["n_pairs"] == 7823 and len(list(csv.DictReader(open(run_dir / "predictions.csv")))) == 783
    mols = tmp_path / "molecules.csv"
    mols.write_text("smiles\nCCO\nnot_a_smiles\nc1ccccc1O\n")
    out = tmp_path / "preds.csv"
    r = runner.invoke(app, ["predict", "--run", str(run_dir), "--input", str(mols), "--output", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out)))
    assert [row["smiles"] for row in rows] == ["CCO", "not_a_smiles", "c1ccccc1O"]
    task_columns = [c for c in rows[0] if c.startswith("pred_")]
    assert len(task_columns) == 12 and rows[1]["reason"] and not rows[0]["reason"]
    assert all(0.0 < float(rows[0][c]) < 1.0 for c in task_columns)   # probabilities


def test_an_encoder_that_requires_3d_gets_positions_in_its_batches(monkeypatch):
    from zoo_core.data.table import MolTable
    from zoo_core.models import model_spec
    from zoo_core.train import run as run_module

    monkeypatch.setattr(run_module, "requires_3d", lambda spec: True)
    table = MolTable("toy", ("molecule",), ["CCO", "c1ccccc1", "[Na+]"], np.zeros((3, 1)), np.arange(2, 5))
    spec = model_spec("mpnn", roles=1)
    data = run_module.load_dataset(table, spec, explicit_h=False, progress=False)
    batch = data.batch(np.arange(3))
    pos = batch.g.ndata["pos"]
    assert pos.shape == (3 + 6 + 1, 3) and torch.isfinite(pos).all()
    ethanol = pos[:3].double()
    assert 1.3 < torch.linalg.norm(ethanol[0] - ethanol[1]).item() < 1.7     # a C-C bond in Å


def test_a_pair_pretrainer_on_a_molecule_dataset_is_refused_before_anything_runs():
    from zoo_core.errors import ZooError
    from zoo_core.train.config import resolve_config

    with pytest.raises(ZooError, match="pretrainer '3dmrl' pretrains on pairs and tox21 is a molecule dataset"):
        resolve_config({"encoder": "mpnn", "dataset": "tox21", "pretrainer": "3dmrl"})


@needs_shared
def test_own_absorption_csv_in_nm_trains_to_a_sensible_rmse_in_a_few_epochs(tmp_path):
    """The issue's user: `zoo run --encoder cigin --dataset my_pairs.csv --columns smiles,solvent,peak_nm`, targets in
    the hundreds of nm, no scaling on the user's side: after 8 epochs the test RMSE beats predicting the mean."""
    from typer.testing import CliRunner

    from zoo_cli.main import app

    rows = list(csv.reader(open(SHARED / "chromophore" / "chr_abs.csv")))[1:]
    rows = [r for r in rows if r[1] != "gas"][::20][:800]
    path = tmp_path / "my_pairs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["smiles", "solvent", "peak_nm"])
        w.writerows(rows)
    r = CliRunner().invoke(app, ["run", "--encoder", "cigin", "--dataset", str(path), "--columns",
                                 "smiles,solvent,peak_nm", "--repeats", "1", "--only-fold", "0", "--epochs", "8", "--batch-size", "64",
                                 "--output", str(tmp_path), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((Path(json.loads(r.stdout)["run_dir"]) / "metrics.json").read_text())
    assert metrics["scale_targets"] is True and metrics["pair_model"] == "cigin"
    preds = list(csv.DictReader(open(Path(json.loads(r.stdout)["run_dir"]) / "predictions.csv")))
    y = np.array([float(p["target"]) for p in preds])
    assert 300 < y.mean() < 600                                # nm
    assert metrics["folds"][0]["test"]["rmse"] < y.std()       # better than the mean, in nm, after 8 epochs


def test_ddi_entries_give_every_pair_model_the_ddi_featurizer_and_symmetry():
    from zoo_core.data.datasets import dataset_entry
    from zoo_core.data.table import PairTable
    from zoo_core.train.run import run_spec

    table = PairTable("t", ("drug_a", "drug_b"), ["CCO"], ["CCN"], np.ones(1), np.ones(1, dtype=np.int64))
    cfg = {"encoder": "cgib", "pair_model": None, "featurizer": None, "encoder_params": {}, "pair_params": {},
           "explicit_h": False}
    ddi = run_spec(cfg, dataset_entry("chchminer"), table)
    assert ddi["featurizer"]["name"] == "chemprop133" and ddi["pair_params"]["symmetric"] is True
    mine = run_spec(dict(cfg, pair_params={"symmetric": False}), dataset_entry("chchminer"), table)
    assert mine["pair_params"]["symmetric"] is False                      # the user's choice wins
    solvation = run_spec(dict(cfg, explicit_h=True), dataset_entry("freesolv"), table)
    assert solvation["featurizer"]["name"] == "mrl56" and "symmetric" not in solvation["pair_params"]
