"""The bench's record tools: the resumable fold runner (bench/run_bench.py) never reruns a finished fold and completes
cells with their folds in job order; a rerun of some cells of a named bench keeps the file's other cells and skips
the cells that the same command already recorded; the paired comparison (bench/compare.py) uses only the splits both
records hold, and separates the two arms of a pretraining record."""

import json
from pathlib import Path

import pytest

from bench.run_bench import FinishedFolds, plan_cells, run_cells


def _square(job):
    """A fold job stand-in: (cell, fold, log_file, scratch); logs each call so a test can count them."""
    cell, fold, log, _scratch = job
    with open(log, "a") as f:
        f.write(f"{cell}-{fold}\n")
    return {"cell": cell, "fold": fold, "value": fold * fold}


def test_a_rerun_runs_only_the_unfinished_folds_and_completes_every_cell(tmp_path):
    log = str(tmp_path / "calls.log")
    cells = [[("a", k, log, str(tmp_path / "s1")) for k in range(3)],
             [("b", k, log, str(tmp_path / "s1")) for k in range(2)]]
    partials = [tmp_path / ".partial-a.json", tmp_path / ".partial-b.json"]
    # an earlier, interrupted invocation finished fold 1 of cell a and all of cell b; its scratch folder differed
    earlier_a = FinishedFolds(partials[0], scratch_key=-1)
    earlier_a.add(("a", 1, log, "old-scratch"), {"cell": "a", "fold": 1, "value": 1})
    earlier_b = FinishedFolds(partials[1], scratch_key=-1)
    for k in range(2):
        earlier_b.add(("b", k, log, "old-scratch"), {"cell": "b", "fold": k, "value": k * k})

    done = {}
    run_cells(cells, partials, workers=2, cell_done=lambda i, folds: done.setdefault(i, folds), job_fn=_square)

    assert sorted(Path(log).read_text().split()) == ["a-0", "a-2"]
    assert [f["fold"] for f in done[0]] == [0, 1, 2] and [f["value"] for f in done[0]] == [0, 1, 4]
    assert [f["fold"] for f in done[1]] == [0, 1]
    assert not any(p.exists() for p in partials)  # a completed cell leaves no partial file behind


def _fold_two_of_a_fails(job):
    """:func:`_square`, except that fold 2 of cell a fails."""
    if job[:2] == ("a", 2):
        raise RuntimeError("fold a-2 ran out of memory")
    return _square(job)


def test_a_failing_fold_leaves_the_other_cells_recorded_and_its_own_cell_resumable(tmp_path):
    log = str(tmp_path / "calls.log")
    cells = [[("a", k, log, "s") for k in range(3)], [("b", k, log, "s") for k in range(2)]]
    partials = [tmp_path / ".partial-a.json", tmp_path / ".partial-b.json"]
    done = {}
    with pytest.raises(RuntimeError, match="fold a-2"):
        run_cells(cells, partials, workers=2, cell_done=lambda i, folds: done.setdefault(i, folds),
                  job_fn=_fold_two_of_a_fails)
    assert list(done) == [1] and sorted(Path(log).read_text().split()) == ["a-0", "a-1", "b-0", "b-1"]
    assert FinishedFolds(partials[0], scratch_key=-1).pending(cells[0]) == [cells[0][2]]  # a rerun runs fold 2 only



CMD = "python bench/run_bench.py accuracy --models {} --datasets {} --epochs 500 --patience 50 --repeats 3"


def _family(tmp_path):
    path = tmp_path / "family.json"
    path.write_text(json.dumps([
        {"model": "cgib", "dataset": "compsol", "mean": 0.31, "command": CMD.format("cgib", "compsol")},
        {"model": "cgib_cont", "dataset": "compsol", "mean": 0.99, "command": CMD.format("cgib_cont", "compsol")},
        {"model": "cgib_cont", "dataset": "freesolv", "mean": 0.91, "command": CMD.format("cgib_cont", "freesolv")}]))
    return path


