"""bench.seed_jobs: cells of seeded jobs run once, resume from the partial file, and write a record per cell."""

import json

from bench import seed_jobs


def test_cells_are_recorded_once_and_an_interrupted_command_resumes(tmp_path, monkeypatch):
    saved = {}
    monkeypatch.setattr(seed_jobs, "RESULTS", tmp_path)
    monkeypatch.setattr(seed_jobs, "save_records", lambda name, records: saved.update({name: list(records)}))
    jobs = {("m", "a"): [("m", "a", 0, "out"), ("m", "a", 1, "out")], ("m", "b"): [("m", "b", 0, "out")]}
    done = []
    records = {}
    seed_jobs.run_seed_jobs("t", jobs, str, 1, records, lambda cell, results: {"cell": cell, "results": results},
                            lambda job, result: done.append(job))
    assert sorted(done) == sorted(j for js in jobs.values() for j in js)
    assert records[("m", "a")]["results"] == [str(("m", "a", 0, "out")), str(("m", "a", 1, "out"))]
    assert len(saved["t"]) == 2 and not (tmp_path / ".partial-t.json").exists()   # all finished: no partial left
    # an interrupted command: one job finished earlier (in the partial file) is not run again
    partial = tmp_path / ".partial-u.json"
    partial.write_text(json.dumps({json.dumps(["m", "a", 0]): "kept"}))
    done.clear()
    records = {}
    seed_jobs.run_seed_jobs("u", {("m", "a"): jobs[("m", "a")]}, str, 1, records,
                            lambda cell, results: {"results": results}, lambda job, result: done.append(job))
    assert done == [("m", "a", 1, "out")] and records[("m", "a")]["results"][0] == "kept"


def test_jobs_run_seed_by_seed_across_cells():
    jobs = {("cgib",): [("cgib", 0, "o"), ("cgib", 1, "o"), ("cgib", 2, "o")], ("i2mole",): [("i2mole", 0, "o")],
            ("x",): [("x", 0, "o"), ("x", 1, "o")]}
    assert seed_jobs.seed_major(jobs) == [("cgib", 0, "o"), ("i2mole", 0, "o"), ("x", 0, "o"), ("cgib", 1, "o"),
                                          ("x", 1, "o"), ("cgib", 2, "o")]
    assert seed_jobs.seed_major({}) == []
