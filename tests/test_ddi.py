"""DDI negatives, splits, Type 1 / Type 2 test rows and the degree baseline (zoo_core.data.ddi,
zoo_core.train.ddi_report; METHODS §2.3), and a tiny end-to-end ``zoo run`` on a DDI positives set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from zoo_core.data import ddi
from zoo_core.data.table import PairTable
from zoo_core.errors import DataError
from zoo_core.train import ddi_report


def toy_drugs(n: int = 40) -> list[str]:
    """``n`` distinct small molecules (canonical SMILES)."""
    from rdkit import Chem

    stems = ["C{}O", "C{}N", "c1ccccc1C{}", "C1CC1C{}", "C1CCCCC1C{}", "c1ccncc1C{}", "C1CCOC1C{}", "C1CCNCC1C{}"]
    out = [Chem.MolToSmiles(Chem.MolFromSmiles(s.format("C" * k))) for k in range(5) for s in stems]
    assert len(set(out)) == len(out)
    return out[:n]


def toy_positives(n: int = 40) -> PairTable:
    """About a third of all pairs of ``n`` drugs, in file order (the larger index first, to test the sorting)."""
    drugs = toy_drugs(n)
    pairs = [(drugs[j], drugs[i]) for i in range(n) for j in range(i + 1, n) if (i + j) % 3 == 0]
    return PairTable("toy.csv", ("drug_a", "drug_b"), [p[0] for p in pairs], [p[1] for p in pairs],
                     np.ones(len(pairs)), np.arange(2, len(pairs) + 2), targets=("interaction",))


def pair_set(table: PairTable, rows) -> list[frozenset]:
    return [frozenset((table.a[i], table.b[i])) for i in rows]


@pytest.fixture(scope="module")
def positives() -> PairTable:
    return toy_positives()


@pytest.mark.parametrize("protocol", ddi.DDI_SPLITS)
def test_negatives_are_never_positives_self_pairs_or_repeats(positives, protocol):
    rows = ddi.ddi_rows(positives, protocol, seeds=[0, 1])
    table, y = rows.table, rows.table.y
    known = set(pair_set(positives, range(len(positives))))
    for folds in rows.folds:
        used = np.concatenate(folds[0])
        negatives = pair_set(table, used[y[used] == 0])
        assert len(negatives) == len(set(negatives)) == int((y[used] == 1).sum())   # 1:1, no pair twice
        assert not known & set(negatives) and all(len(p) == 2 for p in negatives)
    assert all(a < b for a, b in zip(table.a, table.b))   # every row sorted: column order carries no label


@pytest.mark.parametrize("protocol", ddi.DDI_SPLITS)
def test_the_same_seed_gives_the_same_pairs_and_another_seed_others(positives, protocol):
    first, again, other = (ddi.ddi_rows(positives, protocol, seeds=[s]) for s in (3, 3, 4))
    assert first.table.a == again.table.a and first.table.b == again.table.b
    for x, z in zip(first.folds[0][0], again.folds[0][0]):
        np.testing.assert_array_equal(x, z)
    assert first.table.a != other.table.a or first.table.b != other.table.b


@pytest.mark.parametrize("protocol", ["transductive", "inductive"])
def test_every_part_is_balanced_one_to_one(positives, protocol):
    rows = ddi.ddi_rows(positives, protocol, seeds=[0])
    table, y = rows.table, rows.table.y
    train, valid, test = rows.folds[0][0]
    for part in (train, valid, test):
        assert len(part) > 0 and (y[part] == 1).sum() == (y[part] == 0).sum()
    if protocol == "inductive":   # and each test type holds as many negatives as positives
        types = ddi.unseen_drugs(table, train, test)
        for k in (1, 2):
            assert (types == k).any() and (y[test][types == k] == 1).sum() == (y[test][types == k] == 0).sum()


@pytest.mark.parametrize("protocol", ["inductive", "molecule", "scaffold"])
def test_no_held_out_drug_in_training_pairs(positives, protocol):
    rows = ddi.ddi_rows(positives, protocol, seeds=[0, 1, 2])
    table = rows.table
    for train, valid, test in (f[0] for f in rows.folds):
        assert (ddi.unseen_drugs(table, train, valid) >= 1).all()   # every held-out row has an unseen drug
        assert (ddi.unseen_drugs(table, train, test) >= 1).all()
        seen = {table.a[i] for i in train} | {table.b[i] for i in train}
        held = [{d for i in part for d in (table.a[i], table.b[i])} - seen for part in (valid, test)]
        if protocol == "inductive":
            assert held[0] and held[1] and not held[0] & held[1]   # disjoint validation and test drug sets
        else:
            assert held[0] & held[1]   # 3DMRL: validation and test share the held-out drugs (the leak it names)
        assert rows.leak is None if protocol == "inductive" else "3DMRL" in rows.leak


def test_inductive_counts_every_positive_once(positives):
    rows = ddi.ddi_rows(positives, "inductive", seeds=[0])
    record = rows.records[0]
    used = np.concatenate(rows.folds[0][0])
    assert (rows.table.y[used] == 1).sum() + record["unused_positives"] == len(positives)
    assert record["unused_positives"] > 0 and sum(record["drugs"].values()) == record["drugs_total"] == 40


def test_transductive_names_its_leak_and_sees_every_test_drug(positives):
    rows = ddi.ddi_rows(positives, "transductive", seeds=[0])
    train, _, test = rows.folds[0][0]
    assert "transductive" in rows.leak and (ddi.unseen_drugs(rows.table, train, test) == 0).mean() > 0.9


def test_types_count_the_drugs_absent_from_training_rows():
    table = PairTable("t", ("a", "b"), ["A", "A", "A", "X", "B"], ["B", "B", "X", "Y", "Z"], np.ones(5),
                      np.arange(5))
    np.testing.assert_array_equal(ddi.unseen_drugs(table, np.array([0]), np.arange(1, 5)), [0, 1, 2, 1])


def test_degree_baseline_by_hand():
    # training: positives (A,B) (A,C), negative (B,C) -> degrees A 2, B 1, C 1; X, Y unseen
    table = PairTable("t", ("a", "b"), ["A", "A", "B", "A", "C", "X", "B"], ["B", "C", "C", "X", "X", "Y", "Y"],
                      np.array([1, 1, 0, 1, 0, 1, 0.0]), np.arange(7))
    y = table.y
    test = np.array([3, 4, 5, 6])
    scores = ddi_report.degree_scores(table, y, np.array([0, 1, 2]), test)
    np.testing.assert_array_equal(scores, [2, 1, 0, 1])   # A+X, C+X, X+Y, B+Y
    # positives (rows 3, 5) score 2 and 0, negatives (4, 6) score 1 and 1: pairs won 1 + 0, of 4 -> 0.5
    assert ddi_report.rank_metrics(y[test], scores)["auroc"] == pytest.approx(0.5)
    assert ddi_report.rank_metrics(y[test[:2]], scores[:2])["auroc"] == 1.0


def test_average_precision_counts_tied_scores_together():
    from zoo_core.train.metrics import average_precision

    # constant scores: the positive rate, whatever the row order (positives come first in a DDI test part)
    assert average_precision([1, 1, 0, 0], [0, 0, 0, 0]) == average_precision([0, 0, 1, 1], [0, 0, 0, 0]) == 0.5
    # thresholds 3, 2, 1 each add a third of the recall at precision 1, 2/3 (a tied positive and negative), 3/5
    assert average_precision([1, 1, 0, 1, 0], [3, 2, 2, 1, 1]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_a_positives_table_with_a_negative_a_self_pair_or_a_repeat_is_refused():
    def table(a, b, y):
        return PairTable("f.csv", ("a", "b"), a, b, np.asarray(y, dtype=float), np.arange(2, 2 + len(a)))
    with pytest.raises(DataError, match="f.csv, line 3, field 'y'"):
        ddi.drugs_of(table(["C", "N"], ["O", "S"], [1, 0]))
    with pytest.raises(DataError, match="line 2, field 'b': a drug paired with itself"):
        ddi.drugs_of(table(["C"], ["C"], [1]))
    with pytest.raises(DataError, match="line 3: the pair is given twice"):
        ddi.drugs_of(table(["C", "O"], ["O", "C"], [1, 1]))
    with pytest.raises(DataError, match="not a DDI split"):
        ddi.ddi_rows(table(["C"], ["O"], [1]), "mi5fold", [0])


def test_a_pair_space_too_small_for_its_negatives_is_counted_not_hidden():
    rng = np.random.RandomState(0)
    keys, short = ddi.sample_negatives(rng, 4, np.arange(4), None, n=10, forbidden=np.array([1]))
    assert len(keys) == 5 and short == 5   # 6 pairs of 4 drugs, one positive


# --- end to end ----------------------------------------------------------------------------------------------

def _toy_entry(tmp_path: Path) -> dict:
    """A DDI registry entry over a toy MIRACLE-style file pair (written into a data folder under tmp_path)."""
    table = toy_positives(40)
    files = []
    for k, rows in enumerate((range(0, len(table), 2), range(1, len(table), 2))):
        path = tmp_path / "data" / "ddi" / f"toy_{k}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("smiles_1,smiles_2,label\n" + "".join(f"{table.a[i]},{table.b[i]},1\n" for i in rows)
                        + "CCO,CCN,0\n")
        files.append({"file": f"ddi/toy_{k}.csv", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                      "url": f"https://example.invalid/toy_{k}.csv"})
    return {"impl": "miracle_ddi", "plugin": "zoo-datasets", "task": "classification", "roles": ["drug_a", "drug_b"],
            "columns": {"a": "smiles_1", "b": "smiles_2", "y": "label"}, "target": "interaction", "metric": "auroc",
            "select_by": "auroc", "split": "transductive", "explicit_h": False, "negatives": {"ratio": 1},
            "train": {"lr": 1e-3, "batch_size": 64}, "source": {**files[0], "extra_files": [files[1]]}}


def test_inductive_run_writes_type1_type2_metrics_and_the_baseline(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from zoo_cli.main import app
    from zoo_core.registry import Entry, get_registry

    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setitem(get_registry().sections["datasets"], "ddi-toy",
                        Entry("datasets", "ddi-toy", _toy_entry(tmp_path), tmp_path / "registry.yaml"))
    r = CliRunner().invoke(app, ["run", "--encoder", "mpnn", "--dataset", "ddi-toy", "--split", "inductive",
                                 "--epochs", "1", "--repeats", "1", "--output", str(tmp_path), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    fold = metrics["folds"][0]
    assert metrics["bad_rows"] == 2   # the two negative rows of the files
    assert metrics["ddi"]["split"] == "inductive" and metrics["ddi"]["leak"] is None
    counts = metrics["ddi"]["repeats"][0]["folds"][0]
    assert fold["test_type1"]["n"] == counts["test_unseen_drugs"]["1"] > 0
    assert fold["test_type2"]["n"] == counts["test_unseen_drugs"]["2"] > 0
    assert fold["baseline"]["test_type2"] == {"auroc": 0.5, "ap": 0.5}   # both degrees 0 on every Type 2 row
    assert set(metrics["baseline"]) == {"score", "test", "test_type1", "test_type2"}
    assert 0.0 <= metrics["test_type1"]["auroc"]["mean"] <= 1.0
    assert metrics["baseline"]["test"]["auroc"]["mean"] == fold["baseline"]["test"]["auroc"]


def test_cgib_takes_the_ddi_beta_from_the_dataset_entry_unless_the_user_sets_one():
    """CGIB's DDI protocol uses beta = 1e-4 (METHODS §6.2), its molecular-interaction one 1.0: the DDI entries say so
    in ``pair_params``, which a user's ``--pair-param`` still overrides; other datasets keep the model default."""
    from zoo_core.models import model_spec
    from zoo_core.registry import get_registry

    reg = get_registry()
    for dataset in ("chchminer", "zhangddi"):
        on_ddi = reg.entry("datasets", dataset).get("pair_params")
        for model in ("cgib", "cgib_cont"):
            spec = model_spec(model, task="classification", dataset_pair_params=on_ddi, symmetric_task=True)
            assert spec["pair_params"]["beta"] == 1e-4
            mine = model_spec(model, task="classification", dataset_pair_params=on_ddi, pair_params={"beta": 0.5})
            assert mine["pair_params"]["beta"] == 0.5
        assert model_spec("cigin", task="classification", dataset_pair_params=on_ddi)["pair_params"].get("beta") is None
    assert model_spec("cgib", dataset_pair_params=reg.entry("datasets", "compsol").get("pair_params"))[
        "pair_params"]["beta"] == 1.0
