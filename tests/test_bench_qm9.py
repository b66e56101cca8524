"""bench/qm9_bench.py (issue 36): the arms' `zoo run` configs share one split and the budget, the pretrained arm
pretrains; a rerun skips finished jobs (also when only the committed record holds them); the comparisons and the
BENCHMARKS.md section of a synthetic record. No training here: a stand-in replaces the job."""

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench import qm9_bench
from bench.render import render_markdown
from bench.run_bench import FinishedFolds

ARMS = "molinteract,molinteract-pretrained,schnet,gin"
# a stand-in's test MAE per arm (homo meV, lumo meV, alpha bohr³): MolInteract beats both towers on homo and lumo
MAE = {"molinteract": (60.0, 50.0, 0.40), "molinteract-pretrained": (55.0, 52.0, 0.38),
       "schnet": (70.0, 60.0, 0.35), "gin": (90.0, 80.0, 0.90)}


def _args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    qm9_bench.add_parser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(["qm9", "--arms", ARMS, "--train", "64", "--valid", "32", "--epochs", "3", "--hidden",
                              "16", "--layers", "2", "--pretrain-epochs", "1", "--name", "qm9-test", *extra])


def _stand_in(calls: list):
    """A job function that returns what `run_arm` would, from MAE, and logs its (arm, seed)."""
    def job(job: tuple) -> dict:
        arm, seed, budget_json, local = job
        calls.append((arm, seed))
        homo, lumo, alpha = MAE[arm]
        budget = json.loads(budget_json)
        return {"job": list(job[:-1]), "arm": arm, "seed": seed,
                "test_mae": {"homo": homo + seed, "lumo": lumo + seed, "alpha": alpha},
                "valid_mae": {"homo": homo, "lumo": lumo, "alpha": alpha}, "best_epoch": 3, "epochs_run": 3,
                "fold_seconds": 10.0, "train_molecules_per_s": 50.0, "peak_rss_gb": 2.5, "job_seconds": 20.0,
                "threads": local["threads"], "split": "fixed-random:64,32,42", "n_molecules": 130829,
                "bad_rows": 2, "settings": {"epochs": 3, "patience": 100, "lr": 1e-4, "batch_size": 128,
                                            "loss": "l1", "lr_schedule": "cosine"},
                "encoder_params": {"hidden": budget["hidden"], "layers": budget["layers"]}, "parameters": 1000,
                "pretraining": ({"pretrainer": "molinteract", "pair_set": "train-split", "molecules": 64,
                                 "epochs": 1, "seconds": 2.0, "molecules_per_s": 32.0, "reused": False}
                                if arm.endswith("pretrained") else None), "git_commit": "c0ffee"}
    return job


def test_every_arm_runs_on_one_split_at_one_budget_and_the_pretrained_arm_pretrains():
    args = _args("--seeds", "0,1", "--threads", "2")
    jobs = qm9_bench.plan_jobs(ARMS.split(","), [0, 1], qm9_bench.budget_of(args), {"runs": "R", "threads": 2})
    assert [(j[0], j[1]) for j in jobs] == [(a, s) for a in ARMS.split(",") for s in (0, 1)]
    configs = {(j[0], j[1]): qm9_bench.run_config(j) for j in jobs}
    assert {c["split"] for c in configs.values()} == {"fixed-random:64,32,42"}
    assert {c["dataset"] for c in configs.values()} == {"qm9"}
    assert all(c["targets"] == ["homo", "lumo", "alpha"] and c["epochs"] == 3 and c["repeats"] == 1
               and c["encoder_params"] == {"hidden": 16, "layers": 2} and c["output"] == "R" and c["threads"] == 2
               for c in configs.values())
    assert [configs[(a, 1)]["seed"] for a in ARMS.split(",")] == [1] * 4
    assert {a: configs[(a, 0)]["encoder"] for a in ARMS.split(",")} == {
        "molinteract": "molinteract", "molinteract-pretrained": "molinteract", "schnet": "schnet", "gin": "gin"}
    pretrained = configs[("molinteract-pretrained", 0)]
    assert pretrained["pretrainer"] == "molinteract" and pretrained["pretrain_epochs"] == 1
    assert all("pretrainer" not in configs[(a, 0)] for a in ("molinteract", "schnet", "gin"))
    # the pretraining epochs are part of the pretrained arm's resume key only
    other = qm9_bench.plan_jobs(ARMS.split(","), [0], qm9_bench.budget_of(_args("--pretrain-epochs", "9")), {})
    assert [j[2] == k[2] for j, k in zip(other, jobs[::2])] == [True, False, True, True]


