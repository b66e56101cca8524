"""DDI weights (issue 35 part 5): bench/publish_weights.py publishes `i2mole.chchminer` and `cgib.chchminer` as the DDI
bench's seed-0 transductive cell, with AUROC metrics, the degree baseline, the leak and the data license on the
card, no `.full` version, and `zoo predict --weights` writes a probability for every row of a two-column drug-pair
CSV. The recipes run unchanged on the registry's `chchminer` entry pointed at a toy MIRACLE-style file (40 drugs), so
a 1-epoch publication takes seconds."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from test_ddi import _toy_entry, toy_positives
from test_pretrained_weights import (ROOT, TOLERANCE, _publisher, check_weight_file, predict_reproduces_registry_auroc,
                                     use_registry)
from zoo_cli.main import app
from zoo_core import registry as R

DDI = ("i2mole.chchminer", "cgib.chchminer")


def _toy_chchminer_registry(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the zoo's registry whose `chchminer` is the real entry over the toy files (the process-wide registry
    too), with an empty weights/ beside it."""
    doc = yaml.safe_load((ROOT / "registry.yaml").read_text(encoding="utf-8"))
    toy = _toy_entry(tmp_path)  # writes the files under tmp_path/data
    doc["datasets"]["chchminer"] = dict(doc["datasets"]["chchminer"], source=dict(
        toy["source"], license=doc["datasets"]["chchminer"]["source"]["license"]), size=len(toy_positives(40)))
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (tmp_path / "weights").mkdir()
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    use_registry(monkeypatch, main=registry)
    return registry


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(registry, tmp folder) after `--only i2mole.chchminer,cgib.chchminer --epochs 1` into the toy registry."""
    tmp = tmp_path_factory.mktemp("ddi-publish")
    with pytest.MonkeyPatch.context() as monkeypatch:
        registry = _toy_chchminer_registry(tmp, monkeypatch)
        args = ["--only", ",".join(DDI), "--epochs", "1", "--output-dir", str(tmp / "weights"), "--registry",
                str(registry), "--runs-dir", str(tmp / "runs"), "--quiet"]
        assert _publisher().main(args) == 0
    return registry, tmp


def test_a_ddi_recipe_is_published_with_auroc_metrics_and_its_card(published, monkeypatch):
    registry, tmp = published
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp / "data"))
    use_registry(monkeypatch, main=registry)
    license_text = " ".join(R.get_registry().entry("datasets", "chchminer")["source"]["license"].split())
    weights = R.parse_registry_file(registry)["weights"]
    for name, paper in zip(DDI, ("98.84", "98.38")):
        entry = weights[name]
        check_weight_file(name, weights)
        assert re.fullmatch(rf"{name.split('.')[0]}\(mpnn\) trained on chchminer \(transductive 6:2:2 seed 0, "
                            r"negatives 1:1\); test AUROC 0\.\d{3}", entry["description"]), entry["description"]
        metrics, training = entry["metrics"], entry["training"]
        assert {"auroc", "ap", "f1", "acc", "degree_baseline_auroc", "degree_baseline_ap"} <= set(metrics)
        assert "rmse" not in metrics and all(0.0 <= metrics[k] <= 1.0 for k in ("auroc", "ap", "f1", "acc"))
        assert (training["split"], training["folds"], training["epochs"], training["patience"], training["lr"],
                training["batch_size"]) == ("transductive", 1, 1, 5, 1e-3, 128)   # the CPU budget's rate and batch
        assert metrics["test_pairs"] == training["test_pairs"] and training["train_pairs"] > 2 * training["test_pairs"]
        card = " ".join(entry["card"].split())
        for text in (f"AUROC {metrics['auroc']:.4f}", f"baseline on the same test pairs (score = training "
                     f"interactions of one drug + of the other): AUROC {metrics['degree_baseline_auroc']:.4f}",
                     "the 260 positive pairs and as many negatives (1:1, seeded", "split 6:2:2", "--split inductive",
                     "Data: chchminer, 260 positive pairs. ChChMiner (BioSNAP, Zitnik et al. 2018) as shipped",
                     "Leakage: transductive: both drugs", license_text,
                     f"Paper: AUROC {paper} %", "no full-data version", "columns drug_a and drug_b",
                     f"python bench/run_bench.py ddi --models {entry['model']} --datasets chchminer --splits "
                     f"transductive --seeds 0 --epochs 1 --patience 5 --lr 0.001 --batch-size 128",
                     "--patience 5 --lr 0.001 --batch-size 128.", "a budget this CPU affords"):
            assert text in card, (name, text, card)
        assert license_text in entry["license"] and ".full" not in card


def test_the_published_auroc_is_the_ddi_bench_cell_s_seed_0_figure(published, tmp_path, monkeypatch):
    """The DDI bench's own job (bench/ddi_bench.py) at the same budget gives the entry's test AUROC."""
    from bench.ddi_bench import _job

    registry, tmp = published
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp / "data"))
    use_registry(monkeypatch, main=registry)
    result = _job(("i2mole", "chchminer", "transductive", 0, 1, 5, 1e-3, 128, str(tmp_path / "bench")))
    entry = R.parse_registry_file(registry)["weights"]["i2mole.chchminer"]
    assert abs(result["test"]["auroc"] - entry["metrics"]["auroc"]) <= TOLERANCE
    assert result["baseline"]["test"] == pytest.approx(entry["metrics"]["degree_baseline_auroc"], abs=1e-6)


def test_zoo_predict_writes_a_probability_for_every_drug_pair(published, monkeypatch):
    """A two-column CSV named as the roles (no --columns), pairs in either order: one probability per row, the same
    for (a, b) and (b, a); the test part predicted from the CLI gives the entry's AUROC."""
    registry, tmp = published
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp / "data"))
    drugs = ["CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "CCO"]
    pairs = [(a, b) for a in drugs for b in drugs if a != b]
    for name in DDI:
        use_registry(monkeypatch, main=registry)
        path, out = tmp / f"{name}-pairs.csv", tmp / f"{name}-p.csv"
        path.write_text("drug_a,drug_b\n" + "".join(f"{a},{b}\n" for a, b in pairs))
        r = CliRunner().invoke(app, ["predict", "--weights", name, "--input", str(path), "--output", str(out)])
        assert r.exit_code == 0, r.output
        rows = list(csv.DictReader(open(out, newline="")))
        p = {(row["drug_a"], row["drug_b"]): float(row["prediction"]) for row in rows}
        assert len(rows) == len(pairs) and all(0.0 <= v <= 1.0 for v in p.values()), rows
        assert all(p[a, b] == pytest.approx(p[b, a], abs=1e-5) for a, b in pairs), name
        # the probabilities are written with 6 digits: on the toy's ~100 test pairs a tie can move the AUROC by 2e-4
        predict_reproduces_registry_auroc(name, tmp, monkeypatch, main=registry, tolerance=1e-3)


def test_a_ddi_recipe_has_no_full_data_version(tmp_path, capsys):
    pw = _publisher()
    args = ["--only", "i2mole.chchminer.full", "--output-dir", str(tmp_path / "weights"), "--registry",
            str(ROOT / "registry.yaml")]
    with pytest.raises(SystemExit) as stop:
        pw.main(args)
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 2 and "i2mole.chchminer.full: a DDI recipe has no full-data version" in message
    assert pw.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert '"i2mole.chchminer"' in listed and '"cgib.chchminer"' in listed and "chchminer.full" not in listed
    assert "cigin.compsol.full" in listed


def test_the_weights_table_shows_a_ddi_model_s_auroc_beside_the_paper_s(tmp_path):
    from bench.weights_table import published_weights_section

    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"weights": {"i2mole.chchminer": {
        "pair_model": "i2mole", "encoder": "mpnn", "dataset": "chchminer",
        "metrics": {"auroc": 0.97123, "test_pairs": 8434, "degree_baseline_auroc": 0.8456},
        "training": {"split": "transductive", "seed": 0, "best_epoch": 40, "epochs_run": 50, "epochs": 50,
                     "patience": 10}}}}))
    row = next(line for line in published_weights_section(registry) if line.startswith("| `i2mole.chchminer`"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2] == "transductive seed 0 (best epoch 40 of 50, budget 50/10)"
    assert cells[3] == "AUROC 0.9712 on 8434 test pairs (no-chemistry baseline 0.8456)"
    assert cells[4] == "AUROC 98.84 % (transductive)"
