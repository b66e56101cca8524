"""Folds in parallel (issue 38): the wall time of one FreeSolv `zoo run` trained serially and with `--workers N`.

  python bench/run_bench.py workers --repeats 3 --epochs 30 --rounds 2

Both arms are the same `zoo run` (MPNN, 5 folds, ``--repeats`` repeats, ``--epochs`` with patience equal to it so
every fold trains the same number of epochs), each a fresh process timed from start to exit on a warm feature
cache: serial with one torch thread (multi-threaded training does not repeat its own numbers, so one thread is the
serial run whose numbers can be compared), and ``--workers N`` (one thread per worker). The arms alternate,
``--rounds`` times each, in one bench run; the record keeps every wall time, the ratio of the medians, the
machine's load average before each run (another process on the machine shows there), the workers' start-up, and
whether every fold record of every run has the same metrics, best epoch and test predictions to the last digit.
With F equal folds on N workers the ideal ratio is ceil(F / N) / F: 3/5 = 0.6 for one repeat on 2 workers, 8/15 =
0.53 for three.
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

TIMING = ("seconds", "train_pairs_per_s")


def _zoo_run(args, out: Path, *extra: str) -> tuple[float, Path]:
    """(wall seconds, run directory) of one `zoo run` in a fresh process."""
    cmd = [sys.executable, "-m", "zoo_cli.main", "run", "--encoder", "mpnn", "--dataset", "freesolv", "--repeats",
           str(args.repeats), "--epochs", str(args.epochs), "--patience", str(args.epochs), "--output", str(out),
           "--json", "-q", *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return seconds, Path(json.loads(done.stdout)["run_dir"])


def fold_numbers(run_dir: Path) -> dict[str, dict]:
    """Every fold record of a run without its timings: what must be identical between the arms."""
    return {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in TIMING}
            for p in sorted((run_dir / "folds").glob("*.json"))}


def workers(args) -> None:
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-bench-home-")
    out = Path(tempfile.mkdtemp(prefix="zoo-bench-workers-"))
    _zoo_run(args, out / "warm", "--only-fold", "0", "--repeats", "1", "--epochs", "1")  # fills the feature cache
    arms = {"serial": ("--threads", "1"), f"workers {args.workers}": ("--workers", str(args.workers))}
    seconds = {arm: [] for arm in arms}
    load = {arm: [] for arm in arms}
    numbers, startup = [], []
    for rnd in range(args.rounds):
        for arm, extra in arms.items():
            load[arm].append(round(os.getloadavg()[0], 2))
            wall, run_dir = _zoo_run(args, out / f"{arm.replace(' ', '-')}-{rnd}", *extra)
            seconds[arm].append(round(wall, 2))
            numbers.append(fold_numbers(run_dir))
            startup += json.loads((run_dir / "metrics.json").read_text()).get("workers", {}).get("startup_seconds", [])
            print(f"round {rnd} {arm}: {wall:.1f} s (load average before {load[arm][-1]})", flush=True)
    serial, parallel = (statistics.median(seconds[arm]) for arm in arms)
    record = {"kind": "workers", "model": "mpnn", "dataset": "freesolv", "folds": 5, "repeats": args.repeats,
              "epochs": args.epochs, "patience": args.epochs, "workers": args.workers, "rounds": args.rounds,
              "seconds": seconds, "load_average_before": load, "ratio": parallel / serial,
              "worker_startup_seconds": startup, "identical_fold_numbers": all(n == numbers[0] for n in numbers),
              "folds_compared": len(numbers[0]),
              "command": (f"python bench/run_bench.py workers --repeats {args.repeats} --epochs {args.epochs} "
                          f"--workers {args.workers} --rounds {args.rounds}"),
              "date": time.strftime("%Y-%m-%d"), "machine": machine(), **({"note": args.note} if args.note else {})}
    print(f"serial {serial:.1f} s, {args.workers} workers {parallel:.1f} s: ratio {record['ratio']:.3f}; fold "
          f"numbers identical: {record['identical_fold_numbers']}", flush=True)
    save_records(args.name, [record])
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(os.environ["ZOO_HOME"], ignore_errors=True)


def add_parser(sub) -> None:
    w = sub.add_parser("workers", help="zoo run --workers N against a serial run: wall time and identical folds "
                                       "(issue 38)")
    w.add_argument("--repeats", type=int, default=3, help="repeats of 5 folds (3: the zoo's default protocol)")
    w.add_argument("--epochs", type=int, default=30, help="epochs of every fold (patience equals it)")
    w.add_argument("--workers", type=int, default=2)
    w.add_argument("--rounds", type=int, default=2, help="timed runs of each arm, interleaved")
    w.add_argument("--name", default="workers")
    w.add_argument("--note", default="", help="a sentence stored with the record (e.g. that the machine was shared)")
