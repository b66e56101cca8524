"""The ablation bench (bench/ablation_bench.py, issue 40): factors become arms or stop the bench in one line before
anything trains; an arm's settings reach the `zoo run` config of each of its fold jobs; the base arm's jobs are the
accuracy bench's own; every arm runs the same (repeat, fold) splits; folds resume and recorded arms are kept; each
arm is paired fold by fold with its base arm and with chemprop; BENCHMARKS.md renders the records."""

import argparse
import json
import math
import statistics
import tempfile
from pathlib import Path

import pytest

from bench import ablation_bench, run_bench
from bench.ablation_bench import BASE, arm_config, cell_jobs, job_config, parse_factors, with_pairings
from bench.render import render_markdown


def _args(**given) -> argparse.Namespace:
    defaults = dict(models="cigin", datasets="freesolv", factors="", epochs=500, patience=50, repeats=2, workers=1,
                    name="t-ablation", results=None, remeasure=False, note="", pair_param=None)
    return argparse.Namespace(**{**defaults, **given})


def _captured_jobs(monkeypatch, module, run, args) -> list:
    """The cells (lists of fold jobs) ``run(args)`` hands to ``module.run_cells``, which is stubbed out."""
    seen = []
    monkeypatch.setattr(module, "run_cells", lambda cells, partials, *a, **k: seen.extend(cells))
    run(args)
    return seen


