"""bench/moleculenet_bench.py's MolInteract arms (issue 36): the arm -> `zoo run` / `zoo pretrain` settings, the
record and the BENCHMARKS.md rows of a synthetic record (the paper's figure, the paired difference per seed, the
budgets), and one tiny end-to-end run of both arms on a few ClinTox molecules (pretraining, then fine-tuning the 2D
tower of the two-tower backbone; a rerun reuses the backbone)."""

import argparse
import json
import time

import pytest

from bench import moleculenet_bench as mn
from bench.render import render_markdown

ARMS = "molinteract-2d,molinteract-2d-pretrained"


def _args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    mn.add_parser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(["moleculenet", "--models", f"mpnn,{ARMS}", "--datasets", "clintox", *extra])


def test_each_arm_maps_to_its_zoo_run_and_zoo_pretrain_settings():
    args = _args("--seeds", "0,2", "--pretrain-epochs", "3", "--hidden", "32", "--layers", "2")
    plain, = [mn.plan_jobs("mpnn", "clintox", [0], args, "OUT")]
    assert plain == [("mpnn", "clintox", 0, "OUT")]   # an encoder's jobs (and resume keys) keep their shape
    assert mn.run_config(plain[0]) == {"encoder": "mpnn", "dataset": "clintox", "seed": 0, "repeats": 1,
                                       "output": "OUT", "threads": 1}
    scratch_jobs = mn.plan_jobs("molinteract-2d", "clintox", [0, 2], args, "OUT")
    pre_jobs = mn.plan_jobs("molinteract-2d-pretrained", "clintox", [0, 2], args, "OUT")
    assert [j[2] for j in scratch_jobs + pre_jobs] == [0, 2, 0, 2]
    assert json.loads(scratch_jobs[0][3]) == {"hidden": 32, "layers": 2}   # no pretraining epochs in its key
    assert json.loads(pre_jobs[0][3]) == {"hidden": 32, "layers": 2, "pretrain_epochs": 3}
    for job in scratch_jobs + pre_jobs:
        cfg = mn.run_config(job)
        assert cfg == {"encoder": "molinteract", "dataset": "clintox", "seed": job[2], "repeats": 1, "output": "OUT",
                       "threads": 1, "encoder_params": {"towers": "2d", "hidden": 32, "layers": 2}}
    assert mn.pretrain_args(pre_jobs[1]) == [
        "pretrain", "--pretrainer", "molinteract", "--encoder", "molinteract", "--dataset", "clintox", "--epochs", "3",
        "--encoder-param", "towers=both", "--encoder-param", "hidden=32", "--encoder-param", "layers=2",
        "--seed", "0", "--threads", "1", "--output", "OUT/pretraining", "--json", "--quiet"]
    assert mn.command_of("molinteract-2d-pretrained", "clintox", args).endswith(
        "--models molinteract-2d-pretrained --datasets clintox --seeds 0,2 --hidden 32 --layers 2 --pretrain-epochs 3")
    assert mn.command_of("mpnn", "clintox", args) == \
        "python bench/run_bench.py moleculenet --models mpnn --datasets clintox --seeds 0,2"
    defaults = mn.arm_budget("molinteract-2d", _args())
    assert defaults == {"hidden": 300, "layers": 6}   # the encoder's registry defaults, stated in the key


def _result(seed: int, auroc: float, arm: str | None) -> dict:
    out = {"seed": seed, "test": {"auroc": auroc, "per_task": {"CT_TOX": {"auroc": auroc}}}, "valid": {},
           "best_epoch": 10 + seed, "epochs_run": 40, "seconds": 100.0, "split": "scaffold", "select_by": "auroc",
           "n_molecules": 1478, "bad_rows": 0}
    if arm is None:
        return out
    pre = ({"pretrainer": "molinteract", "pair_set": "train-split", "transductive": False, "molecules": 1182,
            "epochs": 20, "batch_size": 48, "lr": 5e-5, "geometry": "etkdg", "seconds": 900.0, "reused": seed > 0,
            "encoder_params": {"towers": "both", "hidden": 300, "layers": 6},
            "conformers": {"embedded": 1163, "from_cache": 0, "seconds": 390.5}, "own_training_molecules": True}
           if arm.endswith("pretrained") else None)
    return dict(out, encoder_params={"towers": "2d", "hidden": 300, "layers": 6}, parameters=1_900_000,
                settings={"epochs": 100, "patience": 30, "lr": 0.001, "batch_size": 64, "lr_schedule": "plateau"},
                pretraining=pre)


