"""Folds in parallel (issue 38, part 3): `zoo run --workers N` trains the folds on worker processes with the
serial run's numbers to the last digit, resumes, and `zoo merge` joins `--only-fold` jobs into one run directory."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from zoo_cli.main import app

runner = CliRunner()
TINY = ["run", "--encoder", "mpnn", "--dataset", "freesolv", "--folds", "5", "--repeats", "1", "--epochs", "3",
        "--threads", "1", "--json", "-q"]


def _run(tmp_path: Path, name: str, *extra: str) -> Path:
    r = runner.invoke(app, TINY + ["--output", str(tmp_path / name), *extra])
    assert r.exit_code == 0, r.output
    return Path(json.loads(r.stdout)["run_dir"])


def _fold_records(run_dir: Path) -> dict[str, dict]:
    """Every fold record without its timings (which differ from run to run)."""
    timing = ("seconds", "train_pairs_per_s")
    return {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in timing}
            for p in sorted((run_dir / "folds").glob("*.json"))}


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_workers_give_the_serial_numbers_to_the_last_digit(tmp_path):
    serial = _run(tmp_path, "serial", "--only-fold", "0", "--only-fold", "1")
    parallel = _run(tmp_path, "parallel", "--only-fold", "0", "--only-fold", "1", "--workers", "2")
    got, expected = _fold_records(parallel), _fold_records(serial)
    assert list(got) == ["r0-f0.json", "r0-f1.json"]
    assert got == expected    # metrics, best epochs, test predictions: exactly equal
    metrics = json.loads((parallel / "metrics.json").read_text())
    assert metrics["summary"] == json.loads((serial / "metrics.json").read_text())["summary"]
    assert metrics["workers"]["processes"] == 2 and len(metrics["workers"]["startup_seconds"]) == 2
    assert (parallel / "predictions.csv").read_text() == (serial / "predictions.csv").read_text()
    a, b = _weights(parallel / "model.safetensors"), _weights(serial / "model.safetensors")   # the first fold's
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)


def test_resume_with_workers_keeps_finished_folds(tmp_path):
    run_dir = _run(tmp_path, "run", "--only-fold", "0", "--only-fold", "1", "--only-fold", "2", "--workers", "2")
    before = {p.name: p.read_text() for p in (run_dir / "folds").glob("*.json")}
    (run_dir / "folds" / "r0-f1.json").unlink()    # as if the run had stopped before fold 1 finished
    (run_dir / "metrics.json").unlink()
    r = runner.invoke(app, ["run", "--resume", str(run_dir), "--workers", "2", "--json", "-q"])
    assert r.exit_code == 0, r.output
    after = {p.name: p.read_text() for p in (run_dir / "folds").glob("*.json")}
    assert after["r0-f0.json"] == before["r0-f0.json"] and after["r0-f2.json"] == before["r0-f2.json"]
    retrained, original = json.loads(after["r0-f1.json"]), json.loads(before["r0-f1.json"])
    assert retrained["test"] == original["test"] and retrained["test_pred"] == original["test_pred"]
    assert len(json.loads((run_dir / "metrics.json").read_text())["folds"]) == 3


def test_merged_fold_jobs_equal_one_run_of_both_folds(tmp_path):
    both = _run(tmp_path, "both", "--only-fold", "0", "--only-fold", "1")
    jobs = [_run(tmp_path, f"job{k}", "--only-fold", str(k)) for k in (1, 0)]   # order does not matter
    r = runner.invoke(app, ["merge", *map(str, jobs), "--output", str(tmp_path / "merged"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    merged = Path(json.loads(r.stdout)["run_dir"])
    assert merged == tmp_path / "merged"
    got, expected = (json.loads((d / "metrics.json").read_text()) for d in (merged, both))
    assert [(f["repeat"], f["fold"], f["test"]) for f in got["folds"]] == \
        [(f["repeat"], f["fold"], f["test"]) for f in expected["folds"]]
    assert got["summary"] == expected["summary"]
    assert (merged / "predictions.csv").read_text() == (both / "predictions.csv").read_text()
    a, b = _weights(merged / "model.safetensors"), _weights(both / "model.safetensors")   # fold 0's, from job 0
    assert all(a[k].equal(b[k]) for k in a)
    assert _fold_records(merged) == _fold_records(both)


def test_merge_refuses_runs_of_other_settings_unfinished_runs_and_an_existing_output(tmp_path):
    job0 = _run(tmp_path, "job0", "--only-fold", "0")
    other = _run(tmp_path, "other", "--only-fold", "1", "--epochs", "2")
    r = runner.invoke(app, ["merge", str(job0), str(other), "--output", str(tmp_path / "m1")])
    assert r.exit_code == 2 and "differ in 'epochs'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m1").exists()
    job1 = _run(tmp_path, "job1", "--only-fold", "1")
    (job1 / "folds" / "r0-f1.json").unlink()
    r = runner.invoke(app, ["merge", str(job0), str(job1), "--output", str(tmp_path / "m2")])
    assert r.exit_code == 2 and "has not finished repeat 0 fold 1" in r.stderr and "--resume" in r.stderr
    r = runner.invoke(app, ["merge", str(job0), str(job0), "--output", str(job1)])
    assert r.exit_code == 2 and "already exists" in r.stderr


def test_workers_must_be_a_positive_number(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("encoder: mpnn\nworkers: two\n")
    r = runner.invoke(app, ["run", "--config", str(cfg), "--output", str(tmp_path)])
    assert r.exit_code == 2 and "workers must be a whole number" in r.stderr
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--workers", "0", "--output", str(tmp_path)])
    assert r.exit_code == 2
