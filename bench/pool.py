"""The benches' one job loop: run jobs on a process pool, hand each result on as it finishes, and let a failing job
neither stop the others (each may take hours) nor pass silently (the first failure is raised once they have ended).

Used by bench/run_bench.py (run_cells), bench/seed_jobs.py (run_seed_jobs) and bench/qm9_bench.py (run_jobs); each
keeps its own resume file (bench.run_bench.FinishedFolds) and decides which jobs are still to run.
bench/publish_weights.py (run_jobs, ``--workers`` > 1) runs its recipes on it too, counting the failures. Not
bench/pretrain_bench.py's run_jobs: it picks each next job when a worker frees, from which jobs have ended (a cell's
backbone job releases its other pretraining jobs), while run_pending submits every job at once.
"""

from __future__ import annotations

import sys
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Callable


def run_pending(todo: list, job_fn: Callable, pool: int | Executor, on_result: Callable[[object, dict], None],
                label: Callable[[object], str] = repr) -> None:
    """Run ``job_fn(job)`` for every job of ``todo`` on ``pool`` (a worker count: a new ProcessPoolExecutor; or an
    executor, which is shut down at the end) and call ``on_result(job, result)`` as each job finishes. A job that
    fails is reported on stderr (``label(job)`` names it) and the others go on; the first failure is raised once every
    job has ended."""
    executor = ProcessPoolExecutor(max_workers=pool) if isinstance(pool, int) else pool
    errors = []
    with executor:
        futures = {executor.submit(job_fn, job): job for job in todo}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - reported now, raised after the other jobs
                print(f"{label(job)} failed: {error!r}", file=sys.stderr, flush=True)
                errors.append(error)
                continue
            on_result(job, result)
    if errors:
        raise errors[0]
