"""Drug-drug interaction benchmark (issue 35): pair models on ChChMiner and ZhangDDI, transductive and inductive,
test ROC-AUC (and Type 1 / Type 2 on inductive splits) at the epoch of best validation ROC-AUC, beside the
no-chemistry degree baseline on the same rows and the published numbers.

  python bench/run_bench.py ddi --models cgib,i2mole --datasets chchminer --splits transductive,inductive \\
      --seeds 0,1,2 --epochs 50 --patience 10

Each (model, dataset, split, seed) is one `zoo run` with the dataset entry's protocol (negatives drawn from the
seed, batch, lr, ``select_by: auroc``, the DDI featurizer and symmetric pair models) and the stated epoch budget
(``--lr`` / ``--batch-size`` replace the papers' rate and batch for a budget that fits a CPU; the record says which);
jobs run on ``--workers`` processes with one torch thread each, finished jobs are kept in
bench/results/.partial-<name>.json and an interrupted one continues from its checkpoint. Records: one per
(model, dataset, split) in bench/results/<name>.json, with every seed's numbers, so two models compare seed by
seed on the same splits (`python bench/run_bench.py compare`).
"""

from __future__ import annotations

import json
import time

import numpy as np
import yaml

from bench.run_bench import key_values, machine, pair_param_flags, run_or_resume, scratch, variant_label
from bench.seed_jobs import recorded, run_seed_jobs
from bench.targets import PAPER_DDI_AUROC

# Published ROC-AUC (%), TARGETS.md §2: transductive (bench/targets.py) and I2Mole's inductive Type 2.
PUBLISHED = {
    **{(model, dataset, "transductive"): auroc for model, row in PAPER_DDI_AUROC.items()
       for dataset, auroc in row.items()},
    ("i2mole", "chchminer", "inductive-type2"): 70.02,
}
EPOCHS, PATIENCE = 50, 10  # the bench's default budget (the entries allow 1000 epochs, patience 20)
# What this 2-core CPU affords a DDI cell (docs/DECISIONS.md, "DDI on this CPU"): the CPU cells and the two DDI
# publications train with it, each record and card stating it beside the paper's figure
CPU_BUDGET = {"epochs": 30, "patience": 5, "lr": 1e-3, "batch_size": 128}


def cell_config(model: str, dataset: str, split: str, seed: int, epochs: int, patience: int, out: str,
                lr: float | None = None, batch_size: int | None = None, pair_params: dict | None = None) -> dict:
    """The `zoo run` settings of one (model, dataset, split, seed) job: the dataset entry's protocol otherwise (its
    learning rate and batch size unless given; bench/publish_weights.py trains a DDI recipe with exactly these);
    ``pair_params`` for an ablation (I2Mole's vq=false, cross=false, gib=false)."""
    optional = {k: v for k, v in (("lr", lr), ("batch_size", batch_size), ("pair_params", pair_params)) if v}
    return {"encoder": model, "dataset": dataset, "split": split, "seed": seed, "repeats": 1, "epochs": epochs,
            "patience": patience, "output": out, "threads": 1, **optional}


def cell_command(model: str, dataset: str, split: str, seeds: str, epochs: int, patience: int,
                 lr: float | None = None, batch_size: int | None = None, pair_param: list[str] | None = None) -> str:
    """The bench command that measures one (model, dataset, split) cell."""
    return (f"python bench/run_bench.py ddi --models {model} --datasets {dataset} --splits {split} --seeds {seeds} "
            f"--epochs {epochs} --patience {patience}{recipe_flags(lr, batch_size)}{pair_param_flags(pair_param)}")


def recipe_flags(lr: float | None, batch_size: int | None) -> str:
    """`` --lr X --batch-size N`` for the ones given (`zoo run` and this bench take the same flags)."""
    return "".join(f" --{flag} {v:g}" for flag, v in (("lr", lr), ("batch-size", batch_size)) if v is not None)


def _value(block: dict | None, metric: str = "auroc"):
    stats = (block or {}).get(metric)
    return None if stats is None else stats["mean"]


def _job(job: tuple) -> dict:
    import torch

    torch.set_num_threads(1)
    model, dataset, split, seed, epochs, patience, lr, batch_size, *params, out = job  # params: only when given
    pair_params = json.loads(params[0]) if params else None                              # (the keys stay as before)
    label = f"{model}-{dataset}-{split}-s{seed}" + "".join(f"-{k}-{v}" for k, v in (pair_params or {}).items())
    run_dir, m = run_or_resume(cell_config(model, dataset, split, seed, epochs, patience, out, lr, batch_size,
                                           pair_params), label, json.dumps(list(job[:-1])))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())  # the resolved rate and batch size
    fold = m["folds"][0]
    base = m.get("baseline") or {}
    return {"seed": seed, "test": fold["test"], "best_epoch": fold["best_epoch"], "epochs_run": fold["epochs_run"],
            "seconds": fold["seconds"], "train_pairs_per_s": fold["train_pairs_per_s"],
            "type1": _value(m.get("test_type1")), "type2": _value(m.get("test_type2")),
            "baseline": {part: _value(base.get(part)) for part in ("test", "test_type1", "test_type2")},
            "peak_rss_gb": m.get("peak_rss_gb"), "ddi": m.get("ddi"),
            "lr": config["lr"], "batch_size": config["batch_size"]}


