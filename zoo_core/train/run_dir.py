"""The run directory of ``zoo run``: its creation, finished-fold records, predictions and bad rows.

``config.yaml`` (resolved), ``metrics.json``, ``predictions.csv`` (every test row of every fold: the targets and the
predictions of every task, classification as probabilities), ``model.safetensors``, ``bad_rows.csv`` when any,
``folds/r<R>-f<K>.json`` per finished fold and, while a fold trains, its resumable state in ``checkpoints/``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from zoo_core.errors import DataError, ZooError

def save_fold(path: Path, result, pre: dict | None, run_key: str) -> None:
    """A finished fold as JSON (metrics, test rows and predictions, pretraining record, the fingerprint of the model
    spec and data that produced it), written atomically."""
    record = {"run_key": run_key, "repeat": result.repeat, "fold": result.fold, "seed": result.seed,
              "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "valid": result.valid, "test": result.test,
              "test_rows": result.test_rows.tolist(), "test_pred": result.test_pred.tolist(),
              "seconds": result.seconds, "train_pairs_per_s": result.train_pairs_per_s, "pretraining": pre,
              "subsets": result.subsets, "lr_steps": result.lr_steps}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, default=json_default))
    os.replace(tmp, path)


def load_fold(path: Path, run_key: str):
    """(FoldResult, pretraining record or None) from :func:`save_fold`'s file; ZooError when it was written for
    another model spec or data (e.g. a registry default changed since), so two models never mix in one run."""
    import numpy as np

    from zoo_core.train.trainer import FoldResult

    try:
        r = json.loads(path.read_text())
        if r["run_key"] != run_key:
            raise ZooError(f"{path}: this fold was trained with another model spec or data than the run now builds "
                           f"(a changed registry default or plugin?); start a new run instead of resuming")
        result = FoldResult(repeat=r["repeat"], fold=r["fold"], seed=r["seed"], best_epoch=r["best_epoch"],
                            epochs_run=r["epochs_run"], valid=r["valid"], test=r["test"],
                            test_rows=np.asarray(r["test_rows"], dtype=np.int64),
                            test_pred=np.asarray(r["test_pred"], dtype=np.float64).reshape(len(r["test_rows"]), -1),
                            seconds=r["seconds"], train_pairs_per_s=r["train_pairs_per_s"],
                            subsets=r.get("subsets") or {},
                            lr_steps=[tuple(s) for s in r.get("lr_steps") or []])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ZooError(f"{path}: unreadable fold record ({error}); delete it to train that fold again") from error
    return result, r.get("pretraining")


def json_default(o):
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


def provenance(meta: dict) -> dict:
    import torch

    from zoo_core import __version__

    try:
        from rdkit import rdBase
        rdkit_version = rdBase.rdkitVersion
    except ImportError:  # pragma: no cover
        rdkit_version = None
    return dict(meta, zoo_version=__version__, torch_version=torch.__version__, rdkit_version=rdkit_version,
                created=time.strftime("%Y-%m-%dT%H:%M:%S"))


def report_bad_rows(bad: list, n_kept: int, strict: bool, quiet: bool) -> None:
    """Say how many rows were skipped and which (first 20), even with --quiet; raise under ``strict``."""
    if not bad:
        return
    lines = [str(b) for b in bad]
    if strict:
        raise DataError(f"{len(bad)} bad row(s) (strict mode):\n  " + "\n  ".join(lines[:20]))
    from zoo_core.train.trainer import log

    shown = "\n  ".join(lines[:20]) + (f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else "")
    log(f"zoo: skipped {len(bad)} bad row(s), kept {n_kept}:\n  {shown}")


def write_bad_rows(path: Path, bad: list) -> None:
    """Every skipped row (file, line, field, reason) as CSV, when there is any."""
    if not bad:
        return
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "line", "field", "reason"])
        w.writerows([b.file, b.line, b.field, b.reason] for b in bad)


def make_run_dir(cfg: dict) -> Path:
    name = cfg.get("run_name") or (f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg['pair_model']}-{cfg['encoder']}-"
                                   f"{Path(str(cfg['dataset'])).name}-{os.getpid()}")  # a CSV path contributes its file name
    parent = Path(cfg.get("output") or "runs")
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):  # two runs started in the same second by one process get -2, -3, ...
        path = parent / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            if cfg.get("run_name"):
                raise ZooError(f"{path}: run directory exists; choose another run_name") from None
    raise ZooError(f"{parent}: could not create a new run directory for {name}")


def prediction_columns(tasks: list[str]) -> tuple[list[str], list[str]]:
    """(label columns, prediction columns) of ``predictions.csv``: ``target``/``prediction`` for one task, else
    the task name and ``pred_<task>`` for each task."""
    if len(tasks) == 1:
        return ["target"], ["prediction"]
    return list(tasks), [f"pred_{t}" for t in tasks]


def readable(task: str, pred):
    """Model outputs as users read them: probabilities σ(logit) for classification, values for regression."""
    import numpy as np

    pred = np.asarray(pred, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-pred)) if task == "classification" else pred


def _cell(value: float) -> str:
    return "" if value != value else f"{float(value):.6g}"   # an unlabelled cell stays empty


def write_predictions(path: Path, dataset, results, task: str = "regression") -> None:
    """Every test row of every fold: repeat, fold, line, the molecules, each task's label and prediction."""
    roles = list(dataset.table.roles)
    labels, preds = prediction_columns(list(dataset.tasks))
    molecules = dataset.table.molecules
    y = dataset.y.numpy()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["repeat", "fold", "line", *roles, *labels, *preds])
        for r in results:
            for row, pred in zip(r.test_rows, readable(task, r.test_pred)):
                w.writerow([r.repeat, r.fold, int(dataset.table.lines[row]), *(m[row] for m in molecules),
                            *(_cell(v) for v in y[row]), *(_cell(v) for v in pred)])
