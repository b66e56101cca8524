"""Metrics on numpy arrays: regression (RMSE, MAE, R2) and binary classification (AUROC, AP, F1, ACC).

Classification metrics take logits and threshold σ(logit) at 0.5 (METHODS §10 item 8).

Multi-task (``y``, ``p`` of shape [n, T]): a NaN label is missing and is never scored. Each task is scored on
its labelled rows; the reported figure of a metric is the mean over the tasks that could be scored. A
classification task whose labelled rows in the split hold one class only has no AUROC: it is skipped for every
metric and named in ``skipped_tasks`` (MoleculeNet convention, as chemprop and DeepChem do).
"""

from __future__ import annotations

import numpy as np


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(p)) ** 2)))


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(p))))


def r2(y: np.ndarray, p: np.ndarray) -> float:
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    ss_tot = np.sum((y - y.mean()) ** 2)
    return float(1.0 - np.sum((y - p) ** 2) / ss_tot) if ss_tot > 0 else float("nan")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def auroc(y: np.ndarray, logits: np.ndarray) -> float:
    """Area under the ROC curve via the rank statistic (ties get average ranks)."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(logits, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: np.ndarray, logits: np.ndarray) -> float:
    """Step-wise average precision (as scikit-learn's average_precision_score): one step per distinct score, so
    tied scores count together and the row order never matters (constant scores give the positive rate)."""
    y = np.asarray(y).astype(bool)
    if y.sum() == 0:
        return float("nan")
    s = np.asarray(logits, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    tp = np.cumsum(y[order])
    last = np.r_[np.flatnonzero(np.diff(s[order]) != 0), len(s) - 1]   # the last row of each distinct score
    tp, seen = tp[last], last + 1
    recall_steps = np.diff(np.r_[0, tp]) / y.sum()
    return float(np.sum(recall_steps * tp / seen))


def f1(y: np.ndarray, logits: np.ndarray) -> float:
    y = np.asarray(y).astype(bool)
    pred = _sigmoid(logits) >= 0.5
    tp, fp, fn = np.sum(pred & y), np.sum(pred & ~y), np.sum(~pred & y)
    return float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) > 0 else 0.0


def accuracy(y: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean((_sigmoid(logits) >= 0.5) == np.asarray(y).astype(bool)))


REGRESSION = {"rmse": rmse, "mae": mae, "r2": r2}
CLASSIFICATION = {"auroc": auroc, "ap": average_precision, "f1": f1, "acc": accuracy}
LOWER_IS_BETTER = {"rmse", "mae", "mse"}


HIGHER_IS_BETTER = {"auroc", "ap", "f1", "acc", "r2"}


def metric_table(task: str) -> dict:
    """The metric functions of ``task`` ('regression' or 'classification')."""
    return REGRESSION if task == "regression" else CLASSIFICATION


def direction(metric: str) -> str:
    """'min' or 'max': how ``metric`` (or 'loss') improves."""
    if metric == "loss" or metric in LOWER_IS_BETTER:
        return "min"
    if metric in HIGHER_IS_BETTER:
        return "max"
    raise ValueError(f"unknown metric {metric!r} (known: loss, {', '.join(sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER))})")


def _task_scores(task: str, y: np.ndarray, p: np.ndarray) -> dict[str, float] | None:
    """One task's metrics on its labelled rows, or None when it cannot be scored in this split."""
    labelled = ~np.isnan(y)
    y, p = y[labelled], p[labelled]
    if len(y) == 0:
        return None
    if task == "classification" and (y.min() == y.max()):
        return None
    return {name: fn(y, p) for name, fn in metric_table(task).items()}


def compute(task: str, y: np.ndarray, p: np.ndarray, tasks: list[str] | None = None) -> dict:
    """Every metric of ``task`` ('regression' or 'classification'): the mean over scored tasks at the top level,
    and, with several tasks, ``per_task`` scores and ``skipped_tasks`` (tasks with no labels, or one class only).

    ``y`` and ``p`` are [n] or [n, T]; NaN labels are masked out. ``tasks`` names the T columns."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    y, p = y.reshape(len(y), -1), p.reshape(len(p), -1)
    names = list(tasks) if tasks is not None else [f"task{t}" for t in range(y.shape[1])]
    per_task: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    for t, name in enumerate(names):
        scores = _task_scores(task, y[:, t], p[:, t])
        if scores is None:
            skipped.append(name)
        else:
            per_task[name] = scores
    out: dict = {}
    for metric in metric_table(task):
        values = [s[metric] for s in per_task.values() if not np.isnan(s[metric])]
        out[metric] = float(np.mean(values)) if values else float("nan")
    if len(names) > 1:
        out["per_task"] = per_task
        out["skipped_tasks"] = skipped
    elif skipped:
        out["skipped_tasks"] = skipped
    return out
