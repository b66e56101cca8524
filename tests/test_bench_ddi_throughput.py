"""bench/ddi_throughput.py: a DDI throughput record is assembled from its child's measurement (no timing here)."""

import argparse
import json

import pytest

from bench.ddi_throughput import throughput_record
from bench.render import render_markdown

ARGS = argparse.Namespace(models="cgib,i2mole", dataset="chchminer", split="transductive", threads=1, warmup=2,
                          steps=2, eval_batches=1, note="")
CHILD = {"batch_size": 512, "eval_batch_size": 1024, "lr": 1e-4, "step_seconds": [4.0, 6.0],
         "step_cpu_seconds": [3.0, 5.0], "eval_pairs": 1024,
         "eval_seconds": 2.0, "eval_cpu_seconds": 1.0, "train_rows": 25298, "valid_rows": 8434, "peak_rss_gb": 1.1,
         "data_rss_gb": 0.34,
         "settings": {"encoder": "mpnn", "encoder_params": {"steps": 3}, "pair_params": {"symmetric": True},
                      "featurizer": "chemprop133", "atom_dim": 133, "bond_dim": 14, "node_width": 133,
                      "parameters": 1881192},
         "molecules": {"count": 949, "atoms_mean": 28.4, "atoms_median": 26.0, "atoms_max": 208, "bonds_mean": 30.4}}
LOAD = {"start": [3.5, 3.8, 3.9], "end": [4.1, 3.9, 3.9]}


def test_the_record_derives_rates_and_names_the_load_and_the_command():
    r = throughput_record("cgib", CHILD, ARGS, LOAD)
    assert r["kind"] == "ddi-throughput" and (r["model"], r["dataset"], r["steps"]) == ("cgib", "chchminer", 2)
    assert r["pairs_per_s"] == pytest.approx(1024 / 10.0) and r["pairs_per_cpu_s"] == pytest.approx(1024 / 8.0)
    assert r["eval_pairs_per_s"] == pytest.approx(512.0)
    assert r["epoch_seconds"] == pytest.approx(25298 / 102.4 + 8434 / 512.0)
    assert r["epoch_cpu_seconds"] == pytest.approx(25298 / 128.0 + 8434 / 1024.0)
    assert r["settings"]["node_width"] == 133 and r["load_average"] == LOAD
    command = ("python bench/run_bench.py ddi-throughput --models cgib,i2mole --dataset chchminer --split "
               "transductive --threads 1 --warmup 2 --steps 2 --eval-batches 1")
    assert r["command"] == command
    assert "[3.5, 3.8, 3.9] at start, [4.1, 3.9, 3.9] at end" in r["note"] and command in r["note"]


def test_the_record_renders_its_own_section(tmp_path):
    (tmp_path / "ddi-throughput.json").write_text(json.dumps([throughput_record("cgib", CHILD, ARGS, LOAD)]))
    text = render_markdown(tmp_path)
    section = text[text.index("## DDI training throughput"):]
    row = next(line for line in section.splitlines() if line.startswith("| cgib"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:12] == ["cgib", "chchminer", "102.4", "128.0", "6.00", "512", "264 (206)", "1.10 (0.34)", "512", "1",
                          "133, 1,881,192", "28.4, 208"]
    assert "3.5 → 4.1" in row and "at start" in section
