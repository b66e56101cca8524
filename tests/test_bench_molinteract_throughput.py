"""bench/molinteract_throughput.py: a record is assembled from its child's measurement (no timing there), renders
its own section, and one tiny real fine-tuning measurement (ClinTox, d 16, L 2, one step) has the child's shape."""

import argparse
import json

import pytest

from bench.molinteract_throughput import CONFIGS, measure, throughput_record
from bench.render import render_markdown

ARGS = argparse.Namespace(configs="qm9-budget,clintox-2d", phases="pretraining,fine-tuning", threads=1, warmup=2,
                          steps=2, qm9_molecules=1500, note="shared by two single-thread training jobs")
CHILD = {"batch_size": 48, "lr": 5e-5, "step_seconds": [0.5, 0.7], "step_cpu_seconds": [0.4, 0.4],
         "peak_rss_gb": 0.61, "data_rss_gb": 0.26, "train_rows": 1500, "towers": "both",
         "molecules": {"count": 1500, "atoms_mean": 18.0, "atoms_median": 18.0, "atoms_max": 27, "bonds_mean": 18.7},
         "settings": {"pretrainer": "molinteract", "tasks": ["distance", "angle", "bond_existence", "bond_type"],
                      "geometry": "dataset", "parameters": 1131013, "head_parameters": 200071,
                      "encoder_params": {"hidden": 128, "layers": 4, "towers": "both"}}}
SAMPLE = {"molecules": 1500, "drawn": 1500, "left_out": 0, "of": 130831, "seed": 0}
LOAD = {"start": [3.5, 3.8, 3.9], "end": [4.1, 3.9, 3.9]}
COMMAND = ("python bench/run_bench.py molinteract-throughput --configs qm9-budget,clintox-2d --phases "
           "pretraining,fine-tuning --threads 1 --warmup 2 --steps 2 --qm9-molecules 1500")


def test_the_record_derives_rates_and_names_the_sample_the_load_and_the_command():
    r = throughput_record("qm9-budget", "pretraining", CHILD, ARGS, LOAD, SAMPLE)
    assert r["kind"] == "molinteract-throughput" and (r["config"], r["phase"], r["dataset"]) == \
        ("qm9-budget", "pretraining", "qm9")
    assert (r["hidden"], r["layers"], r["towers"], r["steps"], r["batch_size"]) == (128, 4, "both", 2, 48)
    assert r["molecules_per_s"] == pytest.approx(96 / 1.2) and r["molecules_per_cpu_s"] == pytest.approx(96 / 0.8)
    assert r["train_molecules"] == 50_000 and r["epoch_seconds"] == pytest.approx(50_000 / 80.0)
    assert r["epoch_cpu_seconds"] == pytest.approx(50_000 / 120.0)
    assert r["command"] == COMMAND and r["load_average"] == LOAD and r["sample"] == SAMPLE
    assert "[3.5, 3.8, 3.9] at start, [4.1, 3.9, 3.9] at end" in r["note"] and COMMAND in r["note"]
    assert "sample of 1,500 of its 130,831" in r["note"] and r["note"].endswith("single-thread training jobs")
    clintox = throughput_record("clintox-2d", "fine-tuning", dict(CHILD, towers="2d", train_rows=1182), ARGS, LOAD,
                                None)
    assert clintox["train_molecules"] == 1182 and clintox["sample"] is None and "QM9" not in clintox["note"]


def test_the_record_renders_its_own_section(tmp_path):
    (tmp_path / "molinteract-throughput.json").write_text(
        json.dumps([throughput_record("qm9-budget", "pretraining", CHILD, ARGS, LOAD, SAMPLE)]))
    text = render_markdown(tmp_path)
    section = text[text.index("## MolInteract training throughput"):]
    row = next(line for line in section.splitlines() if line.startswith("| qm9-budget"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:17] == ["qm9-budget", "pretraining", "qm9", "128, 4", "both", "80.0", "120.0", "0.70", "48, 5e-05",
                          "625 (417)", "50,000", "0.61 (0.26)", "1", "1,131,013 + 200,071", "18.0, 27",
                          "sample of 1,500 of 130,831", "3.5 → 4.1"]
    assert "at start" in section and "single-thread training jobs" in section


def test_a_tiny_fine_tuning_measurement_has_the_child_shape():
    """ClinTox's 2D tower at d 16, L 2: one step of the entry's batch (64) on the scaffold split's training rows."""
    job = dict(CONFIGS["clintox-2d"], hidden=16, layers=2, phase="fine-tuning", threads=1, warmup=0, steps=1,
               sample=None)
    child = measure(job)
    assert child["towers"] == "2d" and child["batch_size"] == 64 and len(child["step_seconds"]) == 1
    assert child["settings"]["encoder_params"]["hidden"] == 16 and child["settings"]["loss"] == "bce"
    assert 1000 < child["train_rows"] < child["molecules"]["count"] and child["data_rss_gb"] <= child["peak_rss_gb"]
    record = throughput_record("clintox-2d", "fine-tuning", child, ARGS, LOAD, None)
    assert record["molecules_per_s"] > 0 and record["epoch_seconds"] > 0