def model_of(label: str) -> str:
    """The model of a record's label ('i2mole (vq=False)' -> 'i2mole')."""
    return label.split(" (")[0]


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _record(cell: tuple, seeds: list[int], results: list[dict], args, command: str, pair_params: dict) -> dict:
    label, dataset, split = cell
    model = model_of(label)
    auroc = [r["test"]["auroc"] for r in results]
    return {"kind": "ddi", "model": label, "dataset": dataset, "split": split, "pair_params": pair_params,
            "metric": "auroc", "seeds": seeds,
            "per_seed": auroc, "mean": float(np.mean(auroc)), "std": float(np.std(auroc)),
            "type1": _mean([r["type1"] for r in results]), "type2": _mean([r["type2"] for r in results]),
            "baseline": {part: _mean([r["baseline"][part] for r in results])
                         for part in ("test", "test_type1", "test_type2")},
            "published_transductive": PUBLISHED.get((model, dataset, split)),
            "published_type2": PUBLISHED.get((model, dataset, f"{split}-type2")),
            "epochs": args.epochs, "patience": args.patience, "lr": results[0]["lr"],
            "batch_size": results[0]["batch_size"], "entry_recipe": args.lr is None and args.batch_size is None,
            "mean_best_epoch": float(np.mean([r["best_epoch"] for r in results])),
            "train_pairs_per_s": _mean([r["train_pairs_per_s"] for r in results]),
            "peak_rss_gb": max((r["peak_rss_gb"] or 0) for r in results),
            "leak": (results[0]["ddi"] or {}).get("leak"), "command": command, "date": time.strftime("%Y-%m-%d"),
            "machine": machine(), "seed_records": results}


def ddi(args) -> None:
    """Run every (model, dataset, split, seed) job; write one record per (model, dataset, split) when its seeds are
    in."""
    models, datasets, splits = (a.split(",") for a in (args.models, args.datasets, args.splits))
    seeds = [int(s) for s in args.seeds.split(",")]
    pair_params = key_values(args.pair_param)
    variant = variant_label(pair_params)
    records = recorded(args.name, lambda r: (r["model"], r["dataset"], r["split"]))
    cells = [(m + variant, d, s) for d in datasets for s in splits for m in models]
    cells = [cell for cell in cells if cell not in records]
    out = scratch(args.name)

    def make_record(cell: tuple, results: list[dict]) -> dict:
        command = cell_command(model_of(cell[0]), *cell[1:], args.seeds, args.epochs, args.patience, args.lr,
                               args.batch_size, args.pair_param)
        return _record(cell, seeds, results, args, command, pair_params)

    def report(job: tuple, result: dict) -> None:
        print(f"{job[0]:>8} {job[1]:>10} {job[2]:>12} seed {job[3]}: test AUROC {result['test']['auroc']:.4f} "
              f"(baseline {result['baseline']['test']:.4f}; best epoch {result['best_epoch']}, "
              f"{result['seconds']:.0f} s)", flush=True)

    extra = (json.dumps(pair_params, sort_keys=True),) if pair_params else ()
    jobs = {cell: [(model_of(cell[0]), *cell[1:], seed, args.epochs, args.patience, args.lr, args.batch_size,
                    *extra, out) for seed in seeds] for cell in cells}
    run_seed_jobs(args.name, jobs, _job, args.workers, records, make_record, report)


def add_parser(sub) -> None:
    d = sub.add_parser("ddi", help="drug-drug interaction: ROC-AUC, Type 1/2, degree baseline (issue 35)")
    d.add_argument("--models", default="cgib,i2mole")
    d.add_argument("--datasets", default="chchminer,zhangddi")
    d.add_argument("--splits", default="transductive,inductive")
    d.add_argument("--seeds", default="0,1,2")
    d.add_argument("--epochs", type=int, default=EPOCHS, help="epoch budget (the entries allow 1000; stated per "
                                                               "record)")
    d.add_argument("--patience", type=int, default=PATIENCE)
    d.add_argument("--lr", type=float, default=None, help="learning rate (default: the entry's, the papers')")
    d.add_argument("--batch-size", type=int, default=None, help="batch size (default: the entry's, the papers')")
    d.add_argument("--pair-param", action="append", metavar="KEY=VALUE",
                   help="a pair-model parameter for every cell (repeatable): I2Mole's ablations vq=false, "
                        "cross=false, gib=false; the record's model reads 'i2mole (vq=False)'")
    d.add_argument("--workers", type=int, default=1)
    d.add_argument("--name", default="ddi")
