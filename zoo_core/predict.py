"""Prediction on a user's own pairs: every input row comes back, with a prediction or a reason."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from zoo_core.errors import DataError


def read_input_pairs(path: str | Path, columns: tuple[str, str]) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV that must contain both ``columns``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(map(repr, missing))} (found: {', '.join(header)}); "
                        f"name the two molecule columns with --columns A,B")
    return header, list(reader)


def predict_pairs(model, spec: dict[str, Any], a: list[str], b: list[str], batch_size: int = 512,
                  progress: bool = False) -> tuple[list[float | None], list[str]]:
    """Predictions (first task) and reasons ('' when fine) for parallel SMILES lists."""
    import numpy as np
    import torch

    from zoo_core.data.pairs import PairDataset
    from zoo_core.data.table import PairTable
    from zoo_core.plugins import get_catalog
    from zoo_core.weights import check_featurizer

    feat = spec["featurizer"]
    current = get_catalog().get("featurizers", feat["name"]).load()().spec(feat["explicit_h"])
    check_featurizer(current, feat, "weights")
    reasons = ["" for _ in a]
    ok = []
    for i, (sa, sb) in enumerate(zip(a, b)):
        if not sa.strip() or not sb.strip():
            reasons[i] = "empty SMILES"
        else:
            ok.append(i)
    table = PairTable(source="input", roles=("a", "b"), a=[a[i].strip() for i in ok], b=[b[i].strip() for i in ok],
                      y=np.full(len(ok), np.nan), lines=np.asarray(ok, dtype=np.int64))
    preds: list[float | None] = [None for _ in a]
    if not ok:
        return preds, reasons
    dataset = PairDataset.from_table(table, feat["name"], feat["explicit_h"], progress=progress)
    for bad in dataset.bad:
        reasons[int(bad.line)] = bad.reason
    model.eval()
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            rows = np.arange(start, min(start + batch_size, len(dataset)))
            out = model(dataset.batch(rows)).pred[:, 0].numpy()
            for r, p in zip(rows, out):
                preds[int(dataset.table.lines[r])] = float(p)
    return preds, reasons


def predict_csv(model, spec: dict[str, Any], input_path: str | Path, output_path: str | Path,
                columns: tuple[str, str]) -> dict[str, int]:
    """Write every input row with ``prediction`` and ``reason`` columns; returns counts."""
    header, rows = read_input_pairs(input_path, columns)
    a = [r.get(columns[0]) or "" for r in rows]
    b = [r.get(columns[1]) or "" for r in rows]
    preds, reasons = predict_pairs(model, spec, a, b)
    out_header = header + [c for c in ("prediction", "reason") if c not in header]
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=out_header, extrasaction="ignore")
        w.writeheader()
        for row, p, why in zip(rows, preds, reasons):
            w.writerow(dict(row, prediction="" if p is None else f"{p:.6g}", reason=why))
    failed = sum(1 for p in preds if p is None)
    return {"rows": len(rows), "predicted": len(rows) - failed, "failed": failed}
