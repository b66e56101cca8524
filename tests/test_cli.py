"""The CLI end to end (typer CliRunner and subprocesses)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoo_cli.main import app

runner = CliRunner()
HEAVY = ("torch", "dgl", "rdkit")


@pytest.mark.parametrize("args", [["--help"], ["list"], ["list", "--json"], ["plugins"], ["plugins", "--json"],
                                  ["list", "datasets", "chromo*"]])
def test_light_commands_import_no_torch_dgl_rdkit(args):
    code = ("import sys\nfrom zoo_cli.main import main\nsys.argv=['zoo', *%r]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in %r if m in sys.modules))" % (args, HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-500:]


def test_list_with_wildcard_and_json():
    r = runner.invoke(app, ["list", "datasets", "chromophore-*", "--json"])
    assert r.exit_code == 0, r.output
    names = [row["name"] for row in json.loads(r.stdout)]
    assert names == ["chromophore-absorption", "chromophore-emission", "chromophore-lifetime"]
    r = runner.invoke(app, ["list", "mpnn*"])
    assert r.exit_code == 0 and "encoders:" in r.stdout and "mpnn" in r.stdout


def test_info_shows_params_featurizer_paper_plugin():
    r = runner.invoke(app, ["info", "mpnn", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["featurizer"] == "mrl56" and info["featurizer_spec"]["atom_dim"] == 56
    assert info["registered_by"]["distribution"] == "zoo-mpnn" and "paper" in info and "params" in info
    assert runner.invoke(app, ["info", "no-such-thing"]).exit_code == 1


def test_data_list():
    r = runner.invoke(app, ["data", "list", "--json"])
    assert r.exit_code == 0
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"freesolv", "compsol", "abraham", "combisolv", "chromophore-lifetime", "mnsol"} <= set(rows)


def _bad_csv(tmp_path: Path) -> Path:
    rows = [("solute", "solvent", "dG")] + [(s, "O", f"{v:.2f}") for s, v in
                                             [("CCO", -5.0), ("CCCO", -4.8), ("CCCCO", -4.7), ("c1ccccc1", -0.9),
                                              ("CC(=O)C", -3.8), ("CCN", -4.5), ("CCCl", -0.3), ("CC#N", -3.9),
                                              ("OCCO", -9.3), ("CCOC", -1.5), ("CCCC", 2.1), ("C", 2.0)]]
    rows.insert(4, ("C1CC(", "O", "-1.0"))   # line 5: unparsable SMILES
    rows.insert(8, ("CCS", "O", ""))          # line 9: empty label
    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_run_on_own_csv_reports_bad_rows_and_strict_stops(tmp_path):
    path = _bad_csv(tmp_path)
    args = ["run", "--encoder", "mpnn", "--dataset", str(path), "--folds", "2", "--repeats", "1", "--epochs", "2",
            "--output", str(tmp_path / "runs"), "--json", "--quiet"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "skipped 2 bad row(s)" in r.stderr
    assert "line 5" in r.stderr and "line 9" in r.stderr and "missing label" in r.stderr
    result = json.loads(r.stdout)
    assert result["bad_rows"] == 2
    run_dir = Path(result["run_dir"])
    for name in ("config.yaml", "metrics.json", "predictions.csv", "model.safetensors"):
        assert (run_dir / name).exists(), name
    bad = list(csv.DictReader(open(run_dir / "bad_rows.csv")))
    assert [(b["line"], b["field"]) for b in bad] == [("5", "solute"), ("9", "dG")] and "missing label" in bad[1]["reason"]
    r = runner.invoke(app, args + ["--strict"])
    assert r.exit_code == 1
    assert "line 5" in r.stderr and "line 9" in r.stderr and "strict" in r.stderr


def test_run_then_predict_on_own_pairs(tmp_path):
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--dataset", "freesolv", "--folds", "5", "--repeats", "1",
                            "--only-fold", "0", "--epochs", "2", "--output", str(tmp_path), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["folds"][0]["fold"] == 0 and "rmse" in metrics["summary"]
    pairs = tmp_path / "mine.csv"
    pairs.write_text("id,solute,solvent\n1,CCO,O\n2,not_a_smiles,O\n3,,O\n4,c1ccccc1,O\n")
    out = tmp_path / "preds.csv"
    r = runner.invoke(app, ["predict", "--run", str(run_dir), "--input", str(pairs), "--output", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out)))
    assert [row["id"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[0]["prediction"] and rows[3]["prediction"] and not rows[0]["reason"]
    assert rows[1]["prediction"] == "" and "parse" in rows[1]["reason"].lower()
    assert rows[2]["prediction"] == "" and "empty" in rows[2]["reason"]
    r = runner.invoke(app, ["predict", "--run", str(run_dir), "--input", str(pairs), "--output", str(out),
                            "--columns", "a,b"])
    assert r.exit_code == 2 and "missing column" in r.stderr  # a usage error (issue 37)


def test_config_file_with_cli_override(tmp_path):
    cfg = tmp_path / "my.yaml"
    cfg.write_text("encoder: mpnn\ndataset: freesolv\nfolds: 5\nrepeats: 1\nonly_folds: [1]\nepochs: 5\n")
    r = runner.invoke(app, ["run", "--config", str(cfg), "--epochs", "1", "--output", str(tmp_path), "--json", "-q"])
    assert r.exit_code == 0, r.output
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    import yaml

    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["epochs"] == 1 and saved["only_folds"] == [1] and saved["pair_model"] == "late_fusion"
    bad = tmp_path / "bad.yaml"
    bad.write_text("encoder: mpnn\nepocs: 3\n")
    r = runner.invoke(app, ["run", "--config", str(bad)])
    assert r.exit_code == 2 and "epocs" in r.stderr


def test_malformed_key_value_option_is_a_clear_error():
    r = runner.invoke(app, ["run", "--encoder", "cgib", "--dataset", "freesolv", "--pair-param", "legacy"])
    assert r.exit_code == 2 and "--pair-param expects KEY=VALUE, got 'legacy'" in r.stderr
    r = runner.invoke(app, ["run", "--encoder", "cgib", "--dataset", "freesolv", "--encoder-param", "=3"])
    assert r.exit_code == 2 and "--encoder-param expects KEY=VALUE, got '=3'" in r.stderr


class _Stop(Exception):
    pass


def test_resume_continues_an_interrupted_run_to_the_same_numbers(tmp_path, monkeypatch):
    import zoo_core.train.trainer as trainer

    real, trained = trainer.train_fold, []

    def train_fold(*args, **kw):  # checkpoint every epoch; interrupt fold 1 during its 3rd epoch when asked
        trained.append(kw["fold"])
        kw["checkpoint_seconds"] = 0.0
        if interrupt and kw["fold"] == 1:
            def stop(epoch, val, best):
                if epoch == 3:
                    raise _Stop
            kw["progress"] = stop
        return real(*args, **kw)

    monkeypatch.setattr(trainer, "train_fold", train_fold)
    monkeypatch.setenv("ZOO_DEBUG", "1")  # the interruption escapes the CLI as it would with its traceback
    base = ["run", "--encoder", "mpnn", "--dataset", "freesolv", "--repeats", "1", "--only-fold", "0",
            "--only-fold", "1", "--epochs", "4", "--json", "-q"]
    interrupt = False
    whole = runner.invoke(app, base + ["--output", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    interrupt = True
    cut = runner.invoke(app, base + ["--output", str(tmp_path / "cut")])
    assert isinstance(cut.exception, _Stop)
    run_dir = next((tmp_path / "cut").iterdir())
    assert (run_dir / "folds" / "r0-f0.json").is_file() and (run_dir / "checkpoints" / "r0-f1.safetensors").is_file()
    assert not (run_dir / "metrics.json").exists()
    interrupt, trained[:] = False, []
    r = runner.invoke(app, ["run", "--resume", str(run_dir), "--json", "-q"])
    assert r.exit_code == 0, r.output
    assert trained == [1]  # fold 0 was read back, fold 1 continued
    expected = json.loads((Path(json.loads(whole.stdout)["run_dir"]) / "metrics.json").read_text())
    got = json.loads((run_dir / "metrics.json").read_text())
    assert [f["test"] for f in got["folds"]] == [f["test"] for f in expected["folds"]]
    assert [f["best_epoch"] for f in got["folds"]] == [f["best_epoch"] for f in expected["folds"]]
    assert got["summary"]["rmse"]["mean"] == expected["summary"]["rmse"]["mean"]
    whole_preds = (Path(json.loads(whole.stdout)["run_dir"]) / "predictions.csv").read_text()
    assert (run_dir / "predictions.csv").read_text() == whole_preds
    assert not (run_dir / "checkpoints").exists()  # every fold finished
    record = json.loads((run_dir / "folds" / "r0-f0.json").read_text())
    (run_dir / "folds" / "r0-f0.json").write_text(json.dumps(dict(record, run_key="another model")))
    r = runner.invoke(app, ["run", "--resume", str(run_dir), "--json", "-q"])
    assert r.exit_code == 1 and "trained with another model spec" in r.stderr


def test_resume_refuses_other_options_and_non_run_folders(tmp_path):
    r = runner.invoke(app, ["run", "--resume", str(tmp_path), "--epochs", "3"])
    assert r.exit_code == 2 and "drop epochs" in r.stderr
    r = runner.invoke(app, ["run", "--resume", str(tmp_path)])
    assert r.exit_code == 2 and "no config.yaml" in r.stderr


@pytest.mark.parametrize("param, message", [("kl_form=foo", "kl_form must be 'graph'"),
                                            ("nonsense=1", "unexpected keyword argument 'nonsense'")])
def test_a_bad_model_parameter_is_a_clear_error(tmp_path, param, message):
    r = runner.invoke(app, ["run", "--encoder", "cgib", "--dataset", "freesolv", "--pair-param", param, "--epochs",
                            "1", "--only-fold", "0", "--repeats", "1", "-q", "--output", str(tmp_path)])
    assert r.exit_code == 2 and message in r.stderr and "see `zoo info cgib`" in r.stderr, r.output
    assert not isinstance(r.exception, (TypeError, ValueError))
    assert not any(tmp_path.iterdir())  # refused before a run directory was made
