"""What the training-throughput benches share (bench/ddi_throughput.py, bench/molinteract_throughput.py): timing a
trainer's own step in a measurement child, the molecules it trained on, the machine's load average and the note
that names it, and keeping the records of a bench file that a run does not measure again.

A measurement child (``bench.run_bench.run_child``: a fresh process in the repository root) imports
:func:`timed_steps`, :func:`trainer_step` and :func:`molecule_stats` from here; the parent keeps the rest.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable

from bench.records import RESULTS


def timed(fn: Callable, *args) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of ``fn(*args)``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0


def timed_steps(step: Callable[[int, int], None], warmup: int, steps: int) -> tuple[list[float], list[float]]:
    """``step(first, count)`` trains ``count`` batches from batch ``first`` on: ``warmup`` untimed batches, then
    ``steps`` batches timed one by one. Returns (wall seconds per step, CPU seconds per step)."""
    step(0, warmup)
    wall, cpu = zip(*[timed(step, warmup + k, 1) for k in range(steps)]) if steps else ((), ())
    return list(wall), list(cpu)


def check_rows(warmup: int, steps: int, batch_size: int, rows: int, what: str = "training rows") -> None:
    """Stop when ``warmup + steps`` batches of ``batch_size`` need more than the ``rows`` there are."""
    if (warmup + steps) * batch_size > rows:
        raise SystemExit(f"--warmup + --steps need {(warmup + steps) * batch_size} {what}, there are {rows}")


def trainer_step(model, opt, dataset, order, batch_size: int, loss_fn, scale=None) -> Callable[[int, int], None]:
    """``step(first, count)`` for :func:`timed_steps`: the trainer's own step (``zoo_core.train.trainer.train_epoch``:
    batching, forward, backward, Adam) over rows ``order[first * batch_size:(first + count) * batch_size]``,
    shuffled by ``numpy.random.default_rng(first)``."""
    import numpy as np

    from zoo_core.train.trainer import train_epoch

    def step(first: int, count: int) -> None:
        rows = order[first * batch_size:(first + count) * batch_size]
        train_epoch(model, opt, dataset, rows, batch_size, loss_fn, np.random.default_rng(first), scale=scale)

    return step


def molecule_stats(store) -> dict:
    """Count and size of the molecules of a featurized store (atoms per molecule: mean, median, max; bonds: mean)."""
    import numpy as np

    atoms = np.diff(store.node_ptr.numpy())
    bonds = np.diff(store.edge_ptr.numpy()) / 2
    return {"count": len(atoms), "atoms_mean": float(atoms.mean()), "atoms_median": float(np.median(atoms)),
            "atoms_max": int(atoms.max()), "bonds_mean": float(bonds.mean())}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def load_note(load: dict[str, list[float]], command: str) -> str:
    """The record's note on the machine's load (``load``: averages at the command's ``start`` and ``end``)."""
    return (f"load average (1/5/15 min) {load['start']} at start, {load['end']} at end, on {os.cpu_count()} cores: "
            f"rerun on a quiet machine with `{command}`")


def kept_records(name: str, replaced: set[tuple], cell: Callable[[dict], tuple]) -> list[dict]:
    """The records of bench/results/<name>.json whose ``cell(record)`` is not in ``replaced`` (what this run does
    not measure again), in their order."""
    path = RESULTS / f"{name}.json"
    old = json.loads(path.read_text()) if path.exists() else []
    return [r for r in old if cell(r) not in replaced]