def test_the_record_and_the_table_show_the_arms_beside_the_paper_with_paired_seeds(tmp_path):
    args = _args("--seeds", "0,1,2", "--pretrain-epochs", "20")
    records = [mn._record("mpnn", "clintox", [0, 1, 2], [_result(s, 0.87, None) for s in range(3)], "c", time.time())]
    for arm, aurocs in (("molinteract-2d", [0.80, 0.82, 0.84]), ("molinteract-2d-pretrained", [0.83, 0.81, 0.86])):
        results = [_result(s, a, arm) for s, a in enumerate(aurocs)]
        records.append(mn._record(arm, "clintox", [0, 1, 2], results, mn.command_of(arm, "clintox", args),
                                  time.time()))
    pre = records[2]
    assert pre["arm"]["pretraining"]["molecules"] == 1182 and pre["arm"]["pretraining"]["own_training_molecules"]
    assert pre["arm"]["encoder_params"] == {"towers": "2d", "hidden": 300, "layers": 6}
    assert "PCQM4Mv2" in pre["arm"]["paper_budget"] and pre["published"]["molinteract"] == (88.4, 1.0)
    assert "arm" not in records[0] and records[1]["arm"]["pretraining"] is None
    (tmp_path / "mnet.json").write_text(json.dumps(records))
    text = render_markdown(tmp_path)
    section = text[text.index("## MoleculeNet"):]
    rows = {c[0]: c for c in ([x.strip() for x in line.strip("|").split("|")]
                              for line in section.splitlines() if line.startswith("| m"))}
    assert rows["molinteract-2d"][2] == "82.0 ± 1.6" and rows["molinteract-2d"][6] == "88.4 ± 1.0"
    assert rows["molinteract-2d"][7] == "—" and rows["mpnn"][7] == "—"
    assert rows["molinteract-2d-pretrained"][6] == "88.4 ± 1.0"
    assert rows["molinteract-2d-pretrained"][7] == "+3.0, -1.0, +2.0 (mean +1.3)"
    assert ("- molinteract-2d-pretrained on clintox: 2D tower of molinteract, d = 300, L = 6, 1,900,000 parameters; "
            "fine-tuned 100 epochs (patience 30), lr 0.001, batch 64; pretrained first (both towers) 20 epochs on "
            "the task's own 1,182 training molecules (**not PCQM4Mv2**; etkdg geometry), batch 48, lr 5e-05, 900 s "
            "plus 390 s of conformers. Paper: pretrained 50 epochs on PCQM4Mv2") in section
    assert "- molinteract-2d on clintox: 2D tower of molinteract, d = 300, L = 6" in section
    assert "--pretrain-epochs 20" in section   # the pretrained arm's command states its budget


def test_both_arms_end_to_end_on_a_few_clintox_molecules(tmp_path, monkeypatch):
    """Tiny: 60 ClinTox molecules (scaffold split 48 / 6 / 6), d = 16, L = 2, 1 pretraining and 1 fine-tuning epoch, in this process (the
    pool's workers are forked from it, so the patched dataset reaches them)."""
    import tempfile

    import numpy as np

    from bench import seed_jobs
    from bench.records import save_records
    from zoo_core.data import datasets

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(mn, "RESULTS", tmp_path)
    monkeypatch.setattr(seed_jobs, "RESULTS", tmp_path)
    monkeypatch.setattr(seed_jobs, "save_records", lambda name, records: save_records(name, records, tmp_path))
    real_table, real_config = datasets.load_table, mn.run_config

    def few(name, **kw):
        table = real_table(name, **kw)
        return table.subset(np.arange(1, 1478, 20)[:60]) if name == "clintox" else table   # both classes in each set

    monkeypatch.setattr(datasets, "load_table", few)
    monkeypatch.setattr(mn, "run_config", lambda job: dict(real_config(job), epochs=1))
    args = _args("--seeds", "0", "--pretrain-epochs", "1", "--hidden", "16", "--layers", "2", "--name", "mn-test")
    args.models = ARMS
    mn.moleculenet(args)
    scratch_rec, pre_rec = json.loads((tmp_path / "mn-test.json").read_text())
    assert (scratch_rec["model"], pre_rec["model"]) == ("molinteract-2d", "molinteract-2d-pretrained")
    assert scratch_rec["n_molecules"] == 60 and scratch_rec["arm"]["pretraining"] is None
    assert pre_rec["arm"]["encoder_params"]["towers"] == "2d" and pre_rec["arm"]["parameters"] > 0
    pre = pre_rec["arm"]["pretraining"]
    assert pre["encoder_params"]["towers"] == "both" and pre["epochs"] == 1 and pre["pair_set"] == "train-split"
    assert pre["molecules"] == 48 and not pre["transductive"] and pre["reused"] is False   # the scaffold split's 48
    assert all(0 <= r["mean"] <= 1 and r["seed_records"][0]["best_epoch"] == 1 for r in (scratch_rec, pre_rec))
    assert pre["tasks"] == ["distance", "angle", "bond_existence", "bond_type"]
    assert not (tmp_path / ".partial-mn-test.json").exists()
    # the same command again: both cells are recorded by it, nothing runs
    with monkeypatch.context() as patch:
        patch.setattr(mn, "_job", lambda job: pytest.fail(f"{job} ran again"))
        mn.moleculenet(args)
    # the pretrained arm measured anew: the cached backbone is reused (and the finished run read back)
    args.models, args.remeasure = "molinteract-2d-pretrained", True
    mn.moleculenet(args)
    again = json.loads((tmp_path / "mn-test.json").read_text())
    assert [r["model"] for r in again] == ["molinteract-2d", "molinteract-2d-pretrained"]
    assert again[1]["arm"]["pretraining"]["reused"] is True and again[1]["per_seed"] == pre_rec["per_seed"]
