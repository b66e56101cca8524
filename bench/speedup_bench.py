"""Same-run speed-up against a baseline commit (issue 38 part 4): training pairs/s and peak memory of the current
code and of ``--baseline`` (checked out into a temporary ``git worktree``), measured in one bench run.

  python bench/run_bench.py speedup --baseline c3140af --models attentivefp,cigin --dataset compsol --threads 2 \\
      --rounds 5

Each side runs in its own fresh process with ``PYTHONPATH=<tree>:<tree>/plugins/zoo-*`` (its own code only; a
plugin the baseline tree lacks is disabled there) and its own feature cache, filled before the first round. A
child trains the throughput bench's step (``zoo_core.train.trainer.train_epoch``: batching, forward, backward,
Adam) on the same rows for both sides: ``--warmup`` steps, then ``--steps`` timed steps of ``--batch-size`` pairs
in the order a seeded generator draws; peak memory is the child's max RSS. Pairs per CPU-s (the child's CPU
time over the timed steps, its threads together) is recorded beside the wall-clock pairs/s: other work on the
machine moves it less. The sides alternate, and which goes
first alternates by round (A B, B A, ...); the record keeps every run, the machine's load average before each,
the medians and the ratios current / baseline (and of the fastest runs: under other load, the least disturbed).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.records import ROOT, save_records
from bench.run_bench import machine

TARGETS = {"attentivefp": 1.5, "cigin": 1.3}   # issue 38 part 4: minimum pairs/s ratio against c3140af ...
ACCEPTANCE = {"dataset": "compsol", "threads": 2, "batch_size": 256}   # ... in this setting
SIDES = ("baseline", "current")

CHILD = r'''
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads({threads})
from zoo_core.data.datasets import load_table
from zoo_core.data.pairs import PairDataset
from zoo_core.models import model_spec, build_model
from zoo_core.train.optim import Adam
from zoo_core.train.trainer import task_loss_fn, train_epoch
spec = model_spec({encoder!r}, {pair_model!r}, task="regression", explicit_h=True)
ds = PairDataset.from_table(load_table({dataset!r}), spec["featurizer"]["name"], True, progress=False)
rows = np.random.default_rng(0).permutation(len(ds))
torch.manual_seed(0); model = build_model(spec); opt = Adam(model.parameters(), 1e-3); lf = task_loss_fn("regression")
def train(steps, seed):
    """``steps`` training steps of the batch size over the first rows of the permutation, in a seeded order."""
    n = min(len(ds), steps * {batch_size})
    t0, c0 = time.perf_counter(), time.process_time()
    train_epoch(model, opt, ds, rows[:n], {batch_size}, lf, np.random.default_rng(seed))
    return n, time.perf_counter() - t0, time.process_time() - c0
train({warmup}, 1)
pairs, seconds, cpu = train({steps}, 2)
print(json.dumps({{"pairs": pairs, "seconds": seconds, "pairs_per_s": pairs / seconds, "pairs_per_cpu_s": pairs / cpu,
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}}))
'''


def side_env(tree: Path, home: Path) -> dict:
    """The environment of a child of ``tree``: its code first on the path, its own ZOO_HOME, and the installed
    plugins that ``tree`` does not have disabled (else they would be imported from the installed checkout)."""
    from importlib.metadata import entry_points

    plugins = sorted(str(p) for p in (tree / "plugins").glob("zoo-*") if p.is_dir())
    absent = sorted({ep.dist.name for ep in entry_points(group="zoo")
                     if ep.dist.name != "zoo-core" and not (tree / "plugins" / ep.dist.name).is_dir()})
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), *plugins]), ZOO_HOME=str(home),
                ZOO_DISABLE_PLUGINS=",".join(absent))


def run_side(tree: Path, env: dict, code: str) -> dict:
    """Run ``code`` in a fresh process in ``tree``; its last stdout line is a JSON object."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tree))
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_code(model: str, args, warmup: int, steps: int) -> str:
    encoder, _, pair_model = model.partition("@")
    return CHILD.format(encoder=encoder, pair_model=pair_model or None, dataset=args.dataset, threads=args.threads,
                        batch_size=args.batch_size, warmup=warmup, steps=steps)


def interleaved(rounds: int, measure) -> dict[str, list[dict]]:
    """``measure(side)`` for both sides, ``rounds`` times each, alternating which side goes first."""
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for rnd in range(rounds):
        for side in (SIDES if rnd % 2 == 0 else SIDES[::-1]):
            load = round(os.getloadavg()[0], 2)
            runs[side].append({**measure(side), "load_average_before": load})
            run = runs[side][-1]
            print(f"  round {rnd} {side}: {run['pairs_per_s']:.1f} pairs/s, {run['pairs_per_cpu_s']:.1f} per CPU-s, "
                  f"{run['peak_rss_gb']:.3f} GB (load {load})", flush=True)
    return runs