@pytest.fixture
def tmp_scratch(tmp_path, monkeypatch):
    """``scratch()`` folders under this test's tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_factors_become_arms_with_their_settings():
    arms = parse_factors(" scale_targets=true; lr_schedule=noam;;batch_size=64;featurizer=chemprop133;"
                         "encoder_param.steps=4&pair_param.beta=1e-3&explicit_h=false")
    assert list(arms) == ["scale_targets=true", "lr_schedule=noam", "batch_size=64", "featurizer=chemprop133",
                          "encoder_param.steps=4&pair_param.beta=1e-3&explicit_h=false"]
    assert arms["scale_targets=true"] == {"scale_targets": True} and arms["batch_size=64"] == {"batch_size": 64}
    combined = arms["encoder_param.steps=4&pair_param.beta=1e-3&explicit_h=false"]
    assert arm_config(combined) == {"encoder_params": {"steps": 4}, "pair_params": {"beta": 1e-3},
                                    "explicit_h": False}
    assert parse_factors("") == {} and parse_factors(None) == {}


@pytest.mark.parametrize("factors, message", [
    ("scale_target=true", "'scale_target' is not a zoo run config key"),
    ("epochs=3", "'epochs' is set by the bench"),
    ("seed=1", "'seed' is set by the bench"),
    ("pair_params=1", "use pair_param.NAME"),
    ("head_param.x=1", "is not encoder_param.NAME or pair_param.NAME"),
    ("scale_targets", "expected KEY=VALUE"),
    ("explicit_h=", "gives explicit_h no value"),
    ("lr=[1", "the value is not YAML"),
    ("lr=1e-3;lr=1e-3", "named twice"),
    ("base=1", "not a zoo run config key"),
    ("lr=1e-3&lr=2e-3", "sets lr twice"),
])
def test_a_malformed_factor_stops_in_one_line(factors, message):
    with pytest.raises(SystemExit, match=message) as stop:
        parse_factors(factors)
    assert "\n" not in str(stop.value)


@pytest.mark.parametrize("factors, message", [
    ("lr_schedule=sometimes", "arm lr_schedule=sometimes: --lr-schedule must be one of"),
    ("featurizer=nope", "no featurizer named 'nope'"),
    ("batch_size=many", "arm batch_size=many: invalid literal"),
    ("encoder_param.bogus=1", "arm encoder_param.bogus=1: no model takes it .*takes no encoder_param.bogus"),
])
def test_a_bad_value_stops_the_bench_before_any_fold_runs(factors, message, monkeypatch, tmp_scratch):
    monkeypatch.setattr(ablation_bench, "run_cells", lambda *a, **k: pytest.fail("a fold was queued"))
    with pytest.raises(SystemExit, match=message) as stop:
        ablation_bench.ablation(_args(factors=f"scale_targets=true;{factors}", results=str(tmp_scratch)))
    assert "\n" not in str(stop.value)


def test_base_arm_jobs_are_the_accuracy_benchs_and_every_arm_has_the_same_splits(monkeypatch, tmp_scratch):
    accuracy = _captured_jobs(monkeypatch, run_bench, run_bench.accuracy, _args(models="cigin,mpnn"))
    cells = _captured_jobs(monkeypatch, ablation_bench, ablation_bench.ablation,
                           _args(models="cigin,mpnn", factors="scale_targets=true;lr_schedule=noam",
                                 results=str(tmp_scratch)))
    assert len(accuracy) == 2 and len(cells) == 6  # 2 models x (base + 2 factors)
    assert cells[0] == accuracy[0] and cells[3] == accuracy[1]  # base arms: the very same jobs (and resume keys)
    assert all(job_config(job) == run_bench._fold_config(job) for job in cells[0])
    splits = [(job[3], job[4]) for job in accuracy[0]]
    assert splits == [(r, k) for r in range(2) for k in range(5)]
    assert all([(job[3], job[4]) for job in cell] == splits for cell in cells)


def test_an_arm_is_skipped_for_a_model_that_does_not_take_its_parameter(monkeypatch, tmp_scratch, capsys):
    cells = _captured_jobs(monkeypatch, ablation_bench, ablation_bench.ablation,
                           _args(models="mpnn,attentivefp", factors="encoder_param.hidden=300",
                                 results=str(tmp_scratch)))
    assert [(job[0], job[7] if len(job) == 9 else None) for job, *_ in cells] == [
        ("mpnn", None), ("attentivefp", None), ("attentivefp", '{"encoder_param.hidden": 300}')]
    assert "skipped: arm encoder_param.hidden=300 for mpnn (mpnn/late_fusion takes no encoder_param.hidden)" in \
        capsys.readouterr().out


def test_an_arms_settings_reach_the_zoo_run_config_of_each_of_its_fold_jobs(monkeypatch, tmp_scratch):
    from zoo_core.train.config import resolve_config

    factors = "scale_targets=true;lr_schedule=noam&warmup_epochs=3;explicit_h=false;encoder_param.steps=4"
    cells = _captured_jobs(monkeypatch, ablation_bench, ablation_bench.ablation,
                           _args(models="mpnn", factors=factors, results=str(tmp_scratch)))
    base, scaled, noam, no_h, steps = ([resolve_config(job_config(job)) for job in cell] for cell in cells)
    assert {(c["scale_targets"], c["lr_schedule"], c["explicit_h"]) for c in base} == {(False, "plateau", True)}
    assert {c["scale_targets"] for c in scaled} == {True}
    assert {(c["lr_schedule"], c["warmup_epochs"], c["scale_targets"]) for c in noam} == {("noam", 3, False)}
    assert {c["explicit_h"] for c in no_h} == {False}
    assert all(c["encoder_params"] == {"steps": 4} for c in steps)
    for cell in cells:
        assert [(c["seed"], c["only_folds"], c["epochs"], c["patience"]) for c in map(job_config, cell)] == \
            [(r, [k], 500, 50) for r in range(2) for k in range(5)]
    keys = {run_bench.FinishedFolds(Path("p"), -1).key(job) for cell in cells for job in cell}
    assert len(keys) == 5 * 10  # no two arms share a fold's resume key


def _fake_fold(job):
    """Stands in for a fold (in a worker process): logs the call; base RMSE 1 + 0.1 x fold + 0.05 x repeat, and an
    arm with scale_targets lower by 0.3 - 0.1 x fold (so higher on fold 4)."""
    settings = json.loads(job[7]) if len(job) == 9 else {}
    repeat, fold = job[3], job[4]
    with open(Path(job[-1]) / "calls.log", "a") as log:
        log.write(f"{json.dumps(settings, sort_keys=True)} r{repeat} f{fold}\n")
    rmse = 1.0 + 0.1 * fold + 0.05 * repeat - ((0.3 - 0.1 * fold) if settings.get("scale_targets") else 0.0)
    return {"repeat": repeat, "fold": fold, "test": {"rmse": rmse}, "best_epoch": 10 + fold, "epochs_run": 60,
            "seconds": 1.0}


def _calls(folder: Path) -> list[str]:
    path = folder / "zoo-bench-runs-t-ablation" / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def test_folds_resume_and_recorded_arms_are_kept(monkeypatch, tmp_scratch):
    results = tmp_scratch / "results"
    monkeypatch.setattr(ablation_bench, "arm_fold", _fake_fold)
    args = _args(factors="scale_targets=true", results=str(results), repeats=1)
    out = run_bench.scratch(args.name)
    arm_jobs = cell_jobs("cigin", "freesolv", {"scale_targets": True}, args, "an earlier scratch folder")
    earlier = run_bench.FinishedFolds(ablation_bench._partial(results, args.name, "cigin", "freesolv",
                                                              "scale_targets=true"), -1)
    for job in arm_jobs[:3]:  # an interrupted run finished three of the arm's folds
        earlier.add(job, _fake_fold(job[:-1] + (out,)))
    _calls(tmp_scratch)

    ablation_bench.ablation(args)
    calls = _calls(tmp_scratch)
    assert sorted(calls) == sorted([f"{{}} r0 f{k}" for k in range(5)]
                                   + [f'{{"scale_targets": true}} r0 f{k}' for k in (3, 4)])
    records = json.loads((results / "t-ablation.json").read_text())
    assert [(r["kind"], r["arm"], r["settings"]) for r in records] == [
        ("ablation", BASE, {}), ("ablation", "scale_targets=true", {"scale_targets": True})]
    arm = records[1]
    assert arm["command"] == ("python bench/run_bench.py ablation --models cigin --datasets freesolv --epochs 500 "
                              "--patience 50 --repeats 1 --factors scale_targets=true")
    assert [f["test"]["rmse"] for f in arm["fold_records"]] == pytest.approx([0.7, 0.9, 1.1, 1.3, 1.5])
    assert {f["arm"] for f in arm["fold_records"]} == {"scale_targets=true"}
    assert arm["vs_base"]["folds"] == 5 and arm["vs_base"]["arm_lower"] == 3
    assert not list(results.glob(".partial-*"))

    ablation_bench.ablation(args)  # the same command again: both arms already recorded, nothing runs
    assert _calls(tmp_scratch) == []
    ablation_bench.ablation(_args(factors="scale_targets=true;batch_size=64", results=str(results), repeats=1))
    assert sorted(_calls(tmp_scratch)) == sorted(f'{{"batch_size": 64}} r0 f{k}' for k in range(5))
    records = json.loads((results / "t-ablation.json").read_text())
    assert [r["arm"] for r in records] == [BASE, "scale_targets=true", "batch_size=64"]
    assert records[2]["vs_base"]["mean_diff"] == pytest.approx(0.0)  # paired with the kept base record


def _ablation_record(arm: str, rmse: dict, **extra) -> dict:
    folds = [{"repeat": r, "fold": k, "test": {"rmse": v}, "arm": arm} for (r, k), v in rmse.items()]
    return {"kind": "ablation", "model": "cigin", "dataset": "freesolv", "arm": arm, "mean": 1.0, "std": 0.1,
            "repeats": 2, "folds": 5, "epochs": 500, "patience": 50, "mean_best_epoch": 80.0,
            "settings": {} if arm == BASE else {"scale_targets": True}, "fold_records": folds,
            "command": f"python bench/run_bench.py ablation --models cigin --datasets freesolv --arm {arm}",
            "machine": "m", "date": "d", **extra}


SPLITS = [(r, k) for r in range(2) for k in range(5)]
BASE_RMSE = {s: 1.0 + 0.1 * s[1] + 0.2 * s[0] for s in SPLITS}
ARM_RMSE = {s: BASE_RMSE[s] - 0.25 + 0.07 * s[1] for s in SPLITS}  # lower on folds 0..3, higher on fold 4


def _peer_file(results: Path, dataset: str = "freesolv", default_budget: bool = True) -> None:
    peer = {"kind": "peer", "model": "chemprop", "dataset": dataset, "peer_version": "2.3.1", "mean": 0.9,
            "std": 0.0, "repeats": 2, "folds": 5, "folds_run": 7, "paired": [], "command": "peer", "machine": "m",
            "date": "d", "default_budget": default_budget, "fold_records": [
                {"repeat": r, "fold": k, "test": {"rmse": 0.9}} for r, k in SPLITS[:7]]}  # 7 of the 10 splits
    (results / f"peer-{dataset}.json").write_text(json.dumps([peer]))


def test_each_arm_is_paired_with_its_base_and_with_chemprop_on_shared_folds(tmp_path):
    _peer_file(tmp_path)
    _peer_file(tmp_path, "compsol")  # another dataset: not paired
    (tmp_path / "acc.json").write_text(json.dumps([{"model": "cigin", "dataset": "freesolv", "mean": 1.0,
                                                    "fold_records": []}]))  # not a peer record
    base, arm = with_pairings([_ablation_record(BASE, BASE_RMSE), _ablation_record("scale_targets=true", ARM_RMSE)],
                              tmp_path)
    diffs = [ARM_RMSE[s] - BASE_RMSE[s] for s in SPLITS]
    assert base["vs_base"] is None
    assert arm["vs_base"]["folds"] == 10 and arm["vs_base"]["arm_lower"] == 8
    assert arm["vs_base"]["mean_diff"] == pytest.approx(statistics.mean(diffs))
    assert arm["vs_base"]["se_diff"] == pytest.approx(statistics.stdev(diffs) / math.sqrt(10))
    (peer,) = arm["vs_peer"]
    to_peer = [ARM_RMSE[s] - 0.9 for s in SPLITS[:7]]
    assert (peer["peer_record"], peer["folds"], peer["peer_default_budget"]) == ("peer-freesolv.json", 7, True)
    assert peer["mean_diff"] == pytest.approx(statistics.mean(to_peer))
    assert peer["se_diff"] == pytest.approx(statistics.stdev(to_peer) / math.sqrt(7))
    assert peer["arm_lower"] == sum(d < 0 for d in to_peer)
    assert base["vs_peer"][0]["mean_diff"] == pytest.approx(statistics.mean([BASE_RMSE[s] - 0.9 for s in SPLITS[:7]]))
    alone = with_pairings([_ablation_record("scale_targets=true", ARM_RMSE)], tmp_path / "absent")
    assert alone[0]["vs_base"] is None and alone[0]["vs_peer"] == []


def test_the_peer_bench_and_compare_keep_ablation_arms_apart(tmp_path):
    from bench.compare import pick
    from bench.peer_bench import zoo_pairings

    records = [_ablation_record(BASE, BASE_RMSE), _ablation_record("scale_targets=true", ARM_RMSE)]
    (tmp_path / "abl.json").write_text(json.dumps(records))
    peer = {"dataset": "freesolv", "fold_records": [{"repeat": r, "fold": k, "test": {"rmse": 0.9}}
                                                    for r, k in SPLITS]}
    assert zoo_pairings(peer, tmp_path) == []  # the arms carry their own chemprop pairing
    assert pick(tmp_path, "abl.json:cigin:freesolv:scale_targets=true")["arm"] == "scale_targets=true"
    with pytest.raises(SystemExit, match="cigin:freesolv:base, cigin:freesolv:scale_targets=true"):
        pick(tmp_path, "abl.json:cigin:freesolv")


def test_ablation_records_render_in_their_own_section(tmp_path):
    _peer_file(tmp_path, default_budget=False)
    (tmp_path / "other.json").write_text(json.dumps([{
        "model": "mpnn", "pretrainer": None, "dataset": "freesolv", "mean": 1.1, "std": 0.1, "folds": 5,
        "repeats": 3, "epochs": 500, "patience": 50, "command": "acc", "machine": "m", "date": "d"}]))
    assert "## Ablations" not in render_markdown(tmp_path)
    records = with_pairings([_ablation_record(BASE, BASE_RMSE, git_commit="0123456789abcdef"),
                             _ablation_record("scale_targets=true", ARM_RMSE)], tmp_path)
    (tmp_path / "ablation.json").write_text(json.dumps(records))
    text = render_markdown(tmp_path)
    section = text[text.index("## Ablations (issue 40)"):]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| cigin")]
    assert [row[:7] for row in rows] == [
        ["cigin", "freesolv", "`base`", "1.000 ± 0.100", "5 × 2", "500 (50)", "80"],
        ["cigin", "freesolv", "`scale_targets=true`", "1.000 ± 0.100", "5 × 2", "500 (50)", "80"]]
    diff = statistics.mean([ARM_RMSE[s] - BASE_RMSE[s] for s in SPLITS])
    assert rows[0][7] == "—" and rows[1][7].startswith(f"{diff:+.3f} ± ")
    assert rows[1][7].endswith("(lower on 8 of 10)")
    assert rows[1][8].endswith("(`peer-freesolv.json`, not chemprop's default budget)")
    assert rows[1][9] == f"`{records[1]['command']}`" and rows[0][10] == "`01234567`"
    assert rows[0][11] == "`ablation.json`"
    accuracy = text[text.index("## Accuracy"):text.index("## ", text.index("## Accuracy") + 3)]
    assert "| mpnn |" in accuracy and "| cigin |" not in accuracy  # the arms stay out of the accuracy table


def test_an_arm_fold_trains_with_its_settings(tmp_path):
    """One real fold, 1 epoch on FreeSolv: the arm's settings are in the run's saved config."""
    import yaml

    job = cell_jobs("mpnn", "freesolv", {"scale_targets": True, "batch_size": 64},
                    argparse.Namespace(epochs=1, patience=1, repeats=1), str(tmp_path))[2]
    result = ablation_bench.arm_fold(job)
    config = yaml.safe_load((Path(result["run_dir"]) / "config.yaml").read_text())
    assert (config["scale_targets"], config["batch_size"], config["seed"], config["only_folds"]) == (True, 64, 0, [2])
    assert (result["repeat"], result["fold"], result["epochs_run"]) == (0, 2, 1) and result["test"]["rmse"] > 0