def test_a_rerun_of_some_cells_keeps_the_files_other_cells(tmp_path):
    path = _family(tmp_path)
    todo, kept = plan_cells(path, {("cgib_cont", "compsol"): CMD.format("cgib_cont", "compsol")}, remeasure=True)
    assert todo == {("cgib_cont", "compsol")}
    assert [(r["model"], r["dataset"], r["mean"]) for r in kept] == [("cgib", "compsol", 0.31),
                                                                     ("cgib_cont", "freesolv", 0.91)]
    todo, kept = plan_cells(tmp_path / "absent.json", {("cgib", "compsol"): CMD.format("cgib", "compsol")})
    assert todo == {("cgib", "compsol")} and kept == []


def test_a_cell_recorded_by_the_same_command_is_kept_unless_remeasured(tmp_path, capsys):
    path = _family(tmp_path)
    commands = {("cgib", "compsol"): CMD.format("cgib", "compsol"),  # recorded by this command: kept
                ("cgib_cont", "compsol"): CMD.format("cgib_cont", "compsol").replace("500", "300"),  # other protocol
                ("cgib", "abraham"): CMD.format("cgib", "abraham")}  # not recorded yet
    todo, kept = plan_cells(path, commands)
    assert todo == {("cgib_cont", "compsol"), ("cgib", "abraham")}
    assert [(r["model"], r["dataset"]) for r in kept] == [("cgib", "compsol"), ("cgib_cont", "freesolv")]
    assert "kept: cgib on compsol" in capsys.readouterr().out
    todo, _ = plan_cells(path, commands, remeasure=True)
    assert todo == set(commands)


def _record(model, rmses, arm=None):
    return {"model": model, "dataset": "freesolv",
            "fold_records": [{"repeat": r, "fold": k, "test": {"rmse": v}, **({"arm": arm} if arm else {})}
                             for (r, k), v in rmses.items()]}


def test_paired_folds_compares_only_the_shared_splits():
    from bench.compare import paired_folds

    a = _record("cgib", {(0, 0): 1.0, (0, 1): 0.5, (0, 2): 0.9, (1, 0): 7.0})
    b = _record("cigin", {(0, 0): 1.2, (0, 1): 0.4, (0, 2): 1.0})  # (1, 0) not in b: left out
    s = paired_folds(a, b)
    diffs = [-0.2, 0.1, -0.1]
    mean = sum(diffs) / 3
    sd = (sum((d - mean) ** 2 for d in diffs) / 2) ** 0.5
    assert s["folds"] == 3 and s["a_better"] == 2
    assert abs(s["mean_diff"] - mean) < 1e-12 and abs(s["sd_diff"] - sd) < 1e-12
    assert abs(s["se_diff"] - sd / 3 ** 0.5) < 1e-12 and abs(s["mean_a"] - 0.8) < 1e-12


def test_compare_names_the_choices_when_a_file_holds_several_cells(tmp_path):
    import pytest

    from bench.compare import pick

    (tmp_path / "two.json").write_text(json.dumps([_record("cigin", {(0, 0): 1.0}), _record("cgib", {(0, 0): 0.9})]))
    assert pick(tmp_path, "two.json:cgib")["model"] == "cgib"
    with pytest.raises(SystemExit, match="cigin:freesolv, cgib:freesolv"):
        pick(tmp_path, "two.json")
    with pytest.raises(SystemExit, match="no record file"):
        pick(tmp_path, "absent.json:cgib")


def test_compare_separates_the_arms_of_a_pretraining_record(tmp_path):
    import pytest

    from bench.compare import paired_folds, pick

    both = _record("cigin", {(0, 0): 1.0, (0, 1): 0.6}, arm="none")
    both["fold_records"] += _record("cigin", {(0, 0): 0.8, (0, 1): 0.7}, arm="3dmrl")["fold_records"]  # one record, both arms on the same (repeat, fold) splits
    (tmp_path / "pre.json").write_text(json.dumps([both]))
    s = paired_folds(pick(tmp_path, "pre.json:cigin:freesolv:3dmrl"), pick(tmp_path, "pre.json:cigin:freesolv:none"))
    assert s["folds"] == 2 and s["a_better"] == 1
    assert abs(s["mean_diff"] - (-0.2 + 0.1) / 2) < 1e-12
    with pytest.raises(SystemExit, match="arms are 3dmrl, none"):
        pick(tmp_path, "pre.json:cigin")  # unseparated, the arms' folds would overwrite each other
    (tmp_path / "acc.json").write_text(json.dumps([_record("cgib", {(0, 0): 0.9})]))
    with pytest.raises(SystemExit, match="not a pretraining record"):
        pick(tmp_path, "acc.json:cgib:freesolv:3dmrl")


