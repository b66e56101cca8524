"""What a DDI run reports beside its test metrics: Type 1 / Type 2 test subsets and the no-chemistry baseline.

Per fold (METHODS §2.3): ``test_type1`` / ``test_type2`` are the model's metrics on the test rows with one / two
drugs that occur in no training row (present when the test part has such rows, with their count ``n``), and
``baseline`` holds the **degree baseline** on the test part and on each subset: score(a, b) = deg(a) + deg(b), the
number of training positives of each drug. It knows nothing of chemistry, so a model must beat it to show it
learned some; being a rank score it has AUROC and AP only. On a transductive split it is strong; on Type 2 rows
(both degrees 0) it scores 0.5 exactly. ``metrics.json`` summarises each over repeats like ``summary``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from zoo_core.data.ddi import unseen_drugs
from zoo_core.train import metrics as M

BASELINE = "degree: score(a, b) = training positives of a + training positives of b (no chemistry)"
SUBSETS = {1: "test_type1", 2: "test_type2"}


def degree_scores(table, y: np.ndarray, train_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """deg(a) + deg(b) for each row of ``rows``, degrees counted over the positive training rows."""
    degree = Counter()
    for i in train_rows:
        if y[i] == 1:
            degree[table.a[i]] += 1
            degree[table.b[i]] += 1
    return np.asarray([degree[table.a[i]] + degree[table.b[i]] for i in rows], dtype=np.float64)


def rank_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    return {"auroc": M.auroc(y, score), "ap": M.average_precision(y, score)}


def fold_report(dataset, fold: tuple, test_rows: np.ndarray, test_pred: np.ndarray) -> dict:
    """The subset metrics and the baseline of one fold (``test_rows`` and ``test_pred`` as the trainer returns
    them)."""
    table, y = dataset.table, dataset.y.numpy().reshape(len(dataset), -1)[:, 0]
    y_test, pred = y[test_rows], np.asarray(test_pred).reshape(len(test_rows), -1)[:, 0]
    types = unseen_drugs(table, fold[0], test_rows)
    score = degree_scores(table, y, fold[0], test_rows)
    out: dict = {"baseline": {"test": rank_metrics(y_test, score)}}
    for k, name in SUBSETS.items():
        sel = types == k
        if sel.any():
            out[name] = dict(M.compute("classification", y_test[sel], pred[sel]), n=int(sel.sum()))
            out["baseline"][name] = rank_metrics(y_test[sel], score[sel])
    return out


def describe(report: dict) -> str:
    """One log line: the subsets' AUROC and the baseline's."""
    parts = [f"{name} auroc {report[name]['auroc']:.4f} (n={report[name]['n']})" for name in SUBSETS.values()
             if name in report]
    base = ", ".join(f"{k} {v['auroc']:.4f}" for k, v in report["baseline"].items())
    return "; ".join(parts + [f"degree baseline auroc: {base}"])


def summarize_reports(results: list) -> dict:
    """Mean ± std over repeats (as ``summary``) of each subset metric and of the baseline, from ``r.subsets``."""
    from zoo_core.train.trainer import mean_std_over_repeats

    def stats(get) -> dict:
        out = {}
        for metric in M.CLASSIFICATION:
            value = mean_std_over_repeats(results, lambda r, m=metric: _finite(get(r.subsets).get(m)))
            if value is not None:
                out[metric] = value
        return out

    summary: dict = {name: stats(lambda s, n=name: s.get(n, {})) for name in SUBSETS.values()}
    summary["baseline"] = {"score": BASELINE, **{part: stats(lambda s, p=part: s["baseline"].get(p, {}))
                                                 for part in ("test", *SUBSETS.values())}}
    return summary


def _finite(value):
    return value if value is not None and not np.isnan(value) else None
