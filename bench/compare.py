"""Paired comparison of two accuracy records fold by fold (the same (repeat, fold) splits, so the split's own
difficulty cancels): how much of a gap between two cells is more than fold noise.

  python bench/run_bench.py compare freesolv-cgib.json:cgib freesolv-interaction.json:cigin

Each side is ``FILE[:MODEL[:DATASET[:ARM]]]`` under bench/results/ (MODEL/DATASET pick a record when the file holds
several; in an ablation file, ARM picks one arm's record). A pretraining record holds both arms on the same folds, so
it needs ARM (``none`` or the pretrainer):

  python bench/run_bench.py compare pretraining-cigin-3datasets.json:cigin:abraham:3dmrl \
      pretraining-cigin-3datasets.json:cigin:abraham:none

Prints the paired mean difference (A − B), its standard deviation over folds, the standard error of the mean
difference, and on how many folds A is lower (better, for RMSE). Nothing is written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def pick(results: Path, spec: str) -> dict:
    """The record named by ``FILE[:MODEL[:DATASET[:ARM]]]``; a pretraining record's folds are narrowed to ARM. An
    ambiguous or unmatched spec, or a missing ARM, is a SystemExit naming the choices."""
    name, *rest = spec.split(":", 3)  # an arm may hold colons
    if not (results / name).is_file():
        raise SystemExit(f"{spec}: no record file {results / name}")
    records = json.loads((results / name).read_text())
    model, dataset, arm = (rest + [None, None, None])[:3]
    found = [r for r in records if "fold_records" in r and (model is None or r["model"] == model)
             and (dataset is None or r["dataset"] == dataset) and (arm is None or r.get("arm", arm) == arm)]
    if len(found) != 1:  # an ablation record is one arm of its cell: ARM picks it
        cells = ", ".join(":".join([r["model"], r["dataset"]] + ([r["arm"]] if "arm" in r else []))
                          for r in records if "fold_records" in r)
        raise SystemExit(f"{spec}: {len(found)} records match (the file has: {cells})")
    record = found[0]
    arms = sorted({f["arm"] for f in record["fold_records"] if "arm" in f})
    if not arms:
        if arm is not None:
            raise SystemExit(f"{spec}: the record has no arms (it is not a pretraining record)")
        return record
    if arm not in arms:  # both arms share (repeat, fold) keys: comparing them unseparated would mix the arms
        raise SystemExit(f"{spec}: name the arm as FILE:MODEL:DATASET:ARM; the record's arms are {', '.join(arms)}")
    return dict(record, fold_records=[f for f in record["fold_records"] if f.get("arm") == arm])


def paired_folds(a: dict, b: dict, metric: str = "rmse") -> dict:
    """Statistics of the per-fold differences a − b over the (repeat, fold) pairs both records hold."""
    fa = {(f["repeat"], f["fold"]): f["test"][metric] for f in a["fold_records"]}
    fb = {(f["repeat"], f["fold"]): f["test"][metric] for f in b["fold_records"]}
    shared = sorted(set(fa) & set(fb))
    if len(shared) < 2:
        raise SystemExit(f"the two records share {len(shared)} (repeat, fold) splits; a paired comparison needs 2")
    diffs = [fa[k] - fb[k] for k in shared]
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    return {"folds": n, "mean_a": sum(fa[k] for k in shared) / n, "mean_b": sum(fb[k] for k in shared) / n,
            "mean_diff": mean, "sd_diff": sd, "se_diff": sd / math.sqrt(n),
            "a_better": sum(d < 0 for d in diffs)}


def compare(args) -> None:
    from bench.records import RESULTS

    a, b = pick(RESULTS, args.a), pick(RESULTS, args.b)
    s = paired_folds(a, b)
    print(f"A = {a['model']} on {a['dataset']} ({args.a}); B = {b['model']} on {b['dataset']} ({args.b})")
    print(f"{s['folds']} shared folds: A {s['mean_a']:.3f}, B {s['mean_b']:.3f}; A − B = {s['mean_diff']:+.3f} "
          f"(fold sd {s['sd_diff']:.3f}, s.e. {s['se_diff']:.3f}); A lower on {s['a_better']} of {s['folds']}")