def test_pretraining_jobs_of_all_cells_share_the_workers_and_each_fold_is_kept_as_it_ends(tmp_path):
    """Two cells, one shared backbone each: while the first cell's backbone (its gate job) runs, the other worker
    takes no-pretraining jobs, of the next cell too, and each is on file at once (a bench stopped then keeps them);
    a cell's other pretraining jobs start before its gate ends only once every no-pretraining job has started, one
    gate runs at a time, never more jobs than workers; each cell's record is made once, after its last job."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from bench.pretrain_bench import Cell, run_jobs

    def jobs(cell, arm):
        return [{"cell": cell, "arm": arm, "fold": k, "out": "scratch"} for k in range(3)]

    cells = [Cell((c, "d"), jobs(c, "3dmrl"), jobs(c, "none"),
                  FinishedFolds(tmp_path / f".partial-{c}.json", scratch_key="out")) for c in ("a", "b")]
    cells.append(Cell(("c", "d"), [], [], FinishedFolds(tmp_path / ".partial-c.json", scratch_key="out")))
    lock, events, active = threading.Lock(), [], [0]

    def on_file(cell) -> int:
        return len(json.loads(cell.finished.path.read_text())) if cell.finished.path.exists() else 0

    def job(j):
        with lock:
            active[0] += 1
            events.append(("start", j["cell"], j["arm"], j["fold"], active[0]))
        if (j["cell"], j["arm"], j["fold"]) == ("a", "3dmrl", 0):  # a's backbone: ends once 4 other jobs are on file
            deadline = time.time() + 10
            while on_file(cells[0]) + on_file(cells[1]) < 4 and time.time() < deadline:
                time.sleep(0.01)
            result = {"others_on_file": on_file(cells[0]) + on_file(cells[1])}
        else:
            result = {"fold": j["fold"]}
        with lock:
            active[0] -= 1
            events.append(("end", j["cell"], j["arm"], j["fold"], active[0]))
        return result

    recorded = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        run_jobs(pool, job, cells, 2, True, lambda cell: recorded.append((cell.key, on_file(cell))))
    assert cells[0].finished.results[cells[0].finished.key(jobs("a", "3dmrl")[0])]["others_on_file"] >= 4
    assert sorted(recorded) == [(("a", "d"), 6), (("b", "d"), 6), (("c", "d"), 0)]  # c: all done before
    assert max(e[4] for e in events if e[0] == "start") <= 2
    starts = [e[1:4] for e in events if e[0] == "start"]
    assert ("a", "3dmrl", 0) in starts[:2]  # the gate is submitted first; the two threads may log in either order
    assert ("b", "none", 0) in starts[:6]  # b's plain arm ran during a's gate
    end_of = {e[1:4]: i for i, e in enumerate(events) if e[0] == "end"}
    start_of = {e[1:4]: i for i, e in enumerate(events) if e[0] == "start"}
    last_plain_start = max(start_of[(c, "none", k)] for c in ("a", "b") for k in range(3))
    for c in ("a", "b"):
        assert all(start_of[(c, "3dmrl", k)] > min(end_of[(c, "3dmrl", 0)], last_plain_start) for k in (1, 2))
    assert start_of[("b", "3dmrl", 0)] > end_of[("a", "3dmrl", 0)]  # one gate at a time


def test_with_no_other_work_left_a_free_worker_takes_a_pretraining_job_behind_the_gate(tmp_path):
    """A bench resumed after its no-pretraining arm finished: the worker the gate leaves free takes another
    pretraining job of the cell at once (it reuses a cached backbone or waits on its lock), not idling until the
    gate ends; the next cell's gate still waits for the first."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from bench.pretrain_bench import Cell, run_jobs

    cells = [Cell((c, "d"), [{"cell": c, "arm": "3dmrl", "fold": k, "out": "s"} for k in range(3)], [],
                  FinishedFolds(tmp_path / f".partial-{c}.json", scratch_key="out")) for c in ("a", "b")]
    both_running = threading.Barrier(2, timeout=10)  # broken (an error) unless two jobs run together
    order, lock = [], threading.Lock()

    def job(j):
        with lock:
            order.append(("start", j["cell"], j["fold"]))
        if j["cell"] == "a" and j["fold"] in (0, 1):
            both_running.wait()
        with lock:
            order.append(("end", j["cell"], j["fold"]))
        return {"fold": j["fold"]}

    with ThreadPoolExecutor(max_workers=2) as pool:
        run_jobs(pool, job, cells, 2, True)
    assert sorted(order[:2]) == [("start", "a", 0), ("start", "a", 1)]  # the two threads may log in either order
    assert order.index(("start", "b", 0)) > order.index(("end", "a", 0))
    assert [len(json.loads(c.finished.path.read_text())) for c in cells] == [3, 3]


