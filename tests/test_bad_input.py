"""Bad input gets one ``zoo: error:`` line, never a traceback (issue 37, part 4), and columns behave the same in
``zoo run`` and ``zoo predict`` (part 5). Exit status: 2 for a usage error (an option or input file the zoo refuses),
1 for a runtime failure; a run that never started leaves no run directory."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoo_cli.main import app

runner = CliRunner()
TRAIN = ["--encoder", "mpnn", "--folds", "2", "--repeats", "1", "--only-fold", "0", "--epochs", "1", "-q"]
SOLUTES = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "CC(=O)C", "CCN", "CCCl", "CC#N", "OCCO", "CCOC", "CCCC", "CO"]


def _one_error_line(r, *fragments: str) -> str:
    """The single ``zoo: error:`` line of a failed command, holding every fragment; no traceback anywhere."""
    errors = [line for line in r.stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(errors) == 1, r.stderr
    assert "Traceback" not in r.output and not isinstance(r.exception, (ValueError, UnicodeError, OSError)), r.output
    assert all(f in errors[0] for f in fragments), errors[0]
    return errors[0]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_FILES = {  # name -> (file maker, fragments the message must hold)
    "latin1": (lambda d: _write(d / "latin1.csv", "smiles,y\nCCO,1\nClC(Cl)Cl,2 # chloroforme été\n"
                                .encode("latin-1")), ("latin1.csv", "line 3 is not UTF-8", "expected a UTF-8 CSV")),
    "utf16": (lambda d: _write(d / "utf16.csv", "smiles,y\nCCO,1\n".encode("utf-16")),
              ("utf16.csv", "UTF-16", "expected a UTF-8 CSV")),
    "binary": (lambda d: _write(d / "binary.csv", b"PK\x03\x04\x00\x00\x08\x00zipped"),
               ("binary.csv", "binary", "expected a UTF-8 CSV")),
    "missing": (lambda d: d / "no-such-file.csv", ("no-such-file.csv", "no such file")),
    "directory": (lambda d: (d / "a-folder").mkdir() or d / "a-folder", ("a-folder", "is a directory")),
    "empty": (lambda d: _write(d / "empty.csv", b""), ("empty.csv", "the file is empty")),
    "header_only": (lambda d: _write(d / "header.csv", b"solute,solvent,dG\n"),
                    ("header.csv", "a header (solute, solvent, dG) and no data rows")),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_run_on_a_bad_file_is_a_usage_error_and_makes_no_run_directory(tmp_path, kind):
    make, fragments = BAD_FILES[kind]
    path = make(tmp_path)
    r = runner.invoke(app, ["run", *TRAIN, "--dataset", str(path), "--output", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    _one_error_line(r, *fragments)
    assert not (tmp_path / "runs").exists()


def test_too_few_usable_rows_say_how_many_and_make_no_run_directory(tmp_path):
    path = tmp_path / "few.csv"
    path.write_text("smiles,y\nCCO,1.0\nC1CC(,2.0\nCCCO,3.0\nCCN,4.0\n")  # line 3 does not parse: 3 usable rows
    r = runner.invoke(app, ["run", *TRAIN, "--dataset", str(path), "--output", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    _one_error_line(r, "few.csv", "3 usable row(s)", "1 bad row(s) skipped", "2-fold", "at least 4")
    assert "read " + str(path) + " as a molecule dataset: molecule 'smiles', target(s) 'y'" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_a_missing_path_or_a_folder_is_not_reported_as_a_registry_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_data").mkdir()
    for name, message in [("mine.csv", "mine.csv: no such file"), ("my_data", "my_data: is a directory")]:
        r = runner.invoke(app, ["run", *TRAIN, "--dataset", name])
        assert r.exit_code == 2 and "in the registry" not in _one_error_line(r, message)
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    """A run on a user CSV without --columns: the first 3 of its 4 columns are taken, and said so."""
    d = tmp_path_factory.mktemp("pair-run")
    path = d / "pairs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sol", "solv", "dG", "id"])
        w.writerows([s, "O", f"{-0.5 * i:.2f}", i] for i, s in enumerate(SOLUTES))
    r = runner.invoke(app, ["run", *TRAIN, "--dataset", str(path), "--output", str(d / "runs"), "--json"])
    assert r.exit_code == 0, r.output
    return Path(json.loads(r.stdout)["run_dir"]), r.stderr


def test_run_without_columns_says_which_it_took_and_records_them(pair_run):
    run_dir, stderr = pair_run
    assert "as a pair dataset: molecules 'sol', 'solv', target(s) 'dG' (the first 3 of its 4 columns" in stderr
    import yaml

    assert yaml.safe_load((run_dir / "config.yaml").read_text())["columns"] == ["sol", "solv", "dG"]


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_predict_on_a_bad_file_is_a_usage_error(pair_run, tmp_path, kind):
    make, fragments = BAD_FILES[kind]
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["predict", "--run", str(pair_run[0]), "--input", str(make(tmp_path)), "--output", str(out)])
    assert r.exit_code == 2, r.output
    _one_error_line(r, *fragments)
    assert not out.exists()


def test_predict_usage_errors_exit_2(pair_run, tmp_path):
    good = tmp_path / "in.csv"
    good.write_text("sol,solv\nCCO,O\n")
    r = runner.invoke(app, ["predict", "--run", str(tmp_path), "--input", str(good), "--output", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no model.safetensors" in _one_error_line(r)
    r = runner.invoke(app, ["predict", "--input", str(good), "--output", str(tmp_path / "o")])
    assert r.exit_code == 2 and "exactly one of --run" in _one_error_line(r)
    r = runner.invoke(app, ["predict", "--run", str(pair_run[0]), "--input", str(good), "--output",
                            str(tmp_path / "o"), "--columns", "sol"])
    assert r.exit_code == 2 and "reads 2 molecule columns" in _one_error_line(r)
    r = runner.invoke(app, ["predict", "--run", str(pair_run[0]), "--input", str(good), "--output",
                            str(tmp_path / "o"), "--columns", "a,b"])
    assert r.exit_code == 2 and "missing column(s) 'a', 'b'" in _one_error_line(r)


def test_predict_uses_the_run_columns_and_takes_the_run_form_of_columns(pair_run, tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("name,solv,sol\nethanol,O,CCO\npropanol,O,CCCO\n")  # other order, an extra column
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["predict", "--run", str(pair_run[0]), "--input", str(mine), "--output", str(out)])
    assert r.exit_code == 0, r.output
    first = list(csv.DictReader(open(out)))
    assert [row["name"] for row in first] == ["ethanol", "propanol"] and all(row["prediction"] for row in first)
    r = runner.invoke(app, ["predict", "--run", str(pair_run[0]), "--input", str(mine), "--output", str(out),
                            "--columns", "sol,solv,dG"])
    assert r.exit_code == 0, r.output
    assert "ignoring the target name(s) dG" in r.stderr
    assert [row["prediction"] for row in csv.DictReader(open(out))] == [row["prediction"] for row in first]


def test_predictions_outside_the_training_data_carry_a_warning(pair_run, tmp_path):
    from zoo_core.weights import read_metadata

    _, meta = read_metadata(pair_run[0] / "model.safetensors")
    solute = meta["training_domain"]["roles"][0]  # over fold 0's training rows: a subset of SOLUTES
    most = solute["max_heavy_atoms"]
    assert solute["role"] == "sol" and 4 <= most <= 6 and solute["max_abs_charge"] == 0
    assert {"C", "O"} <= set(solute["elements"]) <= {"C", "N", "O", "Cl"}
    mine = tmp_path / "mine.csv"
    mine.write_text("sol,solv\nCCO,O\nC[Pt]C,O\nCCCCCCCC,O\nC[N+](C)(C)C,O\nBrCBr,O\nnot_a_smiles,O\n")
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["predict", "--run", str(pair_run[0]), "--input", str(mine), "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "4 with a warning" in r.stdout
    rows = list(csv.DictReader(open(out)))
    warning = [row["warning"] for row in rows]
    assert warning[0] == "" and all(row["prediction"] for row in rows[:5])
    assert warning[1] == "sol: element(s) Pt unknown to the featurizer"
    assert warning[2] == f"sol: 8 heavy atoms (training: at most {most})"
    assert "sol: net charge +1 (training: |charge| at most 0)" in warning[3]
    assert warning[4] == "sol: element(s) Br in no training molecule"
    assert warning[5] == "" and rows[5]["reason"]  # unparsable: a reason, no warning


def test_an_unexpected_error_is_one_line_with_exit_1_and_debug_shows_it(pair_run, tmp_path, monkeypatch):
    import zoo_core.predict

    def boom(*args, **kw):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(zoo_core.predict, "predict_csv", boom)
    mine = tmp_path / "mine.csv"
    mine.write_text("sol,solv\nCCO,O\n")
    args = ["predict", "--run", str(pair_run[0]), "--input", str(mine), "--output", str(tmp_path / "o.csv")]
    r = runner.invoke(app, args)
    assert r.exit_code == 1
    _one_error_line(r, "RuntimeError: disk on fire second line", "--debug")
    r = runner.invoke(app, ["--debug", *args])
    assert isinstance(r.exception, RuntimeError)
    monkeypatch.setenv("ZOO_DEBUG", "1")
    assert isinstance(runner.invoke(app, args).exception, RuntimeError)
