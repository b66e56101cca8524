"""``zoo data split --export``: the exported folds are make_splits' folds of the rows zoo run keeps, the files read
back as written (CSV, chemprop's splits JSON, manifest hashes), bad rows are skipped as zoo run skips them, and bad
arguments fail in one line."""

import csv
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoo_cli.main import app
from zoo_core.data.datasets import load_table
from zoo_core.data.splits import make_splits

runner = CliRunner()


def _export(*args: str):
    return runner.invoke(app, ["data", "split", *args, "-q"])


def test_freesolv_export_equals_make_splits_and_reads_back(tmp_path):
    out = tmp_path / "fs"
    r = _export("freesolv", "--export", str(out), "--repeats", "2", "--json")
    assert r.exit_code == 0, r.output
    manifest = json.loads(r.stdout)
    table = load_table("freesolv")
    assert manifest["rows"] == len(table) == 560 and manifest["seeds"] == [0, 1] and manifest["split"] == "mi5fold"
    with open(out / "data.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["row"]) for row in rows] == list(range(560))
    assert [row["line"] for row in rows[:2]] == ["2", "3"] and rows[0]["solvent"] == "O"
    assert [float(row["dGsolv_avg"]) for row in rows] == pytest.approx(table.y.tolist())
    for repeat, seed in enumerate([0, 1]):
        exported = json.loads((out / f"splits-r{repeat}.json").read_text())
        expected = make_splits("mi5fold", 560, seed, table.a, table.b)
        assert len(exported) == 5
        for fold, (tr, va, te) in zip(exported, expected):
            assert (fold["train"], fold["val"], fold["test"]) == (tr.tolist(), va.tolist(), te.tolist())
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert "--splits-file splits-r0.json" in (out / "README.md").read_text()


def test_bad_rows_are_skipped_as_zoo_run_skips_them(tmp_path):
    path = tmp_path / "pairs.csv"
    good = [(f"C{'C' * i}O", "O", f"{-i / 2:.2f}") for i in range(12)]
    rows = [("solute", "solvent", "dG"), *good[:3], ("C1CC(", "O", "-1.0"), *good[3:6], ("CCS", "O", ""), *good[6:]]
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    out = tmp_path / "own"
    r = _export(str(path), "--export", str(out), "--folds", "2", "--repeats", "1", "--json")
    assert r.exit_code == 0, r.output
    manifest = json.loads(r.stdout)
    assert manifest["rows"] == 12 and manifest["bad_rows"] == 2
    with open(out / "data.csv", newline="") as handle:
        lines = [int(row["line"]) for row in csv.DictReader(handle)]
    assert 5 not in lines and 9 not in lines and len(lines) == 12   # the unparsable SMILES and the empty label
    folds = json.loads((out / "splits-r0.json").read_text())
    assert sorted(i for fold in folds for i in fold["test"] + fold["val"]) == list(range(12))


@pytest.mark.parametrize("args, message", [
    (["freesolv", "--folds", "1"], "--folds must be 2 or more"),
    (["freesolv", "--split", "nope"], "unknown split protocol 'nope'"),
    (["freesolv", "--seed", "-1"], "--seed 0 or more"),
    (["no-such-dataset"], "no dataset named 'no-such-dataset'"),
    (["chchminer"], "draws its negatives per repeat"),
])
def test_bad_arguments_fail_in_one_line(tmp_path, args, message):
    r = _export(*args, "--export", str(tmp_path / "x"))
    assert r.exit_code in (1, 2), r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "x").exists()


def test_an_export_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("")
    r = _export("freesolv", "--export", str(target))
    assert r.exit_code == 2 and "a file is there" in r.output
