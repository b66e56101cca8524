"""QM9 from qm9pack: units, atom-order matching of the DFT geometries, the papers' split, --targets. The tests that
read the data use the first 1,000 molecules (``params.limit``) and skip when qm9pack is not installed
(``pip install 'zoo-datasets[qm9]'``; the Makefile installs it)."""

import dataclasses
import importlib.util

import numpy as np
import pytest

from zoo_core.data.splits import make_splits

needs_qm9 = pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None,
                               reason="qm9pack not installed (pip install 'zoo-datasets[qm9]')")


@pytest.fixture(scope="module")
def qm9_1k(tmp_path_factory):
    import os

    from zoo_core.data.datasets import dataset_entry, locate
    from zoo_datasets.qm9 import read_qm9_entry

    os.environ.setdefault("ZOO_HOME", str(tmp_path_factory.mktemp("zoo-home")))
    entry = dataset_entry("qm9")
    entry = dataclasses.replace(entry, data={**entry.data, "params": {**entry.params, "limit": 1000}})
    return read_qm9_entry(entry, locate(entry))


@needs_qm9
def test_units_and_targets(qm9_1k):
    """Methane (QM9 index 1): HOMO −0.3877 Ha = −10,549.85 meV, α 13.21 bohr³, Cv 6.469 cal/(mol K)."""
    t = qm9_1k
    assert len(t) + len(t.bad) == 1000 and t.lines[0] == 1 and t.smiles[0] == "C"
    row = dict(zip(t.targets, t.y[0]))
    assert t.targets == ("mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0", "u298", "h298", "g298", "cv")
    assert row["homo"] == pytest.approx(-0.3877 * 27211.386)
    assert row["gap"] == pytest.approx(0.5048 * 27211.386) and row["alpha"] == pytest.approx(13.21)
    assert row["cv"] == pytest.approx(6.469) and row["u0"] == pytest.approx(-40.47893 * 27211.386)
    sub = t.select_targets(["homo", "lumo", "alpha"])
    assert sub.targets == ("homo", "lumo", "alpha") and sub.y.shape == (len(t), 3)
    assert np.array_equal(sub.y[:, 2], t.y[:, 1])


@needs_qm9
def test_bonded_distances_after_matching(qm9_1k):
    """Every bond of the featurizer's graph, measured on the matched DFT positions, is 0.9-1.7 Å: the positions are
    in the featurizer's atom order (an order-based copy puts bonded atoms far apart)."""
    from zoo_core.data.molecules import MolDataset
    from zoo_core.chem.positions import store_positions

    data = MolDataset.from_table(qm9_1k, "mrl56", True, use_cache=False, progress=False)
    pos, _ = store_positions(data.store, True, positions=qm9_1k.positions)
    store = data.store
    offsets = np.repeat(store.node_ptr[:-1].numpy(), np.diff(store.edge_ptr.numpy()))
    src, dst = store.edge_index.numpy() + offsets
    d = np.linalg.norm(pos.numpy()[src] - pos.numpy()[dst], axis=1)
    assert len(store) >= 990 and len(d) > 20_000
    assert d.min() > 0.9 and d.max() < 1.7, (d.min(), d.max())
    shuffled = np.linalg.norm(pos.numpy()[src] - pos.numpy()[np.roll(dst, 1)], axis=1)
    assert shuffled.max() > 1.7   # the check can fail


@needs_qm9
def test_heavy_atom_run_takes_the_heavy_rows(qm9_1k):
    from zoo_core.chem.positions import heavy_atom_positions, store_positions
    from zoo_core.data.molecules import MolDataset

    table = qm9_1k.subset(np.arange(len(qm9_1k)) < 50)
    data = MolDataset.from_table(table, "mrl56", False, use_cache=False, progress=False)
    pos, _ = store_positions(data.store, False, positions=heavy_atom_positions(table.positions, data.store))
    assert pos.shape[0] == int(data.store.node_ptr[-1])


def test_mismatched_geometry_is_a_bad_row(monkeypatch, tmp_path):
    """A SMILES whose graph the geometry does not fit is reported with its QM9 index, not dropped."""
    from zoo_core.registry import Entry
    from zoo_datasets import qm9

    header = "Index,SMILES,Elements,XYZ_Ang," + ",".join(c for c, _, _ in qm9.TARGETS.values())
    water = "\"['O','H','H']\",\"[[0,0,0],[0.96,0,0],[-0.24,0.93,0]]\""
    values = ",".join(["1.0"] * len(qm9.TARGETS))
    path = tmp_path / "part.csv"
    path.write_text(f"{header}\n7,O,{water},{values}\n8,CC,{water},{values}\n")
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    entry = Entry("datasets", "qm9-test", {"roles": ["molecule"], "task": "regression", "source": {"sha256": "0" * 64}},
                  tmp_path / "r.yaml")
    table = qm9.read_qm9_entry(entry, path)
    assert table.smiles == ["O"] and list(table.lines) == [7] and table.positions["O"].shape == (3, 3)
    assert len(table.bad) == 1 and table.bad[0].line == 3 and "QM9 molecule 8" in table.bad[0].reason


def test_fixed_random_split():
    (tr, va, te), = make_splits("fixed-random:110000,10000,42", 130_831, seed=7)
    assert (len(tr), len(va), len(te)) == (110_000, 10_000, 10_831)
    assert len(np.intersect1d(tr, te)) == 0 and len(np.union1d(np.union1d(tr, va), te)) == 130_831
    (tr2, _, _), = make_splits("fixed-random:110000,10000,42", 130_831, seed=0)
    assert np.array_equal(tr, tr2)            # the run's seed does not move the papers' split
    (tr3, _, _), = make_splits("fixed-random:110000,10000,1", 130_831, seed=0)
    assert not np.array_equal(tr, tr3)
    with pytest.raises(ValueError, match="leave a test set"):
        make_splits("fixed-random:900,100", 1000, seed=0)
    with pytest.raises(ValueError, match="TRAIN,VALID"):
        make_splits("fixed-random:0.8,0.1", 1000, seed=0)


def test_missing_package_says_how_to_install(monkeypatch):
    from zoo_core.data import datasets

    monkeypatch.setattr(datasets, "_package_folder", lambda package: None)
    monkeypatch.setattr(datasets, "_embedded_path", lambda entry: None)
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    with pytest.raises(datasets.DatasetNotFound, match=r"pip install 'zoo-datasets\[qm9\]'"):
        datasets.locate("qm9")


def test_targets_option_is_generic():
    from zoo_core.data.table import MolTable
    from zoo_core.errors import UsageError
    from zoo_core.train.config import select_targets

    t = MolTable("x", ("molecule",), ["C", "O"], np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([1, 2]),
                 targets=("a", "b", "c"))
    assert select_targets(t, "c,a", "x").y.tolist() == [[3.0, 1.0], [6.0, 4.0]]
    assert select_targets(t, None, "x") is t
    with pytest.raises(UsageError, match="unknown target.*'z'.*a, b, c"):
        select_targets(t, ["z"], "x")
