"""Single-molecule datasets (MoleculeNet Tox21, ClinTox, HIV) and the molecule_csv reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo_core.data import datasets as ds
from zoo_core.errors import DataError
from zoo_core.registry import Entry

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "moleculenet" / "chemprop_tox21.csv").is_file(),
                                  reason=f"shared data copies not found in {SHARED}")
# name -> (rows, tasks, empty label cells)
EXPECTED = {"tox21": (7831, 12, 16026), "clintox": (1478, 2, 0), "hiv": (41127, 1, 0)}


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    monkeypatch.setenv("ZOO_DATA_DIR", str(SHARED))
    monkeypatch.setenv("ZOO_OFFLINE", "1")


def test_entries_state_their_protocol():
    for name in EXPECTED:
        entry = ds.dataset_entry(name)
        assert entry["roles"] == ["molecule"] and entry["task"] == "classification"
        assert entry["metric"] == "auroc" and entry["select_by"] == "auroc" and entry["split"] == "scaffold"
        assert len(entry["targets"]) == EXPECTED[name][1]
        assert "chemprop/chemprop/3f2b73372a8968f0f73b2fb279a5780cae918d58" in ds.source_of(entry)["url"]


@needs_shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_molecule_sets_load_with_every_task(name):
    n_rows, n_tasks, n_missing = EXPECTED[name]
    table = ds.load_table(name)
    assert len(table) == n_rows and not table.bad
    assert table.y.shape == (n_rows, n_tasks)
    assert int(np.isnan(table.y).sum()) == n_missing        # empty cells are kept as NaN labels, rows kept
    labelled = table.y[~np.isnan(table.y)]
    assert set(np.unique(labelled)) <= {0.0, 1.0}
    assert table.roles == ("molecule",)


def _entry(tmp_path, **extra) -> Entry:
    data = {"impl": "molecule_csv", "plugin": "zoo-datasets", "task": "classification", "roles": ["molecule"],
            "target": "t", "metric": "auroc", "split": "scaffold", "explicit_h": False, "columns": {"a": "smiles"},
            **extra}
    return Entry("datasets", "toy", data, tmp_path / "registry.yaml")


def test_reader_masks_empty_cells_and_reports_bad_labels(tmp_path):
    from zoo_datasets.molecule_readers import read_molecule_csv_entry

    path = tmp_path / "toy.csv"
    path.write_text("smiles,a,b\nCCO,1,\nCCN,,0\n,1,1\nCCC,2,0\nCCCl,0,x\n")
    table = read_molecule_csv_entry(_entry(tmp_path), path)   # targets: every column but smiles
    assert table.targets == ("a", "b") and table.smiles == ["CCO", "CCN"]
    assert np.isnan(table.y[0, 1]) and np.isnan(table.y[1, 0]) and table.y[0, 0] == 1.0
    assert [(b.line, b.field) for b in table.bad] == [(4, "molecule"), (5, "a"), (6, "b")]
    assert "not 0 or 1" in table.bad[1].reason and "not a number" in table.bad[2].reason


def test_single_target_missing_label_is_a_bad_row(tmp_path):
    from zoo_datasets.molecule_readers import read_molecule_csv_entry

    path = tmp_path / "one.csv.gz"
    import gzip
    path.write_bytes(gzip.compress(b"smiles,active\nCCO,1\nCCN,\n"))
    table = read_molecule_csv_entry(_entry(tmp_path, targets=["active"]), path)
    assert table.smiles == ["CCO"] and [(b.line, b.reason) for b in table.bad] == [(3, "missing label")]


def test_reader_names_a_missing_smiles_column(tmp_path):
    from zoo_datasets.molecule_readers import read_molecule_csv_entry

    path = tmp_path / "toy.csv"
    path.write_text("smi,a\nCCO,1\n")
    with pytest.raises(DataError, match="no column 'smiles'"):
        read_molecule_csv_entry(_entry(tmp_path), path)
