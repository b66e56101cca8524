"""zoo-datasets and zoo_core.data.datasets: every registered dataset loads with the verified layout.

Real-data tests read the byte-identical copies in ../shared/data (ZOO_DATA_DIR) and are skipped where that
folder is absent; the embedded FreeSolv, the error paths and the readers run everywhere. No network:
ZOO_OFFLINE=1 and downloads go through a stand-in for zoo_core.hub.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
try:
    import zoo_datasets  # noqa: F401
except ImportError:  # running from a source tree without `pip install -e plugins/zoo-datasets`
    sys.path.insert(0, str(PLUGIN_ROOT))

from zoo_core.data import datasets as ds  # noqa: E402
from zoo_core.hub import sha256_file  # noqa: E402
from zoo_core.errors import DataError, RegistryError  # noqa: E402
from zoo_core.registry import Entry  # noqa: E402
from zoo_datasets import readers  # noqa: E402

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "solvation" / "Compsol.csv").is_file(),
                                  reason=f"shared data copies not found in {SHARED}")

# name -> (usable pairs, bad rows, data rows in the file)
EXPECTED = {
    "freesolv": (560, 0, 560),
    "compsol": (3548, 0, 3548),
    "abraham": (6091, 0, 6091),
    "combisolv": (8780, 0, 8780),
    "solvation-qm": (80000, 0, 80000),
    "chromophore-absorption": (17276, 19, 17295),   # 19 rows with solvent 'gas'
    "chromophore-emission": (18141, 1, 18142),      # 1 row with solvent 'gas'
    "chromophore-lifetime": (6960, 0, 6960),
}
USER_SUPPLIED = {"mnsol"}
# name -> (rows the reader returns, tasks); single-molecule sets, tested in test_molecule_datasets.py
MOLECULE_SETS = {"tox21": (7831, 12), "clintox": (1478, 2), "hiv": (41127, 1)}
DDI_SETS = {"chchminer", "zhangddi"}   # DDI positives sets, tested in test_ddi_datasets.py
PACKAGED_SETS = {"qm9"}   # read from an installed package (qm9pack, the `qm9` extra), tested in test_qm9.py


@pytest.fixture(scope="module", autouse=True)
def _catalog():
    """Make sure the readers are registered, also when zoo-datasets is not installed."""
    from zoo_core import plugins

    catalog = plugins.get_catalog()
    if "pair_csv" not in catalog.implementations["datasets"]:
        import zoo_datasets.plugin as plugin

        plugins._CATALOG = plugins.load_catalog(extra_plugins=[("datasets", plugin)])
    yield


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    monkeypatch.setenv("ZOO_DATA_DIR", str(SHARED))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    for var in ("ZOO_MNSOL_FILE", "ZOO_MNSOL_COLUMNS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _corrupt_copy(src: Path, dest: Path, offset: int = 100) -> None:
    data = bytearray(src.read_bytes())
    data[offset] = ord("X") if data[offset] != ord("X") else ord("Y")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(data))


# --- the catalogue ---------------------------------------------------------------------------------------

def test_every_registered_dataset_is_tested_and_valid():
    names = {row["name"] for row in ds.list_datasets()}
    assert names == set(EXPECTED) | USER_SUPPLIED | set(MOLECULE_SETS) | DDI_SETS | PACKAGED_SETS
    for name in names - set(MOLECULE_SETS) - DDI_SETS - PACKAGED_SETS:
        entry = ds.dataset_entry(name)
        assert entry["plugin"] == "zoo-datasets"
        assert entry["task"] == "regression" and entry["metric"] == "rmse" and entry["split"] == "mi5fold"
        assert entry["scale_targets"] is False   # the papers trained on raw targets
        chromophore = name.startswith("chromophore")
        assert entry["roles"] == (["chromophore", "solvent"] if chromophore else ["solute", "solvent"])
        assert entry["explicit_h"] is (not chromophore)
        assert entry["train"]["lr"] == (5e-3 if chromophore else 1e-3)
        assert entry["train"]["batch_size"] == (32 if name in {"freesolv", "mnsol"} else 256)
        if name not in USER_SUPPLIED:
            assert entry["size"] == EXPECTED[name][0]
            assert ds.source_of(entry)["url"].startswith("https://raw.githubusercontent.com/")


def test_check_entry_is_strict(tmp_path):
    good = ds.dataset_entry("compsol")
    bad_sha = Entry("datasets", "x", {**good.data, "source": {**good["source"], "sha256": "abc"}}, tmp_path)
    with pytest.raises(RegistryError, match="sha256"):
        ds.check_entry(bad_sha)
    typo = Entry("datasets", "x", {**good.data, "source": {**good["source"], "sha": "0" * 64}}, tmp_path)
    with pytest.raises(RegistryError, match="unknown key 'sha'"):
        ds.check_entry(typo)
    escape = Entry("datasets", "x", {**good.data, "source": {**good["source"], "file": "../etc/passwd"}}, tmp_path)
    with pytest.raises(RegistryError, match="relative path"):
        ds.check_entry(escape)


def test_plugin_module_is_light():
    code = ("import sys, zoo_datasets.plugin; "
            "heavy = [m for m in ('torch', 'dgl', 'rdkit', 'numpy') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": str(PLUGIN_ROOT), "PATH": "/usr/bin:/bin"})


# --- real data: counts and columns ------------------------------------------------------------------------

@needs_shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dataset_loads_with_expected_counts(name):
    n_pairs, n_bad, n_rows = EXPECTED[name]
    table = ds.load_table(name)
    assert len(table) == n_pairs
    assert len(table.bad) == n_bad
    assert len(table) + len(table.bad) == n_rows
    assert table.roles == tuple(ds.dataset_entry(name)["roles"])
    assert len(table.a) == len(table.b) == len(table.y) == len(table.lines)
    assert np.isfinite(table.y).all()
    assert all(table.a) and all(table.b)


@needs_shared
def test_freesolv_solvent_is_water():
    table = ds.load_table("freesolv")
    assert set(table.b) == {"O"}
    assert len(set(table.a)) == 560
    benzene = table.a.index("c1ccccc1")
    assert table.y[benzene] == pytest.approx(-0.8698, abs=1e-3)   # FreeSolv: benzene -0.87 kcal/mol


@needs_shared
def test_compsol_columns():
    table = ds.load_table("compsol")
    # METHODS §2.1 (verified): 442 solutes, 259 solvents -> col 1 is the solute, col 0 the solvent
    assert len(set(table.a)) == 442 and len(set(table.b)) == 259
    # Compsol.csv line 450: "O,c1ccccc1,...,-0.869824509803921": benzene (solute) in water (solvent)
    i = int(np.flatnonzero(table.lines == 450)[0])
    assert (table.a[i], table.b[i]) == ("c1ccccc1", "O")
    assert table.y[i] == pytest.approx(-0.869824509803921)
    # line 2: 2-methylpyridine (solvent, col 0), octane (solute, col 1)
    assert (table.a[0], table.b[0], table.lines[0]) == ("CCCCCCCC", "CC1=NC=CC=C1", 2)


@needs_shared
def test_abraham_and_combisolv_columns():
    abraham = ds.load_table("abraham")
    assert len(set(abraham.a)) == 1038 and len(set(abraham.b)) == 122
    combi = ds.load_table("combisolv")   # header: smiles_solvent, smiles_solute
    assert combi.b.count("O") == 1153 and combi.a.count("O") < 50
    assert (combi.a[0], combi.b[0]) == (ds.load_table("compsol").a[0], ds.load_table("compsol").b[0])


@needs_shared
def test_solvation_qm_ssid_is_solvent_dot_solute():
    table = ds.load_table("solvation-qm")
    assert len(set(table.b)) == 284           # CombiSolv-QM's 284 solvents
    assert table.b.count("O") == 305 and table.a.count("O") == 5
    assert (table.a[0], table.b[0]) == ("CCCCCCCCCCCCCCCCCCCCC(OC)=O", "C(CC2)CCC2c1ccccc1")


@needs_shared
def test_chromophore_gas_rows_are_reported():
    table = ds.load_table("chromophore-absorption")
    assert {r.field for r in table.bad} == {"solvent"}
    assert all("gas" in r.reason and r.file.endswith("chr_abs.csv") for r in table.bad)
    assert "gas" not in table.b
    assert table.bad[0].line == 4199


@needs_shared
def test_lifetime_target_is_ln_ns():
    table = ds.load_table("chromophore-lifetime")
    entry = ds.dataset_entry("chromophore-lifetime")
    assert entry["units"] == "ln(ns)" and entry.get("transform", "none") == "none"
    assert (table.y < 0).sum() == 1456            # only a log can be negative
    raw: dict[tuple[str, str], list[float]] = {}
    with open(SHARED / "chromophore" / "DB for chromophore_Sci_Data_rev02.csv", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            value = row["Lifetime (ns)"]
            if value and value.lower() != "nan":
                raw.setdefault((row["Chromophore"], row["Solvent"]), []).append(float(value))
    for a, b, y in zip(table.a, table.b, table.y):
        assert any(math.isclose(math.log(v), y, abs_tol=1e-9) for v in raw[(a, b)])
    assert math.exp(table.y[0]) == pytest.approx(2.804262479)   # ns, raw DB


# --- locating, hashing, fetching --------------------------------------------------------------------------

def test_embedded_freesolv_without_data_dir(env):
    env.delenv("ZOO_DATA_DIR", raising=False)
    path = ds.locate("freesolv")
    assert path.is_relative_to(Path(zoo_datasets_path()))
    assert sha256_file(path) == ds.source_of(ds.dataset_entry("freesolv"))["sha256"]
    table = ds.load_table("freesolv")
    assert len(table) == 560 and set(table.b) == {"O"}
    row = {r["name"]: r for r in ds.list_datasets()}
    assert row["freesolv"]["location"] == "embedded" and row["compsol"]["location"] == "missing"
    assert row["mnsol"]["location"].startswith("user-supplied")


def zoo_datasets_path() -> Path:
    import zoo_datasets

    return Path(zoo_datasets.__file__).parent


@needs_shared
def test_corrupted_copy_is_refused(env, tmp_path):
    bad_dir = tmp_path / "bad_data"
    _corrupt_copy(SHARED / "solvation" / "Compsol.csv", bad_dir / "solvation" / "Compsol.csv")
    env.setenv("ZOO_DATA_DIR", str(bad_dir))
    with pytest.raises(DataError) as info:
        ds.load_table("compsol")
    message = str(info.value)
    assert "Compsol.csv" in message and "sha256" in message
    assert ds.source_of(ds.dataset_entry("compsol"))["sha256"] in message      # expected
    assert sha256_file(bad_dir / "solvation" / "Compsol.csv") in message    # actual
    assert "ZOO_DATA_DIR" in message                                          # what to do
    with pytest.raises(DataError, match="sha256"):
        ds.fetch("compsol", progress=False)   # the zoo does not overwrite the user's data dir


def test_missing_file_hints_fetch(env, tmp_path):
    env.setenv("ZOO_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(ds.DatasetNotFound, match="zoo data fetch compsol") as info:
        ds.load_table("compsol")
    assert "ZOO_DATA_DIR" in str(info.value)
    assert {r["name"]: r for r in ds.list_datasets()}["compsol"]["location"] == "missing"


@needs_shared
def test_fetch_downloads_into_cache_through_hub(env, tmp_path):
    calls = []

    def download(url, dest, sha256, progress):
        calls.append(url)
        assert url.endswith("/data/Compsol.csv") and not progress
        dest.write_bytes((SHARED / "solvation" / "Compsol.csv").read_bytes())
        return dest

    env.setitem(sys.modules, "zoo_core.hub", types.SimpleNamespace(download=download))
    env.delenv("ZOO_DATA_DIR")
    path = ds.fetch("compsol", progress=False)
    assert path == tmp_path / "zoo_home" / "data" / "solvation" / "Compsol.csv" and len(calls) == 1
    assert len(ds.load_table("compsol")) == 3548
    assert ds.fetch("compsol", progress=False) == path and len(calls) == 1   # present: no download
    _corrupt_copy(SHARED / "solvation" / "Compsol.csv", path)
    with pytest.raises(DataError, match="zoo data fetch compsol"):
        ds.load_table("compsol")
    assert ds.fetch("compsol", progress=False) == path and len(calls) == 2   # bad cache: fetched again
    assert len(ds.load_table("compsol")) == 3548


# --- MNSol (user-supplied) --------------------------------------------------------------------------------

def test_mnsol_absent_says_how_to_supply():
    with pytest.raises(DataError, match="ZOO_MNSOL_FILE"):
        ds.load_table("mnsol")
    with pytest.raises(DataError, match="ZOO_MNSOL_FILE"):
        ds.fetch("mnsol")


def test_mnsol_user_file(env, tmp_path):
    path = tmp_path / "mnsol.tsv"
    path.write_text("Solvent\tSoluteSMILES\tDeltaG\nO\tCCO\t-5.0\nCCCCCCCC\tgas\t1.0\nCCO\tc1ccccc1\t\n")
    env.setenv("ZOO_MNSOL_FILE", str(path))
    with pytest.raises(DataError, match="ZOO_MNSOL_COLUMNS"):
        ds.load_table("mnsol")   # default CombiSolv column names are not in this file
    env.setenv("ZOO_MNSOL_COLUMNS", "solute=SoluteSMILES,solvent=Solvent,target=DeltaG")
    table = ds.load_table("mnsol")
    assert (table.a, table.b, list(table.y)) == (["CCO"], ["O"], [-5.0])
    assert [(r.line, r.field) for r in table.bad] == [(3, "solute"), (4, "DeltaG")]
    env.delenv("ZOO_MNSOL_COLUMNS")
    env.delenv("ZOO_MNSOL_FILE")
    table = ds.load_table("mnsol", path=path, columns={"a": "SoluteSMILES", "b": "Solvent", "y": "DeltaG"})
    assert len(table) == 1


# --- the ssid reader --------------------------------------------------------------------------------------

def test_split_ssid_rule():
    assert readers.split_ssid("O.CCO") == ("O", "CCO")
    assert isinstance(readers.split_ssid("CCO"), str)
    assert isinstance(readers.split_ssid(".CCO"), str)
    # multi-fragment: resolved by the known solvents, never by "first '.'"
    assert readers.split_ssid("O.[Na+].[Cl-]", first_known={"O"}) == ("O", "[Na+].[Cl-]")
    assert readers.split_ssid("[Na+].[Cl-].O", second_known={"O"}) == ("[Na+].[Cl-]", "O")
    assert isinstance(readers.split_ssid("C.C.C", first_known={"C"}, second_known={"C"}), str)  # ambiguous
    # a boundary may not cut a ring closure: "C1.C1" is one molecule (ethane written with a ring bond)
    assert readers.split_ssid("O.C1.C1", first_known={"O", "O.C1"}) == ("O", "C1.C1")


def test_read_ssid_entry_lines_and_roles(tmp_path):
    path = tmp_path / "ssid.csv"
    path.write_text("ssid,dgsolv\nO.CCO,-5.0\nCCO,1\nO.[Na+].[Cl-],-90\nCO.CC,x\nC.C.C,2\nCCCC.c1ccccc1,-3\n")
    entry = Entry("datasets", "toy", {"impl": "ssid_csv", "roles": ["solute", "solvent"],
                                      "columns": {"ssid": "ssid", "y": "dgsolv"},
                                      "params": {"ssid_order": ["solvent", "solute"]}}, tmp_path)
    table = readers.read_ssid_entry(entry, path)
    assert list(zip(table.a, table.b)) == [("CCO", "O"), ("[Na+].[Cl-]", "O"), ("c1ccccc1", "CCCC")]
    assert list(table.lines) == [2, 4, 7]
    assert [(r.line, r.field) for r in table.bad] == [(3, "ssid"), (5, "dgsolv"), (6, "ssid")]
