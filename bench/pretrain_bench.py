"""Pretraining benchmarks (issue #4), subcommands of bench/run_bench.py.

  python bench/run_bench.py pretraining --models cigin --datasets freesolv,compsol,abraham \\
      --pair-set train-split --pretrain-epochs 100 --epochs 500 --patience 50 --repeats 3 --workers 2 --name NAME
  python bench/run_bench.py pretrain-throughput --workers 2
  python bench/run_bench.py probe --backbones ZOO_HOME/pretrained/<key>.safetensors --datasets freesolv,compsol

``pretraining``: for every (model, dataset) BOTH arms, without pretraining and with the pretrainer (3DMRL), in one
invocation with the same folds and seeds (the mi5fold protocol of ``accuracy``: per (arm, repeat, fold) one worker
job with one torch thread, seeded by (repeat, fold)). A 3DMRL job goes through ``zoo run --pretrainer 3dmrl``'s code
path: it pretrains on that fold's training pairs (``train-split``) or on the chosen pair set, with the backbone cache
of ``ZOO_HOME/pretrained`` (a rerun reuses every backbone), then fine-tunes. Before the jobs, the conformers of
every molecule are generated once (``--workers`` processes) into the conformer cache; with a shared pair set the
first 3DMRL job of a cell pretrains (or reuses) the backbone while the other workers run no-pretraining jobs, of
that cell or of the next ones, and the cell's other 3DMRL jobs start once it is cached (they reuse it): the jobs of
all cells share one pool (:func:`run_jobs`), so no worker idles while any cell has work, and a cell's record is
written when its last job ends (``wall_seconds``: from the start of the jobs to then; cells overlap). As
for ``accuracy``, finished folds resume from a partial file (each written as it ends) and a
(model, dataset) already recorded in <name>.json by the same command is kept unless ``--remeasure``. ``--arms none``
runs only the no-pretraining folds (they do not depend on the backbone, so they can run while it still pretrains
elsewhere); the same command without ``--arms`` later runs only the 3DMRL folds and writes the record (its
``wall_seconds`` is then that invocation's; the CPU seconds count every fold). Every job uses
one torch thread (two threads per process were 5-10x slower on the loaded 2-core machine). One record per (model,
dataset): pretrainer, pair set and its transductive flag, the pretraining budget (epochs, pairs per fold, batch, lr),
both arms' mean ± std over repeats, the improvement in %, the paper's numbers (bench/targets.py) and the CPU
seconds of each arm (sum of its jobs' wall time; one thread each).

``probe``: a cheap look at what pretraining taught, without fine-tuning: ridge regression on the frozen pair
embeddings of a pretrained backbone and of the same architecture at random initialisation, over the same mi5fold
folds (λ chosen on validation, test RMSE at that λ), for the readout (``pair_emb``) and the contrastive space (``z``).
A pretraining checkpoint can stand in for a backbone, to probe a long pretraining on the way.

``pretrain-throughput``: conformer generation rate (cold cache, N worker processes), 3DMRL pretraining pairs/s for
CIGIN on CompSol pairs (conformers cached), eager, with ``--compile`` (its native C kernels, zoo_core.nn.native_aggregate)
and with torch.compile's kernels in their place (``--compile`` before session 20), in the same run, and
the reuse timing: the same ``zoo run --pretrainer 3dmrl`` twice on fresh caches, first-run vs second-run
pretraining-stage seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context

ARM_NONE = "none"


@dataclass
class Cell:
    """One (model, dataset) of a pretraining bench: its jobs still to run and where finished ones are kept.
    ``gate``: with a shared pair set, the first pretraining job, which builds (or reuses) the backbone; the cell's
    other pretraining jobs wait for it."""

    key: tuple
    pre: list
    plain: list
    finished: object  # run_bench.FinishedFolds
    jobs: list = field(default_factory=list)  # every job of the cell, in record order (finished ones too)
    gate: dict | None = None


def run_jobs(pool, job_fn, cells: list, workers: int, one_backbone: bool, cell_done=None) -> None:
    """Run the fold jobs of every cell on ``pool`` with at most ``workers`` in flight, recording each in its cell's
    FinishedFolds as soon as it ends (an interrupted bench keeps every finished fold) and calling
    ``cell_done(cell)`` when a cell's last job ends. A free worker takes, in order: the next gate (``one_backbone``:
    one at a time, in cell order, so two workers never wait on the same backbone's lock), a pretraining job whose
    gate is done (the long ones, early), then a no-pretraining job of any cell, and only when none is left a
    pretraining job of a cell still behind its gate (it reads the backbone from the cache when an earlier run made it,
    else waits on its lock, which idles no more than leaving the worker free would). So the no-pretraining arms of
    later cells run while a backbone pretrains, and no worker idles while any cell has work left."""
    for cell in cells:
        cell.pre, cell.plain = list(cell.pre), list(cell.plain)
        cell.gate = cell.pre.pop(0) if one_backbone and cell.pre else None
    gates = [c for c in cells if c.gate is not None]
    released = [c for c in cells if c.gate is None]
    running: dict = {}
    left = {id(c): len(c.pre) + len(c.plain) + (c.gate is not None) for c in cells}
    for cell in cells:
        if not left[id(cell)] and cell_done is not None:  # every fold finished in an earlier, interrupted run
            cell_done(cell)

    def next_job():
        if gates and not any(job is gates[0].gate for job, _ in running.values()):
            return gates[0], gates[0].gate
        for cell in released:
            if cell.pre:
                return cell, cell.pre.pop(0)
        for cell in cells:
            if cell.plain:
                return cell, cell.plain.pop(0)
        for cell in gates:
            if cell.pre:
                return cell, cell.pre.pop(0)
        return None

    while True:
        while len(running) < workers and (picked := next_job()) is not None:
            cell, job = picked
            running[pool.submit(job_fn, job)] = (job, cell)
        if not running:
            break
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in done:
            job, cell = running.pop(fut)
            cell.finished.add(job, fut.result())
            if gates and job is gates[0].gate:
                released.append(gates.pop(0))
            left[id(cell)] -= 1
            if not left[id(cell)] and cell_done is not None:
                cell_done(cell)


def add_parsers(sub) -> None:
    p = sub.add_parser("pretraining", help="both arms (no pretraining, 3DMRL) on the same folds and seeds")
    p.add_argument("--models", "--model", default="cigin", help="encoder or encoder@pair_model, comma-separated")
    p.add_argument("--datasets", default="freesolv,compsol,abraham")
    p.add_argument("--pretrainer", default="3dmrl")
    p.add_argument("--pair-set", default="train-split", help="a pair set (`zoo list pair-sets`)")
    p.add_argument("--pairs-ratio", type=float, default=None, help="override the pair set's subsample ratio")
    p.add_argument("--pretrain-epochs", type=int, default=100)
    p.add_argument("--pretrain-lr", type=float, default=None, help="default: the dataset's (1e-4 solvation)")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--patience", type=int, default=50)
    p.add_argument("--freeze-backbone-epochs", type=int, default=0,
                   help="both arms: train only the prediction head this many epochs first (LP-FT; 0 = the paper)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--folds-limit", type=int, default=None, help="run only folds 0..K-1 of the 5 (smoke tests)")
    p.add_argument("--arms", default=None,
                   help=f"run only these arms' folds now ({ARM_NONE} and/or the pretrainer, comma-separated; default: "
                        "both); they are kept in the resume file, and a cell's record is written by the invocation "
                        "that finishes its last fold")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--name", default="pretraining")
    p.add_argument("--note", default="", help="a sentence stored with each record and shown in BENCHMARKS.md")
    p.add_argument("--remeasure", action="store_true",
                   help="measure cells already recorded in <name>.json by the same command again (default: keep them)")
    t = sub.add_parser("pretrain-throughput", help="conformers/s, pretraining pairs/s, cache reuse timing")
    t.add_argument("--model", default="cigin")
    t.add_argument("--workers", type=int, default=2, help="conformer worker processes")
    t.add_argument("--threads", type=int, default=1, help="torch threads (1 = what a benchmark worker uses)")
    t.add_argument("--pairs", type=int, default=500, help="seeded random CompSol pairs per pretraining epoch (0 = all)")
    t.add_argument("--epochs", type=int, default=2, help="pretraining epochs measured (the fastest is reported)")
    t.add_argument("--reuse-pretrain-epochs", type=int, default=2)
    t.add_argument("--reuse-epochs", type=int, default=2)
    t.add_argument("--name", default="pretrain-throughput")
    t.add_argument("--note", default="", help="a sentence stored with each record (e.g. what else ran on the cores)")
    q = sub.add_parser("probe", help="ridge probes on frozen embeddings: pretrained backbone vs random init")
    q.add_argument("--backbones", required=True,
                   help="backbone .safetensors files (zoo pretrain) or pretraining checkpoints, comma-separated")
    q.add_argument("--datasets", default="freesolv,compsol,abraham")
    q.add_argument("--seed", type=int, default=0, help="torch seed of the random-init arm")
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--name", default="probe")
    q.add_argument("--note", default="", help="a sentence stored with each record and shown in BENCHMARKS.md")


# ---------------------------------------------------------------------------------------------------------------
# pretraining: both arms


def _job(job: dict) -> dict:
    import torch

    torch.set_num_threads(job["threads"])
    from bench.run_bench import run_or_resume

    cli = {"encoder": job["encoder"], "pair_model": job["pair_model"], "dataset": job["dataset"],
           "seed": job["repeat"], "repeats": 1, "folds": 5, "only_folds": [job["fold"]], "epochs": job["epochs"],
           "patience": job["patience"], "output": job["out"], "threads": job["threads"],
           "freeze_backbone_epochs": job.get("freeze_backbone_epochs")}
    if job["arm"] != ARM_NONE:
        cli.update(pretrainer=job["arm"], pairs=job["pair_set"], pairs_ratio=job["pairs_ratio"],
                   pretrain_epochs=job["pretrain_epochs"], pretrain_lr=job["pretrain_lr"])
    t0 = time.perf_counter()
    key = json.dumps({k: v for k, v in job.items() if k != "out"}, sort_keys=True)
    model = job["encoder"] + (f"@{job['pair_model']}" if job["pair_model"] else "")
    run_dir, metrics = run_or_resume(cli, f"{job['arm']}-{model}-{job['dataset']}-r{job['repeat']}-f{job['fold']}", key)
    f = metrics["folds"][0]
    rec = {"arm": job["arm"], "repeat": job["repeat"], "fold": job["fold"], "test": f["test"],
           "best_epoch": f["best_epoch"], "epochs_run": f["epochs_run"], "seconds": f["seconds"],
           # a fold read back from its finished run (resumed bench) counts its training seconds
           "job_seconds": round(max(time.perf_counter() - t0, f["seconds"]), 3), "run_dir": str(run_dir)}
    if metrics.get("pretraining"):
        p = metrics["pretraining"]["folds"][0]
        rec["pretraining"] = {k: p.get(k) for k in ("pair_set", "transductive", "pairs", "epochs", "batch_size",
                                                    "lr", "reused", "seconds", "backbone_seconds", "weights")}
    return rec


def _prepare(job: dict) -> dict:
    """Conformers of every molecule the 3DMRL jobs will pretrain on, into the cache (``workers`` processes)."""
    from zoo_core.data.datasets import dataset_entry, load_table
    from zoo_core.data.pair_sets import is_train_split, resolve

    t0 = time.perf_counter()
    entry = dataset_entry(job["dataset"])
    if is_train_split(job["pair_set"]):
        table = load_table(job["dataset"])
        smiles = table.a + table.b
    else:
        pairs = resolve(job["pair_set"], ratio=job["pairs_ratio"], downstream=job["dataset"]).pairs
        smiles = [s for p in pairs for s in p]
    if job["pretrainer"] != "3dmrl":
        return {"molecules": None, "seconds": 0.0}
    from zoo_core.chem.conformers import build_conformers

    confs, stats = build_conformers(smiles, bool(entry["explicit_h"]), seed=0, workers=job["workers"],
                                    progress=False)
    return {"molecules": len(confs), "embedded": stats["embedded"], "from_cache": stats["from_cache"],
            "seconds": round(time.perf_counter() - t0, 3)}


def _arm_summary(folds: list[dict], repeats: int) -> dict:
    import numpy as np

    per_repeat = [float(np.mean([f["test"]["rmse"] for f in folds if f["repeat"] == r])) for r in range(repeats)]
    return {"mean": float(np.mean(per_repeat)), "std": float(np.std(per_repeat)), "per_repeat": per_repeat,
            "mean_best_epoch": float(np.mean([f["best_epoch"] for f in folds])),
            "cpu_seconds": round(sum(f["job_seconds"] for f in folds), 1)}


def _arms(args) -> list[str]:
    """The arms ``--arms`` names (default: both); an unknown one stops the bench."""
    both = [ARM_NONE, args.pretrainer]
    arms = both if args.arms is None else [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(arms) - set(both))
    if unknown or not arms:
        raise SystemExit(f"--arms: {', '.join(unknown) or 'none given'}; choose from {', '.join(both)}")
    return arms


def _command(args, model: str, dataset: str) -> str:
    cmd = (f"python bench/run_bench.py pretraining --models {model} --datasets {dataset} --pretrainer {args.pretrainer} "
           f"--pair-set {args.pair_set} --pretrain-epochs {args.pretrain_epochs} --epochs {args.epochs} "
           f"--patience {args.patience} --repeats {args.repeats}")
    for flag, value in (("--pairs-ratio", args.pairs_ratio), ("--pretrain-lr", args.pretrain_lr),
                        ("--freeze-backbone-epochs", args.freeze_backbone_epochs or None),
                        ("--folds-limit", args.folds_limit)):
        if value is not None:
            cmd += f" {flag} {value}"
    return cmd


def _cells(args, models: list[str], datasets: list[str], todo: set, folds: list[int], out: str,
           arms: list[str], results) -> list[Cell]:
    """One Cell per (model, dataset) to measure, holding both arms' fold jobs (``jobs``, in record order) and, to run
    now, those of ``arms`` that its resume file (in the folder ``results``) does not hold yet."""
    from bench.run_bench import FinishedFolds

    cells = []
    for dataset in datasets:
        for model in [m for m in models if (m, dataset) in todo]:
            encoder, _, pair_model = model.partition("@")
            base = {"encoder": encoder, "pair_model": pair_model or None, "dataset": dataset, "epochs": args.epochs,
                    "patience": args.patience, "out": out, "pair_set": args.pair_set, "pairs_ratio": args.pairs_ratio,
                    "pretrain_epochs": args.pretrain_epochs, "pretrain_lr": args.pretrain_lr, "threads": 1}
            if args.freeze_backbone_epochs:  # only then in the job (the resume key), so older partials still match
                base["freeze_backbone_epochs"] = args.freeze_backbone_epochs
            pre_jobs = [dict(base, arm=args.pretrainer, repeat=r, fold=k) for r in range(args.repeats) for k in folds]
            plain_jobs = [dict(base, arm=ARM_NONE, repeat=r, fold=k) for r in range(args.repeats) for k in folds]
            finished = FinishedFolds(results / f".partial-{args.name}-{model}-{dataset}.json", scratch_key="out")
            cells.append(Cell((model, dataset), finished.pending(pre_jobs) if args.pretrainer in arms else [],
                              finished.pending(plain_jobs) if ARM_NONE in arms else [], finished,
                              pre_jobs + plain_jobs))
    return cells


def pretraining(args) -> None:
    import numpy as np

    from bench.records import RESULTS, save_records
    from bench.run_bench import machine, plan_cells, scratch
    from bench.targets import PAPER_3DMRL_RMSE, PAPER_RMSE

    from zoo_core.data.pair_sets import definition, is_train_split

    models = [m.strip() for m in args.models.split(",")]
    datasets = [d.strip() for d in args.datasets.split(",")]
    folds = list(range(min(5, args.folds_limit or 5)))
    arms = _arms(args)
    shared_set = not is_train_split(args.pair_set)
    set_def = definition(args.pair_set)  # fails early on an unknown pair set
    out = scratch(args.name)
    spawn = get_context("spawn")  # the parent stays free of torch/OpenMP state
    todo, records = plan_cells(RESULTS / f"{args.name}.json",
                               {(m, d): _command(args, m, d) for d in datasets for m in models}, args.remeasure)
    conformers = {}
    for dataset in [d for d in datasets if any((m, d) in todo for m in models)]:
        prep = {"dataset": dataset, "pair_set": args.pair_set, "pairs_ratio": args.pairs_ratio,
                "pretrainer": args.pretrainer, "workers": args.workers}
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            conformers[dataset] = pool.submit(_prepare, prep).result()
        print(f"{dataset}: conformers ready {conformers[dataset]}", flush=True)
    cells = _cells(args, models, datasets, todo, folds, out, arms, RESULTS)
    t0 = time.time()

    def record(cell: Cell) -> None:
        model, dataset = cell.key
        missing = cell.finished.missing(cell.jobs)
        if missing:  # --arms left the other arm for a later invocation
            print(f"{model:>14} {dataset:>10}: {len(cell.jobs) - missing} of {len(cell.jobs)} folds finished "
                  f"(kept in {cell.finished.path.name}); the record waits for the other {missing}", flush=True)
            return
        results = cell.finished.complete(cell.jobs)
        with_arm = [r for r in results if r["arm"] != ARM_NONE]
        without = _arm_summary([r for r in results if r["arm"] == ARM_NONE], args.repeats)
        pretrained = _arm_summary(with_arm, args.repeats)
        pairs = [r["pretraining"]["pairs"] for r in with_arm]
        # what pretraining each distinct backbone cost, also when an earlier `zoo pretrain` made it
        pre_seconds = list({r["pretraining"]["weights"]: r["pretraining"]["backbone_seconds"] for r in with_arm
                            if r["pretraining"].get("backbone_seconds") is not None}.values())
        p_without = PAPER_RMSE.get(model, {}).get(dataset)
        p_with = PAPER_3DMRL_RMSE.get(model, {}).get(dataset)
        first_pre = with_arm[0]["pretraining"]
        rec = {"kind": "pretraining", "model": model, "dataset": dataset, "metric": "rmse",
               "pretrainer": args.pretrainer, "pair_set": args.pair_set,
               "transductive": bool(first_pre["transductive"] or set_def["transductive"]),
               "pretrain_epochs": args.pretrain_epochs, "pretrain_pairs": pairs,
               "pretrain_pairs_mean": float(np.mean(pairs)), "pretrain_batch_size": first_pre["batch_size"],
               "pretrain_lr": first_pre["lr"], "pairs_ratio": args.pairs_ratio,
               "pretrain_seconds_mean": float(np.mean(pre_seconds)) if pre_seconds else None,
               "without": without, "with": pretrained,
               "improvement_pct": 100.0 * (without["mean"] - pretrained["mean"]) / without["mean"],
               "paper_without": list(p_without) if p_without else None,
               "paper_with": list(p_with) if p_with else None,
               "paper_improvement_pct": (100.0 * (p_without[0] - p_with[0]) / p_without[0]
                                         if p_without and p_with else None),
               "folds": len(folds), "folds_total": 5, "repeats": args.repeats, "epochs": args.epochs,
               "patience": args.patience, "freeze_backbone_epochs": args.freeze_backbone_epochs,
               "conformers": conformers[dataset], "workers": args.workers,
               "wall_seconds": round(time.time() - t0, 1), "command": _command(args, model, dataset),
               "date": time.strftime("%Y-%m-%d"), "machine": machine(), "fold_records": results,
               **({"note": args.note} if args.note else {})}
        records.append(rec)
        print(f"{model:>14} {dataset:>10}: without {without['mean']:.4f} ± {without['std']:.4f}, "
              f"with {args.pretrainer} {pretrained['mean']:.4f} ± {pretrained['std']:.4f} "
              f"({rec['improvement_pct']:+.1f} %; paper "
              + (f"{rec['paper_improvement_pct']:+.1f} %" if rec["paper_improvement_pct"] is not None else "—")
              + f") pair set {args.pair_set}{' TRANSDUCTIVE' if rec['transductive'] else ''}; CPU s "
              f"{without['cpu_seconds']} / {pretrained['cpu_seconds']}  [{rec['wall_seconds']} s]", flush=True)
        save_records(args.name, records)

    with ProcessPoolExecutor(max_workers=args.workers, mp_context=spawn) as pool:
        run_jobs(pool, _job, cells, args.workers, shared_set, record)


# ---------------------------------------------------------------------------------------------------------------
# pretrain-throughput

CONFORMERS = r'''
import json, time
from zoo_core.data.datasets import load_table
from zoo_core.chem.conformers import build_conformers
t = load_table("compsol")
smiles = list(dict.fromkeys(t.a + t.b))
t0 = time.perf_counter(); confs, stats = build_conformers(smiles, True, seed=0, workers={workers}, progress=False)
dt = time.perf_counter() - t0
print(json.dumps({{"molecules": len(confs), "embedded": stats["embedded"], "from_cache": stats["from_cache"],
                  "fallback": len(stats["fallback"]), "seconds": dt}}))
'''

PRETRAIN = r'''
import json, numpy as np, torch
from zoo_core.train.memory import peak_rss_gb
torch.set_num_threads({threads})
from zoo_core.data.datasets import load_table
from zoo_core.models import model_spec
from zoo_core.plugins import get_catalog
from zoo_core.registry import get_registry
t = load_table("compsol")
pairs = list(dict.fromkeys(zip(t.a, t.b)))
pairs = [pairs[i] for i in np.sort(np.random.default_rng(0).permutation(len(pairs))[:{limit} or len(pairs)])]
spec = model_spec("{encoder}", {pair_model!r}, task="regression", explicit_h=True)
cls = get_catalog().get("pretrainers", "3dmrl").load()
params = get_registry().entry("pretrainers", "3dmrl").params
if {inductor}:  # --compile as it was before session 20: torch.compile's kernels on CPU too
    from zoo_core.nn import native_aggregate
    native_aggregate.supports = lambda *tensors: False
model, history = cls.pretrain(spec, pairs, epochs={epochs}, batch_size=48, lr=1e-4, seed=0, params=params, workers=1,
                              progress=False, compile={compile})
best = min(h["seconds"] for h in history)
print(json.dumps({{"pairs": len(pairs), "seconds_per_epoch": best, "pairs_per_s": len(pairs) / best,
                  "epochs": [h["seconds"] for h in history],
                  "peak_rss_gb": peak_rss_gb()}}))
'''


def _zoo_run_json(args: list[str], env: dict) -> tuple[dict, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "zoo_cli.main", *args, "--json", "-q"], capture_output=True, text=True,
                       env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout), time.perf_counter() - t0


def pretrain_throughput(args) -> None:
    from bench.records import save_records
    from bench.run_bench import machine, run_child

    encoder, _, pair_model = args.model.partition("@")
    pair_model = pair_model or None
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-bench-home-")  # cold caches; run_child inherits it
    date, mach = time.strftime("%Y-%m-%d"), machine()
    cmd = (f"python bench/run_bench.py pretrain-throughput --model {args.model} --workers {args.workers} "
           f"--threads {args.threads} --pairs {args.pairs} --epochs {args.epochs} "
           f"--reuse-pretrain-epochs {args.reuse_pretrain_epochs} --reuse-epochs {args.reuse_epochs}")
    base = {"command": cmd, "date": date, "machine": mach, **({"note": args.note} if args.note else {})}
    records = []
    cold = run_child(CONFORMERS.format(workers=args.workers))
    warm = run_child(CONFORMERS.format(workers=args.workers))
    print(f"conformers: cold {cold}, warm {warm}", flush=True)
    records.append({"model": None, "dataset": "compsol", "figure": "conformer generation, cold cache",
                    "value": cold["molecules"] / cold["seconds"], "unit": "molecules/s",
                    "settings": f"ETKDGv3 seed 0, explicit H, {args.workers} worker processes",
                    "detail": cold, **base})
    records.append({"model": None, "dataset": "compsol", "figure": "conformers, warm cache",
                    "value": warm["seconds"], "unit": f"s ({warm['embedded']} embedded)",
                    "settings": "read from ZOO_HOME/conformers", "detail": warm, **base})
    res, inductor, fast = (run_child(PRETRAIN.format(threads=args.threads, limit=args.pairs, encoder=encoder,
                                                  pair_model=pair_model, epochs=args.epochs, compile=compile,
                                                  inductor=inductor))
                           for compile, inductor in ((False, False), (True, True), (True, False)))
    print(f"pretraining: eager {res}, torch.compile kernels {inductor}, native kernels {fast}", flush=True)
    name = args.model
    settings = (f"3DMRL, batch 48, explicit H, SchNet 6 x 64, {res['pairs']} random pairs per epoch, "
                f"{args.threads} thread(s), conformers cached")
    speedup, over_inductor = (fast["pairs_per_s"] / r["pairs_per_s"] for r in (res, inductor))
    for figure, value, unit, detail in (
            ("3DMRL pretraining pairs/s", res["pairs_per_s"], "pairs/s", res),
            ("3DMRL pretraining pairs/s, torch.compile kernels (--compile before session 20)",
             inductor["pairs_per_s"], "pairs/s (fastest epoch, compilation excluded)", inductor),
            ("3DMRL pretraining pairs/s, --compile", fast["pairs_per_s"],
             f"pairs/s ({speedup:.2f}x eager, {over_inductor:.2f}x torch.compile kernels, same run; native C "
             f"kernels; fastest epoch, compilation excluded)", fast),
            ("3DMRL pretraining peak memory", res["peak_rss_gb"], "GB (process max RSS)", res)):
        records.append({"model": name, "dataset": "compsol", "figure": figure, "value": value, "unit": unit,
                        "settings": settings, "detail": detail, **base})
    env = dict(os.environ, ZOO_HOME=tempfile.mkdtemp(prefix="zoo-bench-home-"))
    out = tempfile.mkdtemp(prefix="zoo-bench-runs-")
    run_args = ["run", "--encoder", args.model.split("@")[0], "--pretrainer", "3dmrl", "--dataset", "freesolv",
                "--folds", "5", "--repeats", "1", "--only-fold", "0", "--epochs", str(args.reuse_epochs),
                "--pretrain-epochs", str(args.reuse_pretrain_epochs), "--threads", str(args.threads),
                "--output", out]
    if pair_model:
        run_args += ["--pair-model", pair_model]
    first, first_wall = _zoo_run_json(run_args, env)
    second, second_wall = _zoo_run_json(run_args, env)
    settings = (f"zoo run --pretrainer 3dmrl, freesolv fold 0, {first['pretraining']['pairs_per_fold'][0]} pairs, "
                f"{args.reuse_pretrain_epochs} pretraining epoch(s), {args.threads} thread(s)")
    for label, result, wall in (("first run (cold caches)", first, first_wall), ("second run (reuse)", second,
                                                                                  second_wall)):
        pre = result["pretraining"]
        records.append({"model": name, "dataset": "freesolv", "figure": f"pretraining stage, {label}",
                        "value": pre["seconds"][0], "unit": f"s (process wall {wall:.1f} s; reused: {pre['reused'][0]})",
                        "settings": settings, "detail": pre, **base})
    print(f"reuse: first {first['pretraining']['seconds']} s (wall {first_wall:.1f}), second "
          f"{second['pretraining']['seconds']} s (wall {second_wall:.1f})", flush=True)
    save_records(args.name, records)


# ---------------------------------------------------------------------------------------------------------------
# probe: what a pretrained backbone's frozen embeddings already know


PROBE_LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0)


def ridge_probe(x, y, folds, lambdas=PROBE_LAMBDAS) -> dict:
    """Linear probe over the accuracy protocol's folds: per fold, standardise ``x`` on the training rows, fit ridge
    regression (intercept = the training mean) for each λ on the training rows, keep the λ with the best validation
    RMSE and report the test RMSE at that λ (the best-validation rule). ``folds``: (train, valid, test) row arrays."""
    import numpy as np

    tests, chosen = [], []
    for train, valid, test in folds:
        mu, sd = x[train].mean(0), x[train].std(0) + 1e-8
        a = (x[train] - mu) / sd
        y_mean = y[train].mean()
        gram, rhs = a.T @ a, a.T @ (y[train] - y_mean)

        def rmse(w, rows):
            return float(np.sqrt(np.mean(((x[rows] - mu) / sd @ w + y_mean - y[rows]) ** 2)))

        best = None  # (validation RMSE, λ, weights)
        for lam in lambdas:
            w = np.linalg.solve(gram + lam * np.eye(len(gram)), rhs)
            score = rmse(w, valid)
            if best is None or score < best[0]:
                best = (score, lam, w)
        tests.append(rmse(best[2], test))
        chosen.append(best[1])
    return {"mean": float(np.mean(tests)), "folds": tests, "lambda": chosen}


def _embeddings(model, data) -> dict:
    """Frozen (eval-mode) pair embeddings of every row: the readout the prediction head reads (``pair_emb``) and
    its projection into 3DMRL's contrastive space (``z``)."""
    import numpy as np
    import torch

    model.eval()
    emb, z = [], []
    with torch.no_grad():
        for batch in data.batches(np.arange(len(data)), 512):
            out = model(batch)
            emb.append(out.pair_emb.numpy())
            z.append(model.projector(out.pair_emb).numpy())
    return {"pair_emb": np.concatenate(emb), "z": np.concatenate(z)}


