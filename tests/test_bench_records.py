"""Bench records carry the commit they were measured at and no machine-local paths (bench/records.py); the
committed records hold no such path either, and every one says which commit measured it (null: before it was
recorded)."""

import json
import subprocess
import tempfile
from pathlib import Path

from bench.records import RESULTS, ROOT, provenance, save_records, scrub_paths

LOCAL = ("/tmp/", "/home/", "/root/", "/work/", "/Users/", "/var/folders/")


def test_paths_under_zoo_home_tmp_and_the_repository_are_written_relative(monkeypatch, tmp_path):
    home = tmp_path / "zoo-home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    tmp = tempfile.gettempdir()
    record = {"rmse": 1.403, "folds": [{"run_dir": f"{tmp}/zoo-bench-runs-x/mpnn-r0-f0", "seconds": 12.5}],
              "pretraining": {"weights": f"{home}/pretrained/ab12.safetensors"},
              "command": f"python bench/run_bench.py probe --backbones {home}/pretrained/ab12.safetensors",
              "source": str(ROOT / "bench" / "results" / "x.json"), "note": "a /tmpfoo and a/tmp/b stay"}
    assert scrub_paths(record) == {
        "rmse": 1.403, "folds": [{"run_dir": "$TMPDIR/zoo-bench-runs-x/mpnn-r0-f0", "seconds": 12.5}],
        "pretraining": {"weights": "$ZOO_HOME/pretrained/ab12.safetensors"},
        "command": "python bench/run_bench.py probe --backbones $ZOO_HOME/pretrained/ab12.safetensors",
        "source": "./bench/results/x.json", "note": "a /tmpfoo and a/tmp/b stay"}


def test_new_records_are_stamped_with_the_commit_and_old_ones_keep_theirs(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert provenance()["git_commit"] == head and isinstance(provenance()["git_dirty"], bool)
    old = {"model": "mpnn", "mean": 1.403, "git_commit": None}
    earlier = {"model": "cigin", "mean": 0.5, "git_commit": "0" * 40, "git_dirty": False}
    new = {"model": "attentivefp", "mean": 1.2, "fold_records": [{"run_dir": f"{tempfile.gettempdir()}/r/f0"}]}
    path = save_records("t", [old, earlier, new], folder=tmp_path)
    written = json.loads(path.read_text())
    assert written[0] == old and written[1] == earlier
    assert written[2]["git_commit"] == head and written[2]["mean"] == 1.2
    assert written[2]["fold_records"] == [{"run_dir": "$TMPDIR/r/f0"}]
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temporary file left behind


def test_committed_records_name_their_commit_and_hold_no_local_path():
    files = sorted(RESULTS.glob("*.json"))
    assert files
    for path in files:
        text = path.read_text()
        assert not any(f'"{prefix}' in text for prefix in LOCAL), path.name
        for record in json.loads(text):
            assert "git_commit" in record, (path.name, record.get("model"), record.get("dataset"))