def test_the_schnet_arm_gets_the_budget_under_its_own_parameter_names():
    from zoo_core.registry import get_registry

    params = get_registry().entry("encoders", "schnet").params
    assert {"hidden", "layers"} <= set(params)   # what run_config passes reaches SchNet's width and blocks


def test_a_rerun_runs_only_the_unfinished_jobs_and_a_committed_record_is_enough(tmp_path, monkeypatch):
    monkeypatch.setattr(qm9_bench, "RESULTS", tmp_path)
    args = _args("--runs", str(tmp_path / "runs"))
    jobs = qm9_bench.plan_jobs(ARMS.split(","), [0], qm9_bench.budget_of(args), {"runs": "old", "threads": 1})
    # an interrupted command finished gin (kept in the partial file, whose scratch folder differed)
    FinishedFolds(tmp_path / ".partial-qm9-test.json", scratch_key=-1).add(jobs[3], _stand_in([])(jobs[3]))
    calls = []
    record = qm9_bench.qm9(args, job_fn=_stand_in(calls), executor=ThreadPoolExecutor(1))
    assert sorted(calls) == [("molinteract", 0), ("molinteract-pretrained", 0), ("schnet", 0)]
    assert record["complete"] and list(record["arms"]) == ARMS.split(",")
    assert not (tmp_path / ".partial-qm9-test.json").exists()
    # the same command again: its complete record is kept, nothing runs
    assert qm9_bench.qm9(args, job_fn=_stand_in(calls), executor=ThreadPoolExecutor(1)) is None and len(calls) == 3
    # another session, only the committed record: a longer pretraining reruns the pretrained arm alone
    calls.clear()
    record = qm9_bench.qm9(_args("--pretrain-epochs", "2"), job_fn=_stand_in(calls), executor=ThreadPoolExecutor(1))
    assert calls == [("molinteract-pretrained", 0)] and record["complete"]
    assert record["budget"]["pretrain_epochs"] == 2


def test_a_failed_job_leaves_the_other_arms_recorded_and_itself_pending(tmp_path, monkeypatch):
    monkeypatch.setattr(qm9_bench, "RESULTS", tmp_path)
    calls = []

    def schnet_fails(job):
        if job[0] == "schnet":
            raise RuntimeError("out of memory")
        return _stand_in(calls)(job)

    with pytest.raises(RuntimeError, match="out of memory"):
        qm9_bench.qm9(_args(), job_fn=schnet_fails, executor=ThreadPoolExecutor(1))
    record, = json.loads((tmp_path / "qm9-test.json").read_text())
    assert list(record["arms"]) == ["molinteract", "molinteract-pretrained", "gin"] and not record["complete"]
    assert record["arms_pending"] == ["schnet"]
    assert record["comparisons"]["molinteract vs single towers"]["towers"] == ["gin"]
    assert record["comparisons"]["pretrained vs scratch"]["pretrained_lower_on"] == 2
    calls.clear()
    record = qm9_bench.qm9(_args(), job_fn=_stand_in(calls), executor=ThreadPoolExecutor(1))
    assert calls == [("schnet", 0)] and record["complete"]


def _record(tmp_path, monkeypatch, seeds="0,1"):
    monkeypatch.setattr(qm9_bench, "RESULTS", tmp_path)
    return qm9_bench.qm9(_args("--seeds", seeds), job_fn=_stand_in([]), executor=ThreadPoolExecutor(2))


