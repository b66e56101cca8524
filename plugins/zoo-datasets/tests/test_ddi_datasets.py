"""DDI positives sets (ChChMiner, ZhangDDI): the readers, ``source.extra_files`` and the counts on the real files.

Real-data tests read ../shared/data (ZOO_DATA_DIR) and are skipped where it is absent; the fixtures run everywhere.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from zoo_core.data import datasets as ds
from zoo_core.errors import RegistryError
from zoo_core.registry import Entry

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "ddi" / "ChChMiner" / "ChChMiner_train.csv").is_file(),
                                  reason=f"shared data copies not found in {SHARED}")
# name -> (pairs, drugs, bad rows): ChChMiner 12,183 negative rows + 404 repeated positives; ZhangDDI the 849
# interactions of the 4 drugs without SMILES (METHODS §2.1: 21,082 / 949 and, stated by the papers, 40,255 / 544)
EXPECTED = {"chchminer": (21082, 949, 12587), "zhangddi": (47735, 544, 849)}


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    monkeypatch.setenv("ZOO_DATA_DIR", str(SHARED))
    monkeypatch.setenv("ZOO_OFFLINE", "1")


def _file(folder: Path, name: str, text: str) -> dict:
    path = folder / "ddi" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return {"file": f"ddi/{name}", "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "url": f"https://example.invalid/{name}"}


def _entry(tmp_path: Path, impl: str, files: list[dict], **extra) -> Entry:
    data = {"impl": impl, "plugin": "zoo-datasets", "task": "classification", "roles": ["drug_a", "drug_b"],
            "target": "interaction", "metric": "auroc", "split": "transductive", "explicit_h": False,
            "negatives": {"ratio": 1}, "source": {**files[0], "extra_files": files[1:]}, **extra}
    return Entry("datasets", "toy", data, tmp_path / "registry.yaml")


def test_entries_declare_a_ddi_positives_set():
    for name in EXPECTED:
        entry = ds.dataset_entry(name)
        assert entry["negatives"] == {"ratio": 1} and entry["split"] == "transductive"
        assert entry["task"] == "classification" and entry["select_by"] == "auroc"
        assert entry["size"] == EXPECTED[name][0]
        assert all(f["url"].startswith("https://raw.githubusercontent.com/")
                   for f in ds.source_of(entry)["extra_files"])


def test_extra_files_are_validated(tmp_path):
    files = [_file(tmp_path, "a.csv", "x"), _file(tmp_path, "b.csv", "y")]
    ds.check_entry(_entry(tmp_path, "miracle_ddi", files))
    for bad, match in ((dict(files[1], sha256="abc"), "extra_files\\[0\\].*sha256"),
                       (dict(files[1], file="../x.csv"), "relative path"),
                       ({"file": "ddi/b.csv"}, "must give exactly file, sha256, url")):
        with pytest.raises(RegistryError, match=match):
            ds.check_entry(_entry(tmp_path, "miracle_ddi", [files[0], bad]))
    with pytest.raises(RegistryError, match="ratio"):
        ds.check_entry(_entry(tmp_path, "miracle_ddi", files, negatives={"ratio": 0}))
    with pytest.raises(RegistryError, match="DDI split"):
        ds.check_entry(_entry(tmp_path, "miracle_ddi", files, split="mi5fold"))


def test_every_extra_file_is_hash_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    files = [_file(tmp_path, "a.csv", "x"), _file(tmp_path, "b.csv", "y")]
    entry = _entry(tmp_path, "miracle_ddi", files)
    assert ds.extra_files(entry) == [tmp_path / "ddi" / "b.csv"]
    (tmp_path / "ddi" / "b.csv").write_text("tampered")
    with pytest.raises(ds.ChecksumMismatch, match="b.csv"):
        ds.extra_files(entry)
    (tmp_path / "ddi" / "b.csv").unlink()
    with pytest.raises(ds.DatasetNotFound, match="zoo data fetch toy"):
        ds.extra_files(entry)


def test_miracle_reader_keeps_new_positives_and_reports_every_other_row(tmp_path, monkeypatch):
    from zoo_datasets.ddi_readers import read_miracle_entry

    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    files = [_file(tmp_path, "train.csv", "smiles_1,smiles_2,label\nOCC,CCN,1.0\nCCO,c1ccccc1,0.0\nCCO,CCO,1\n"),
             _file(tmp_path, "test.csv", "smiles_1,smiles_2,label\nNCC,CCO,1\nC1CC,CCO,1\nCCO,C,x\nC,CCO,1\n")]
    table = read_miracle_entry(_entry(tmp_path, "miracle_ddi", files, columns={"a": "smiles_1", "b": "smiles_2",
                                                                              "y": "label"}),
                               tmp_path / "ddi" / "train.csv")
    assert list(zip(table.a, table.b)) == [("CCO", "CCN"), ("C", "CCO")] and list(table.lines) == [2, 5]
    reasons = {(Path(b.file).name, b.line): (b.field, b.reason) for b in table.bad}
    assert reasons[("train.csv", 3)][1].startswith("label '0.0': negative rows are not read")
    assert reasons[("train.csv", 4)][1] == "the drug is paired with itself"
    assert reasons[("test.csv", 2)] == ("smiles_1", "duplicate of the pair at train.csv, line 2 (in either order)")
    assert "does not parse" in reasons[("test.csv", 3)][1] and "not a number" in reasons[("test.csv", 4)][1]
    assert len(table) + len(table.bad) == 7


def test_zhang_reader_reads_each_pair_once_and_reports_drugs_without_smiles(tmp_path, monkeypatch):
    from zoo_datasets.ddi_readers import read_zhang_matrix_entry

    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    matrix = (",CID000000001,CID000000002,CID000000003,CID000000004\n"
              "CID000000001,0,1,1,1\nCID000000002,1,0,0,1\nCID000000003,1,0,0,0\nCID000000004,1,1,0,0\n")
    files = [_file(tmp_path, "m.csv", matrix), _file(tmp_path, "list.txt", "1 DB1\n2 DB2\n3 DB3\n4 DB4\n"),
             _file(tmp_path, "smiles.csv", ",cid,drugbank_id,smiles\n0,CID000000001,DB1,OCC\n"
                                          "1,CID000000002,DB2,CCN\n2,CID000000004,DB4,C\n")]
    table = read_zhang_matrix_entry(_entry(tmp_path, "zhang_matrix", files), tmp_path / "ddi" / "m.csv")
    assert sorted(map(frozenset, zip(table.a, table.b))) == sorted(
        map(frozenset, [("CCO", "CCN"), ("CCO", "C"), ("CCN", "C")]))
    assert [(b.line, b.field, b.reason) for b in table.bad] == [
        (2, "CID000000003", "drug CID000000003 has no SMILES in smiles.csv")]


@needs_shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_files_give_the_documented_counts(name):
    n_pairs, n_drugs, n_bad = EXPECTED[name]
    table = ds.load_table(name)
    assert (len(table), len(set(table.a) | set(table.b)), len(table.bad)) == (n_pairs, n_drugs, n_bad)
    assert (table.y == 1).all() and len({frozenset(p) for p in zip(table.a, table.b)}) == n_pairs
    if name == "chchminer":
        assert sum("negative rows are not read" in b.reason for b in table.bad) == 12183