def speedup_record(model: str, runs: dict[str, list[dict]], target: float | None) -> dict:
    """Per-side medians of pairs/s and peak memory over the rounds, and the ratios current / baseline; ``target``:
    the pairs/s ratio to meet (None: none applies)."""
    median = {figure: {side: statistics.median(r[figure] for r in runs[side]) for side in SIDES}
              for figure in ("pairs_per_s", "pairs_per_cpu_s", "peak_rss_gb")}
    fastest = {side: max(r["pairs_per_s"] for r in runs[side]) for side in SIDES}
    ratio = median["pairs_per_s"]["current"] / median["pairs_per_s"]["baseline"]
    memory = median["peak_rss_gb"]["current"] / median["peak_rss_gb"]["baseline"]
    return {"kind": "speedup", "model": model, "median_pairs_per_s": median["pairs_per_s"],
            "median_peak_rss_gb": median["peak_rss_gb"], "ratio": ratio, "memory_ratio": memory,
            "fastest_pairs_per_s": fastest, "fastest_ratio": fastest["current"] / fastest["baseline"],
            "median_pairs_per_cpu_s": median["pairs_per_cpu_s"],
            "cpu_ratio": median["pairs_per_cpu_s"]["current"] / median["pairs_per_cpu_s"]["baseline"],
            "target_ratio": target, "meets_target": None if target is None else bool(ratio >= target and memory <= 1),
            "runs": runs}


def worktree(commit: str, folder: Path) -> Path:
    """A detached worktree of ``commit`` under ``folder`` (removed by :func:`drop_worktree`)."""
    tree = folder / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    return tree


def drop_worktree(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True, text=True)


def command_line(args) -> str:
    return (f"python bench/run_bench.py speedup --baseline {args.baseline} --models {args.models} --dataset "
            f"{args.dataset} --threads {args.threads} --batch-size {args.batch_size} --warmup {args.warmup} "
            f"--steps {args.steps} --rounds {args.rounds}")


def speedup(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="zoo-bench-speedup-"))
    base = worktree(args.baseline, folder)
    try:
        commit = subprocess.run(["git", "rev-parse", args.baseline], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        trees = {"baseline": base, "current": ROOT}
        envs = {side: side_env(trees[side], folder / f"home-{side}") for side in SIDES}
        records = []
        acceptance = all(getattr(args, key) == value for key, value in ACCEPTANCE.items())
        for model in args.models.split(","):
            for side in SIDES:   # fills each side's feature cache: the timed children read it warm
                run_side(trees[side], envs[side], child_code(model, args, 0, 1))
            print(f"{model}:", flush=True)
            code = child_code(model, args, args.warmup, args.steps)
            runs = interleaved(args.rounds, lambda side: run_side(trees[side], envs[side], code))
            record = speedup_record(model, runs, TARGETS.get(model) if acceptance else None)
            print(f"{model}: {record['ratio']:.3f}x pairs/s, {record['cpu_ratio']:.3f}x per CPU-s, memory "
                  f"{record['memory_ratio']:.3f}x", flush=True)
            records.append({**record, "dataset": args.dataset, "baseline_commit": commit,
                            "settings": {"explicit_h": True, "batch_size": args.batch_size, "threads": args.threads,
                                         "warmup_steps": args.warmup, "steps": args.steps, "rounds": args.rounds},
                            "command": command_line(args), "date": time.strftime("%Y-%m-%d"), "machine": machine(),
                            **({"note": args.note} if args.note else {})})
        if args.smoke:
            print(json.dumps(records, indent=1))
        else:
            save_records(args.name, records)
    finally:
        drop_worktree(base)
        shutil.rmtree(folder, ignore_errors=True)


def add_parser(sub) -> None:
    s = sub.add_parser("speedup", help="training pairs/s and peak memory of the current code against a baseline "
                                       "commit, interleaved in one run (issue 38 part 4)")
    s.add_argument("--baseline", default="c3140af", help="the commit to compare against")
    s.add_argument("--models", default="attentivefp,cigin", help="encoder or encoder@pair_model, comma-separated")
    s.add_argument("--dataset", default="compsol")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    s.add_argument("--steps", type=int, default=12, help="timed steps per run")
    s.add_argument("--rounds", type=int, default=5, help="runs of each side, interleaved")
    s.add_argument("--smoke", action="store_true", help="print the records instead of writing them (a quick check "
                                                         "with e.g. --steps 1 --rounds 1)")
    s.add_argument("--name", default="speedup")
    s.add_argument("--note", default="", help="a sentence stored with each record (e.g. the machine's other load)")