def test_the_record_holds_the_budget_the_paper_and_the_comparisons(tmp_path, monkeypatch):
    r = _record(tmp_path, monkeypatch)
    assert r["kind"] == "qm9" and r["units"] == {"homo": "meV", "lumo": "meV", "alpha": "bohr³"}
    assert r["budget"]["test"] == 130829 - 64 - 32 and r["budget"]["split"] == "fixed-random:64,32,42"
    assert (r["budget"]["epochs"], r["budget"]["hidden"], r["budget"]["layers"]) == (3, 16, 2)
    mi = r["arms"]["molinteract"]
    assert mi["test_mae"]["homo"] == {"per_seed": [60.0, 61.0], "mean": 60.5, "std": 0.5}
    assert mi["encoder_params"] == {"hidden": 16, "layers": 2} and mi["peak_rss_gb"] == 2.5
    assert r["arms"]["molinteract-pretrained"]["pretraining"]["molecules_per_s"] == 32.0
    assert r["paper"]["molinteract"] == {"homo": 20.60, "lumo": 17.88, "alpha": 0.047}
    assert "64 training molecules" in r["budget_gap"] and "PCQM4Mv2" in r["budget_gap"]
    towers = r["comparisons"]["molinteract vs single towers"]
    assert towers["beats_every_tower_on"] == 2 and towers["met"]
    assert towers["per_target"]["alpha"]["beats"] == ["gin"]
    pretrained = r["comparisons"]["molinteract-pretrained vs single towers"]
    assert pretrained["beats_every_tower_on"] == 2 and pretrained["met"]
    versus = r["comparisons"]["pretrained vs scratch"]
    assert versus["per_target"]["homo"]["difference"] == pytest.approx(-5.0)
    assert versus["per_target"]["lumo"]["improvement_pct"] == pytest.approx(-100 * 2 / 50.5)
    assert versus["pretrained_lower_on"] == 2


def test_comparisons_without_both_towers_are_not_met():
    mae = {"molinteract": {"homo": 1.0}, "gin": {"homo": 2.0}}
    c = qm9_bench.comparisons(mae, ["homo"])
    assert c["molinteract vs single towers"]["towers"] == ["gin"] and not c["molinteract vs single towers"]["met"]
    assert "pretrained vs scratch" not in c and qm9_bench.comparisons({"gin": {"homo": 2.0}}, ["homo"]) == {}


def test_the_benchmarks_section_shows_arms_paper_budget_and_comparisons(tmp_path, monkeypatch):
    assert "QM9 (issue 36)" not in render_markdown(tmp_path)   # no record: no section
    _record(tmp_path, monkeypatch, seeds="0")
    text = render_markdown(tmp_path)
    section = text[text.index("## QM9 (issue 36)"):]
    assert "| arm | encoder params | parameters | pretraining | homo (meV) | lumo (meV) | alpha (bohr³) |" in section
    assert "| molinteract | hidden=16, layers=2 | 1,000 | — | 60.00 | 50.00 | 0.400 | 3 | 50 | 2.50 | 0.0 |" \
        in section
    assert "| molinteract-pretrained | hidden=16, layers=2 | 1,000 | 1 epoch × 64 mol (train-split); 32 mol/s, 2 s |" \
        in section
    paper = "| paper: MolInteract (pretrained on PCQM4Mv2) | — | — | — | 20.60 | 17.88 | 0.047 | — | — | — | — |"
    assert paper in section
    assert "| paper: SchNet, 8 layers | — | — | — | 33.17 | 26.53 | 0.076 |" in section
    assert "64 / 32 / 130,733 molecules" in section and "Budget gap: ours: 64 training molecules" in section
    assert "- molinteract beats every single tower (schnet, gin) on 2 of 3 targets" in section and "**met**" in section
    assert "alpha: 0.400 vs schnet 0.350, gin 0.900 (beats gin)" in section
    assert "pretrained lower on 2 of 3" in section
    assert "`python bench/run_bench.py qm9 --arms " + ARMS in section


def test_every_job_gets_a_fresh_process():
    import os

    with qm9_bench.fresh_processes(1) as pool:
        pids = [pool.submit(os.getpid).result() for _ in range(2)]
    assert len(set(pids)) == 2 and os.getpid() not in pids   # each job's peak RSS is its own
