"""`zoo pretrain` and `zoo run --pretrainer 3dmrl`: pretrain, save the backbone, reuse it, load it for fine-tuning."""

import json
from pathlib import Path

from typer.testing import CliRunner

from zoo_cli.main import app

runner = CliRunner()


def _tiny_csv(tmp_path: Path) -> Path:
    rows = ["solute,solvent,dG", "CCO,O,-5.0", "CCCO,O,-4.8", "c1ccccc1,CCO,-3.9", "CC(=O)C,O,-3.8", "CCN,CCCCCCCCO,-4.5",
            "CCCl,O,-0.3", "CC#N,CCO,-3.9", "OCCO,O,-9.3", "CCOC,c1ccccc1,-2.5", "CCCC,O,2.1", "C,CCO,0.5",
            "CN,O,-4.6"]
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_run_with_3dmrl_pretrains_then_reuses(tmp_path):
    csv = _tiny_csv(tmp_path)
    args = ["run", "--encoder", "cigin", "--pretrainer", "3dmrl", "--dataset", str(csv), "--explicit-h",
            "--folds", "2", "--repeats", "1", "--only-fold", "0", "--epochs", "1", "--pretrain-epochs", "1",
            "--output", str(tmp_path / "runs"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "pretraining cigin(mpnn) with 3dmrl" in first.stderr
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "reusing pretrained backbone" in second.stderr and "pretraining cigin" not in second.stderr


def test_pretrain_command_weights_load_into_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    r = runner.invoke(app, ["pretrain", "--pretrainer", "3dmrl", "--encoder", "cigin", "--pairs", "freesolv",
                            "--pairs-ratio", "0.02", "--epochs", "1", "--output", str(tmp_path / "pre"), "-q"])
    assert r.exit_code == 0, r.output
    weights = Path(r.stdout.strip().splitlines()[-1])
    assert weights.name == "backbone.safetensors" and weights.exists()
    r = runner.invoke(app, ["run", "--encoder", "cigin", "--dataset", "freesolv", "--pretrained-weights", str(weights),
                            "--folds", "5", "--repeats", "1", "--only-fold", "0", "--epochs", "1",
                            "--output", str(tmp_path / "runs"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["rmse"]["mean"] > 0
    r = runner.invoke(app, ["run", "--encoder", "mpnn", "--dataset", "freesolv", "--pretrained-weights", str(weights),
                            "--folds", "5", "--repeats", "1", "--only-fold", "0", "--epochs", "1",
                            "--output", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 1 and "pretrained for cigin(mpnn)" in r.stderr
