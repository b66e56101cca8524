"""Prediction on a user's own molecules or pairs: every input row comes back, with predictions or a reason.

One column per task: ``prediction`` for a single-task model, ``pred_<task>`` for each task of a multi-task model
(the names of ``predictions.csv``); classification models give probabilities, regression models values in the
dataset's unit (a model trained on standardised targets unscales its own outputs; ``zoo predict`` names the
quantity and its units when the weights name a registry dataset that states them). A ``warning`` column flags
molecules outside the model's training domain (:mod:`zoo_core.chem.domain`: an element the featurizer or the
training set does not know, more heavy atoms or a larger net charge than any training molecule); their predictions
are written all the same.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from zoo_core.data.input_file import header_and_first_row, read_csv_text
from zoo_core.errors import InputError


def read_input_rows(path: str | Path, columns: tuple[str, ...]) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a UTF-8 CSV with data rows that must contain every one of ``columns`` (InputError
    otherwise: see :mod:`zoo_core.data.input_file`)."""
    text = read_csv_text(path)
    header_and_first_row(path, text)
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    missing = [c for c in columns if c not in header]
    if missing:
        need = "the molecule column with --columns SMILES" if len(columns) == 1 else \
            "the two molecule columns with --columns A,B"
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))} (found: {', '.join(header)}); "
                        f"name {need}")
    return header, list(reader)


def predict_rows(model, spec: dict[str, Any], molecules: list[list[str]], batch_size: int = 512,
                 progress: bool = False) -> tuple[list[list[float] | None], list[str]]:
    """Predictions (every task, readable units) and reasons ('' when fine) for parallel SMILES columns: one
    column for a molecule model, two for a pair model."""
    import numpy as np
    import torch

    from zoo_core.data.table import MolTable, PairTable
    from zoo_core.device import device_of
    from zoo_core.train.run import load_dataset
    from zoo_core.train.run_dir import readable
    from zoo_core.weights import check_featurizer, installed_featurizer_spec

    feat = spec["featurizer"]
    check_featurizer(installed_featurizer_spec(feat), feat, "weights")
    n = len(molecules[0])
    reasons = ["" for _ in range(n)]
    ok = []
    for i in range(n):
        if any(not col[i].strip() for col in molecules):
            reasons[i] = "empty SMILES"
        else:
            ok.append(i)
    cols = [[col[i].strip() for i in ok] for col in molecules]
    lines = np.asarray(ok, dtype=np.int64)
    if len(molecules) == 1:
        table = MolTable("input", ("molecule",), cols[0], np.full((len(ok), 1), np.nan), lines)
    else:
        table = PairTable("input", ("a", "b"), cols[0], cols[1], np.full(len(ok), np.nan), lines)
    preds: list[list[float] | None] = [None for _ in range(n)]
    if not ok:
        return preds, reasons
    dataset = load_dataset(table, spec, feat["explicit_h"], progress=progress)
    for bad in dataset.bad:
        reasons[int(bad.line)] = bad.reason
    model.eval()
    device = device_of(model)  # predictions run where the model's weights are
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            rows = np.arange(start, min(start + batch_size, len(dataset)))
            pred = model(dataset.batch(rows).to(device)).pred.cpu().numpy()
            out = readable(spec.get("task", "regression"), pred)
            for r, p in zip(rows, out):
                preds[int(dataset.table.lines[r])] = [float(v) for v in p]
    return preds, reasons


def predict_pairs(model, spec: dict[str, Any], a: list[str], b: list[str], batch_size: int = 512,
                  progress: bool = False) -> tuple[list[float | None], list[str]]:
    """Predictions of the first task and reasons for parallel SMILES lists (pair models)."""
    preds, reasons = predict_rows(model, spec, [a, b], batch_size, progress)
    return [None if p is None else p[0] for p in preds], reasons


def output_columns(spec: dict[str, Any]) -> list[str]:
    """The prediction columns ``zoo predict`` writes for a model."""
    from zoo_core.train.run_dir import prediction_columns

    return prediction_columns(spec.get("tasks") or [f"task{t}" for t in range(int(spec.get("n_tasks", 1)))])[1]


def predicted_quantity(meta: dict[str, Any]) -> dict[str, str]:
    """``{"target", "units"}`` of the registry dataset a model's weights name (``{}`` for a user's CSV, or a
    dataset without units)."""
    from zoo_core.registry import get_registry

    entry = get_registry().sections["datasets"].get(str(meta.get("dataset")))
    if entry is None or not entry.get("units"):
        return {}
    return {"target": " ".join(str(entry["target"]).split()), "units": " ".join(str(entry["units"]).split())}


def predict_csv(model, spec: dict[str, Any], input_path: str | Path, output_path: str | Path,
                columns: tuple[str, ...], domain: dict | None = None) -> dict[str, int]:
    """Write every input row with one prediction column per task, a ``reason`` column (why there is no
    prediction) and a ``warning`` column (outside ``domain``, the weights' ``training_domain``); returns counts."""
    from zoo_core.chem.domain import domain_warnings

    header, rows = read_input_rows(input_path, columns)
    molecules = [[r.get(c) or "" for r in rows] for c in columns]
    preds, reasons = predict_rows(model, spec, molecules)
    warnings = [w if p is not None else "" for w, p in
                zip(domain_warnings(molecules, list(columns), domain, spec["featurizer"]["name"]), preds)]
    names = output_columns(spec)
    out_header = header + [c for c in (*names, "reason", "warning") if c not in header]
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=out_header, extrasaction="ignore")
        w.writeheader()
        for row, p, why, warning in zip(rows, preds, reasons, warnings):
            values = {name: "" if p is None else f"{v:.6g}" for name, v in zip(names, p or [None] * len(names))}
            w.writerow(dict(row, **values, reason=why, warning=warning))
    failed = sum(1 for p in preds if p is None)
    return {"rows": len(rows), "predicted": len(rows) - failed, "failed": failed,
            "warned": sum(1 for w in warnings if w)}