def load_backbone(path: str):
    """(model, spec, meta) of a backbone file, or of the backbone inside a pretraining checkpoint
    (``.<key>.checkpoint.safetensors``: its epochs so far, fractional when it was saved within an epoch, so a long
    pretraining can be probed on the way)."""
    from safetensors.torch import load_file

    from zoo_core.models import build_model
    from zoo_core.train.checkpoint import checkpoint_meta, under_prefix
    from zoo_core.weights import load_model

    if not path.endswith(".checkpoint.safetensors"):
        return load_model(path)
    info = checkpoint_meta(path)
    if "spec" not in info:
        raise SystemExit(f"{path}: this checkpoint predates stored model specs; probe a backbone file instead")
    model = build_model(info["spec"])
    model.load_state_dict(under_prefix("model", load_file(path)))
    model.eval()
    history, rows = info["history"], int(info.get("epoch_rows", 0))
    pairs = history[0].get("pairs") if history else None
    epochs = info["epoch"] + (round(rows / pairs, 3) if rows and pairs else 0)  # saved within an epoch: a fraction
    return model, info["spec"], {**info.get("meta", {}), "pretrainer": "3dmrl", "epochs": epochs,
                                 "history": history, "lr": info.get("lr"), "pretrain_pairs": pairs}


def probe(args) -> None:
    """For each backbone file and dataset: ridge probes on the frozen embeddings of the pretrained backbone and of the
    same architecture at random initialisation (seeded), over the same folds, in one run."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from bench.records import save_records
    from bench.run_bench import machine
    from zoo_core.data.datasets import load_table
    from zoo_core.data.pairs import PairDataset
    from zoo_core.data.splits import make_splits
    from zoo_core.models import build_model
    from zoo_core.registry import get_registry

    date, mach = time.strftime("%Y-%m-%d"), machine()
    records = []
    for path in [b.strip() for b in args.backbones.split(",")]:
        pretrained, spec, meta = load_backbone(path)
        torch.manual_seed(args.seed)
        random_init = build_model(spec)
        history = meta.get("history") or []
        pair_set = meta.get("pair_set") or {}
        for dataset in [d.strip() for d in args.datasets.split(",")]:
            entry = get_registry().entry("datasets", dataset)
            if bool(entry["explicit_h"]) != bool(spec["featurizer"]["explicit_h"]):
                raise SystemExit(f"{path}: featurized with explicit_h={spec['featurizer']['explicit_h']}, "
                                 f"{dataset} uses explicit_h={entry['explicit_h']}")
            data = PairDataset.from_table(load_table(dataset), spec["featurizer"]["name"],
                                          bool(entry["explicit_h"]), progress=False)
            y = data.y.numpy().reshape(len(data), -1)[:, 0].astype(np.float64)
            folds = [tuple(np.asarray(part) for part in f)
                     for f in make_splits(entry["split"], len(data), 0, data.table.a, data.table.b, n_folds=5)]
            arms = {"random init": _embeddings(random_init, data), "pretrained": _embeddings(pretrained, data)}
            result = {}
            for space in ("pair_emb", "z"):
                r = {arm: ridge_probe(e[space].astype(np.float64), y, folds) for arm, e in arms.items()}
                base, pre = r["random init"]["mean"], r["pretrained"]["mean"]
                result[space] = {**r, "dims": int(arms["pretrained"][space].shape[1]),
                                 "improvement_pct": 100 * (base - pre) / base}
            records.append({
                "kind": "probe", "model": f"{spec['pair_model']}({spec['encoder']})", "dataset": dataset,
                "metric": "rmse", "backbone": os.path.basename(path), "pretrainer": meta.get("pretrainer"),
                "pair_set": pair_set.get("pair_set"), "transductive": pair_set.get("transductive"),
                "pretrain_epochs": meta.get("epochs"), "pretrain_pairs": meta.get("pretrain_pairs"),
                "pretrain_lr": meta.get("lr"),
                "pretrain_loss": [history[0]["loss"], history[-1]["loss"]] if history else None,
                "random_init_seed": args.seed, "lambdas": list(PROBE_LAMBDAS), "spaces": result,
                "command": (f"python bench/run_bench.py probe --backbones {args.backbones} --datasets {args.datasets}"
                            f" --seed {args.seed}"),
                "date": date, "machine": mach, **({"note": args.note} if args.note else {})})
            print(f"{os.path.basename(path)} {dataset}: " + ", ".join(
                f"{space} {v['random init']['mean']:.3f} -> {v['pretrained']['mean']:.3f}"
                for space, v in result.items()), flush=True)
    save_records(args.name, records)


COMMANDS = {"pretraining": pretraining, "pretrain-throughput": pretrain_throughput, "probe": probe}
