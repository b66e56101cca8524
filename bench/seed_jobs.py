"""Cells of seeded `zoo run` jobs (one job per seed) on a process pool, resumable, one record per finished cell.

Shared by the MoleculeNet and DDI benches: a cell (e.g. (model, dataset[, split])) has one job per seed; finished
jobs are kept in bench/results/.partial-<name>.json, so a rerun of the same command resumes; a cell's record is
written (bench.records.save_records: commit stamped, no local paths) as soon as its last seed finishes.
"""

from __future__ import annotations

import json
from typing import Callable

from bench.pool import run_pending
from bench.records import RESULTS, save_records
from bench.run_bench import FinishedFolds


def recorded(name: str, key: Callable[[dict], tuple]) -> dict[tuple, dict]:
    """The records already in bench/results/<name>.json, by cell key."""
    path = RESULTS / f"{name}.json"
    return {key(r): r for r in (json.loads(path.read_text()) if path.exists() else [])}


def seed_major(jobs: dict[tuple, list[tuple]]) -> list[tuple]:
    """Every cell's first seed, then every cell's second, ...: a command stopped part-way leaves the cells compared
    on the same seeds (I2Mole beside CGIB on seed 0) rather than one cell complete and the next not begun."""
    lists = list(jobs.values())
    return [cell_jobs[i] for i in range(max(map(len, lists), default=0)) for cell_jobs in lists if i < len(cell_jobs)]


def run_seed_jobs(name: str, jobs: dict[tuple, list[tuple]], job_fn: Callable[[tuple], dict], workers: int,
                  records: dict[tuple, dict], make_record: Callable[[tuple, list[dict]], dict],
                  report: Callable[[tuple, dict], None]) -> None:
    """Run the jobs of every cell in ``jobs`` (cell -> its seed jobs, each a tuple ending with the scratch folder)
    that have not finished yet; ``report`` prints each finished job; ``make_record`` builds a cell's record from its
    jobs' results, in seed order, and it joins ``records`` (written to <name>.json) as soon as the cell's last job
    finishes. A failing job does not stop the others (:func:`bench.pool.run_pending`)."""
    finished = FinishedFolds(RESULTS / f".partial-{name}.json", scratch_key=-1)
    every = seed_major(jobs)

    def record_finished_cells() -> None:
        for cell, cell_jobs in jobs.items():
            if cell not in records and finished.missing(cell_jobs) == 0:
                records[cell] = make_record(cell, [finished.results[finished.key(j)] for j in cell_jobs])
                save_records(name, list(records.values()))

    def on_result(job: tuple, result: dict) -> None:
        finished.add(job, result)
        report(job, result)
        record_finished_cells()

    record_finished_cells()  # cells the partial file already completes (a run stopped before their record)
    run_pending(finished.pending(every), job_fn, workers, on_result)
    if finished.missing(every) == 0:
        finished.path.unlink(missing_ok=True)