def test_a_finished_fold_run_is_read_back_not_trained_again(tmp_path, monkeypatch):
    """A bench stopped after a fold's run finished but before its resume file was written reads that run back."""
    from bench.run_bench import run_or_resume

    from zoo_core.train import trainer

    cli = {"encoder": "mpnn", "dataset": "freesolv", "seed": 0, "repeats": 1, "folds": 5, "only_folds": [0],
           "epochs": 1, "patience": 1, "output": str(tmp_path), "threads": 1}
    run_dir, first = run_or_resume(cli, "fold", "key")
    trained = []
    real = trainer.train_fold
    monkeypatch.setattr(trainer, "train_fold", lambda *a, **k: trained.append(1) or real(*a, **k))
    again, second = run_or_resume(cli, "fold", "key")
    assert again == run_dir and not trained
    assert second["folds"][0]["test"] == first["folds"][0]["test"]
    run_or_resume(dict(cli, epochs=2), "fold", "another key")  # other settings: a run of their own
    assert trained == [1]


def test_arms_runs_one_arm_now_and_the_record_waits_for_the_other(tmp_path):
    """``--arms none`` queues only the no-pretraining folds (the baseline can run while a backbone still pretrains
    elsewhere); the cell keeps both arms' jobs, so a later invocation with both arms runs only the pretrained folds,
    reading the baseline back from the resume file; an unknown arm stops the bench."""
    import argparse

    import pytest
    from bench.pretrain_bench import _arms, _cells

    args = argparse.Namespace(pretrainer="3dmrl", arms="none", epochs=5, patience=2, pair_set="combisolv-product",
                              pairs_ratio=0.2, pretrain_epochs=100, pretrain_lr=None, freeze_backbone_epochs=0,
                              repeats=2, name="t")
    todo = {("cigin", "freesolv")}
    (cell,) = _cells(args, ["cigin"], ["freesolv"], todo, [0, 1], "scratch", _arms(args), tmp_path)
    assert cell.pre == [] and {(j["arm"], j["repeat"], j["fold"]) for j in cell.plain} == {
        ("none", r, k) for r in range(2) for k in range(2)}
    assert len(cell.jobs) == 8 and cell.finished.missing(cell.jobs) == 8
    for job in cell.plain:
        cell.finished.add(job, {"test": {"rmse": 1.0}})
    assert cell.finished.missing(cell.jobs) == 4
    args.arms = None
    (later,) = _cells(args, ["cigin"], ["freesolv"], todo, [0, 1], "other-scratch", _arms(args), tmp_path)
    assert later.plain == [] and {j["arm"] for j in later.pre} == {"3dmrl"} and len(later.pre) == 4
    args.arms = "none,grover"
    with pytest.raises(SystemExit, match="grover"):
        _arms(args)
