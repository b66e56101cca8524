"""Folds as worker processes: ``zoo run --workers N``.

The parent featurizes once (filling the on-disk feature cache), then starts N ``spawn`` processes (never ``fork``:
the parent's torch threads are running); each rebuilds the run from its configuration with
:func:`zoo_core.train.run.reopen` (the data from the cache), sets one torch thread (``threads`` when the run
states it) and trains whole folds through the same :func:`zoo_core.train.run._fold` as the serial loop: the same
seed ``seed * 1000 + fold``, data and code path, so each ``folds/r<R>-f<K>.json`` equals a serial run's to the last
digit. Folds go to the workers in serial order and come back in that order; the worker that trains the first fold
writes ``model.safetensors``. The parent then summarises as a serial run does.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

START_METHOD = "spawn"
_WORKER: dict = {}   # in a worker process: its rebuilt run and how long it took to be ready


def run_folds(r, jobs: list[tuple], workers: int) -> list[tuple]:
    """Train ``jobs`` (:func:`zoo_core.train.run.fold_jobs`) on ``workers`` processes; returns each job's
    (FoldResult, pretraining record) in job order and records the workers' start-up in ``r.shared['workers']``."""
    from zoo_core.train.run import _fold, fold_record

    _fetch_weights_once(r)
    finished = {i for i, job in enumerate(jobs) if r.resume is not None and fold_record(r, *job[:2]).is_file()}
    done = {i: _fold(r, *jobs[i], first=i == 0) for i in finished}   # resuming: read back here, not trained
    todo = [i for i in range(len(jobs)) if i not in finished]
    if todo:
        trained = _train_on_workers(r, [(jobs[i], i == 0) for i in todo], workers)
        done.update(zip(todo, trained))
    return [done[i] for i in range(len(jobs))]


def _train_on_workers(r, jobs: list[tuple], workers: int) -> list[tuple]:
    """(FoldResult, pretraining record) of each ``(job, first)``, trained in a pool of ``workers`` processes."""
    from zoo_core.train.trainer import log

    n = min(workers, len(jobs))
    started = time.time()
    context = multiprocessing.get_context(START_METHOD)
    with ProcessPoolExecutor(max_workers=n, mp_context=context, initializer=_start_worker,
                             initargs=((r.cfg, r.run_dir, r.run_key, r.quiet, r.resume), started)) as pool:
        log(f"zoo run: {len(jobs)} folds on {n} worker processes ({START_METHOD}, "
            f"{r.cfg.get('threads') or 1} torch thread(s) each)", r.quiet)
        futures = [pool.submit(_train_fold, job, first) for job, first in jobs]
        done = [future.result() for future in futures]
    startup = {pid: seconds for _, _, pid, seconds, _ in done}
    r.shared["workers"] = {"processes": n, "start_method": START_METHOD, "threads": int(r.cfg.get("threads") or 1),
                           "startup_seconds": sorted(round(s, 2) for s in startup.values()),
                           "peak_rss_gb": max((peak for *_, peak in done if peak is not None), default=None)}
    log(f"zoo run: worker start-up (imports, data from the feature cache) "
        f"{', '.join(f'{s:.1f}' for s in r.shared['workers']['startup_seconds'])} s", r.quiet)
    return [(result, pre) for result, pre, *_ in done]


def _fetch_weights_once(r) -> None:
    """A weights name is downloaded by the parent, before the workers would each fetch it at once."""
    if r.cfg.get("pretrained_weights"):
        from zoo_core.hub import weights_path

        weights_path(str(r.cfg["pretrained_weights"]), progress=not r.quiet)


def _start_worker(run: tuple, started: float) -> None:
    """A worker's set-up: its torch threads, then the run rebuilt from ``run`` = (cfg, run_dir, run_key, quiet,
    resume) with :func:`zoo_core.train.run.reopen`."""
    import torch

    torch.set_num_threads(int(run[0].get("threads") or 1))
    from zoo_core.train.run import reopen

    _WORKER["run"] = reopen(*run)
    _WORKER["startup"] = time.time() - started


def _train_fold(job: tuple, first: bool) -> tuple:
    """One fold in a worker: (FoldResult, pretraining record, pid, worker start-up seconds, peak RSS in GB)."""
    import os

    from zoo_core.train.memory import peak_rss_gb
    from zoo_core.train.run import _fold

    result, pre = _fold(_WORKER["run"], *job, first=first)
    return result, pre, os.getpid(), _WORKER["startup"], peak_rss_gb()
