"""MoleculeNet benchmark (issue 34): encoders on Tox21, ClinTox and HIV with DeepChem's deterministic scaffold
split, test ROC-AUC at the epoch of best validation ROC-AUC, beside the published numbers.

  python bench/run_bench.py moleculenet --models mpnn,attentivefp --datasets tox21,clintox --seeds 0,1,2
  python bench/run_bench.py moleculenet --models mpnn,attentivefp --datasets hiv --seeds 0

The split does not depend on the seed (Hu et al. 2020 convention): seeds vary the model's initialisation and the
shuffling. Each (model, dataset, seed) is one `zoo run` with the dataset entry's protocol (epochs, patience, batch
size, learning rate, ``select_by: auroc``), run one at a time with one torch thread each on ``--workers``
processes; finished jobs are kept in bench/results/.partial-<name>.json and an interrupted one continues from its
checkpoint, so rerunning the command resumes it. Records go to bench/results/<name>.json, one per (model, dataset).
"""

from __future__ import annotations

import json
import time

import numpy as np

from bench.run_bench import machine, run_or_resume, scratch
from bench.seed_jobs import recorded, run_seed_jobs

# Published ROC-AUC (%), scaffold split (TARGETS.md §3): GIN without pretraining (Hu et al., ICLR 2020, Table 1)
# and MolInteract (seed 003, frozen 2D branch after pretraining on PCQM4Mv2).
PUBLISHED = {
    "tox21": {"gin_no_pretrain": (74.0, 0.8), "molinteract": (77.3, 0.5)},
    "clintox": {"gin_no_pretrain": (58.0, 4.4), "molinteract": (88.4, 1.0)},
    "hiv": {"gin_no_pretrain": (75.3, 1.9), "molinteract": (79.5, 0.4)},
}


def _job(job: tuple) -> dict:
    import torch

    torch.set_num_threads(1)
    model, dataset, seed, out = job
    cli = {"encoder": model, "dataset": dataset, "seed": seed, "repeats": 1, "output": out, "threads": 1}
    run_dir, metrics = run_or_resume(cli, f"{model}-{dataset}-s{seed}", json.dumps([model, dataset, seed]))
    fold = metrics["folds"][0]
    return {"seed": seed, "test": fold["test"], "valid": fold["valid"], "best_epoch": fold["best_epoch"],
            "epochs_run": fold["epochs_run"], "seconds": fold["seconds"], "split": metrics["split"],
            "select_by": metrics["select_by"], "n_molecules": metrics["n_pairs"], "bad_rows": metrics["bad_rows"]}


def _record(model: str, dataset: str, seeds: list[int], results: list[dict], command: str, t0: float) -> dict:
    aurocs = [r["test"]["auroc"] for r in results]
    tasks = list(results[0]["test"].get("per_task") or {})
    per_task = {t: float(np.mean([r["test"]["per_task"][t]["auroc"] for r in results if t in r["test"]["per_task"]]))
                for t in tasks}
    return {"kind": "moleculenet", "model": model, "dataset": dataset, "metric": "auroc", "split": results[0]["split"],
            "select_by": results[0]["select_by"], "seeds": seeds, "per_seed": aurocs,
            "mean": float(np.mean(aurocs)), "std": float(np.std(aurocs)), "per_task_mean": per_task,
            "skipped_tasks": sorted({t for r in results for t in r["test"].get("skipped_tasks", [])}),
            "mean_best_epoch": float(np.mean([r["best_epoch"] for r in results])),
            "fold_seconds": round(sum(r["seconds"] for r in results), 1), "wall_seconds": round(time.time() - t0, 1),
            "n_molecules": results[0]["n_molecules"], "bad_rows": results[0]["bad_rows"],
            "published": PUBLISHED.get(dataset, {}), "command": command, "date": time.strftime("%Y-%m-%d"),
            "machine": machine(), "seed_records": results}


def moleculenet(args) -> None:
    """Run every (model, dataset, seed) job; write one record per (model, dataset) when its seeds are in."""
    models = [m.strip() for m in args.models.split(",")]
    datasets = [d.strip() for d in args.datasets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = scratch(args.name)
    records = recorded(args.name, lambda r: (r["model"], r["dataset"]))
    cells = [(m, d) for d in datasets for m in models if (m, d) not in records or args.remeasure]
    for cell in cells:
        records.pop(cell, None)
    t0 = time.time()

    def make_record(cell: tuple, results: list[dict]) -> dict:
        command = f"python bench/run_bench.py moleculenet --models {cell[0]} --datasets {cell[1]} --seeds {args.seeds}"
        return _record(cell[0], cell[1], seeds, results, command, t0)

    def report(job: tuple, result: dict) -> None:
        print(f"{job[0]:>12} {job[1]:>8} seed {job[2]}: test AUROC {result['test']['auroc']:.4f} "
              f"(best epoch {result['best_epoch']}, {result['seconds']:.0f} s)", flush=True)

    jobs = {cell: [(cell[0], cell[1], s, out) for s in seeds] for cell in cells}
    run_seed_jobs(args.name, jobs, _job, args.workers, records, make_record, report)


def add_parser(sub) -> None:
    m = sub.add_parser("moleculenet", help="MoleculeNet ROC-AUC with the deterministic scaffold split (issue 34)")
    m.add_argument("--models", default="mpnn,attentivefp")
    m.add_argument("--datasets", default="tox21,clintox")
    m.add_argument("--seeds", default="0,1,2")
    m.add_argument("--workers", type=int, default=1)
    m.add_argument("--name", default="moleculenet-scaffold")
    m.add_argument("--remeasure", action="store_true")
