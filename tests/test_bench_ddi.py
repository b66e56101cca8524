"""The DDI bench's jobs (bench/ddi_bench.py): a budget recipe and I2Mole's ablations reach `zoo run` and the records,
and the jobs of a command without them keep their earlier shape (so interrupted cells resume)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench import ddi_bench


def _args(**kw) -> SimpleNamespace:
    base = dict(models="cgib,i2mole", datasets="chchminer", splits="inductive", seeds="0,1", epochs=30, patience=5,
                lr=None, batch_size=None, pair_param=None, workers=1, name="ddi-test")
    return SimpleNamespace(**{**base, **kw})


def _captured(monkeypatch, tmp_path, args) -> dict:
    seen = {}

    def fake_run(name, jobs, job_fn, workers, records, make_record, report):
        seen.update(jobs=jobs, make_record=make_record)

    monkeypatch.setattr(ddi_bench, "run_seed_jobs", fake_run)
    monkeypatch.setattr(ddi_bench, "scratch", lambda name: str(tmp_path))
    monkeypatch.setattr(ddi_bench, "recorded", lambda name, key: {})
    ddi_bench.ddi(args)
    return seen


def test_jobs_without_pair_params_keep_their_shape(monkeypatch, tmp_path):
    jobs = _captured(monkeypatch, tmp_path, _args(lr=1e-3, batch_size=128))["jobs"]
    assert list(jobs) == [("cgib", "chchminer", "inductive"), ("i2mole", "chchminer", "inductive")]
    assert jobs[("cgib", "chchminer", "inductive")][1] == (
        "cgib", "chchminer", "inductive", 1, 30, 5, 1e-3, 128, str(tmp_path))


def test_an_ablation_reaches_zoo_run_the_label_and_the_command(monkeypatch, tmp_path):
    seen = _captured(monkeypatch, tmp_path, _args(models="i2mole", seeds="0", pair_param=["vq=false"]))
    (cell, jobs), = seen["jobs"].items()
    assert cell == ("i2mole (vq=False)", "chchminer", "inductive")
    job = jobs[0]
    assert job[0] == "i2mole" and json.loads(job[-2]) == {"vq": False}
    config = ddi_bench.cell_config("i2mole", "chchminer", "inductive", 0, 30, 5, "out", None, None, {"vq": False})
    assert config["pair_params"] == {"vq": False} and "lr" not in config and "batch_size" not in config
    result = {"test": {"auroc": 0.7}, "type1": 0.72, "type2": 0.6, "best_epoch": 3, "train_pairs_per_s": 100.0,
              "baseline": {"test": 0.5, "test_type1": 0.6, "test_type2": 0.5}, "peak_rss_gb": 1.0, "ddi": {},
              "lr": 1e-3, "batch_size": 128}
    record = seen["make_record"](cell, [result])
    assert record["model"] == "i2mole (vq=False)" and record["pair_params"] == {"vq": False}
    assert record["command"].endswith("--epochs 30 --patience 5 --pair-param vq=false")


def test_a_malformed_pair_param_stops_the_command_in_one_line(monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="pair-param"):
        _captured(monkeypatch, tmp_path, _args(pair_param=["vq"]))
