"""Issue 37 acceptance: "a chromophore CSV with `smiles,solvent` columns predicts in nm without the user passing
anything else". The model is a CIGIN trained as `zoo run --full-data` trains (two epochs, on 24 rows of
chromophore-absorption, to stay fast), saved with the dataset in its metadata as every run and published file is."""

from __future__ import annotations

import csv
import json

import numpy as np
from typer.testing import CliRunner

from zoo_cli.main import app


def _chromophore_weights(path):
    """A CIGIN trained on the first 24 chromophore-absorption rows for 2 epochs; (file, the rows' pairs)."""
    import torch

    from zoo_core.models import build_model
    from zoo_core.train.config import dataset_entry_of, load_dataset_table, resolve_config
    from zoo_core.train.full_data import full_train_config, train_all
    from zoo_core.train.run import load_dataset, run_spec
    from zoo_core.weights import save_model

    cfg = resolve_config({"encoder": "cigin", "dataset": "chromophore-absorption", "full_data": True, "epochs": 2,
                          "batch_size": 8})
    entry = dataset_entry_of(cfg)
    table = load_dataset_table(cfg, entry)
    table = table.subset(np.arange(len(table)) < 24)
    spec = run_spec(cfg, entry, table)
    torch.manual_seed(0)
    model = build_model(spec)
    dataset = load_dataset(table, spec, bool(cfg["explicit_h"]), progress=False)
    train_all(model, dataset, np.arange(len(dataset)), full_train_config(cfg), entry["task"], seed=0)
    save_model(path, model, spec, {"dataset": cfg["dataset"], "full_data": {"pairs": len(dataset), "epochs": 2}})
    return path, list(zip(dataset.table.a, dataset.table.b))


def test_a_chromophore_csv_with_smiles_and_solvent_columns_predicts_in_nm(tmp_path):
    weights, pairs = _chromophore_weights(tmp_path / "chromophore.safetensors")
    pairs = pairs[:3] + [("c1ccc2ccccc2c1", "CCO")]  # three training pairs and one it never saw
    table = tmp_path / "mine.csv"
    with open(table, "w", newline="") as f:
        csv.writer(f).writerows([("smiles", "solvent"), *pairs])
    out = tmp_path / "out.csv"
    runner = CliRunner()
    r = runner.invoke(app, ["predict", "--weights", str(weights), "--input", str(table), "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "4 of 4 rows predicted (absorption maximum (lambda_max,abs) in nm)" in r.stdout, r.stdout
    assert "reading column(s) 'smiles', 'solvent' as the model's chromophore, solvent" in r.stderr, r.stderr
    rows = list(csv.DictReader(open(out, newline="")))
    assert [(row["smiles"], row["solvent"]) for row in rows] == pairs
    assert all(np.isfinite(float(row["prediction"])) and not row["reason"] for row in rows)
    r = runner.invoke(app, ["predict", "--weights", str(weights), "--input", str(table), "--output", str(out),
                            "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["units"] == "nm", r.output


def test_role_names_match_ignoring_case_and_one_missing_role_comes_from_a_smiles_column():
    from zoo_core.data.columns import matched_roles, molecule_columns

    roles = ["chromophore", "solvent"]
    assert matched_roles(roles, ["Chromophore", "Solvent", "y"]) == ["Chromophore", "Solvent"]
    assert matched_roles(roles, ["SMILES", "solvent"]) == ["SMILES", "solvent"]
    assert matched_roles(roles, ["smiles", "solvent_smiles"]) is None  # two roles missing: not guessed
    assert matched_roles(roles, ["smiles", "mol", "solvent"]) is None  # two SMILES-like columns: not guessed
    assert molecule_columns(None, 2, ["solute", "solvent"], ["smiles", "solvent", "dG"]) == (["smiles", "solvent"], [])
