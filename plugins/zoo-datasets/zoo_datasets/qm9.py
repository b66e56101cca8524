"""QM9 (Ramakrishnan et al. 2014): 130,831 molecules with B3LYP/6-31G(2df,p) geometries and 12 targets, read from
the ``qm9pack`` distribution (PyPI, MIT; ``pip install 'zoo-datasets[qm9]'``). Reader ``qm9pack``: ``(entry, path)
-> MolTable`` with ``positions``.

* **Files.** qm9pack ships three CSVs (``qm9_part1..3.csv``, one row per molecule: SMILES, elements, XYZ in Å and
  the properties). The core locates and hashes part 1 (the entry's ``embedded`` file); parts 2 and 3 lie beside it
  and are checked against ``params.files`` here. qm9pack's own ``get_data`` is not used (it imports pandas and
  ``pkg_resources``).
* **Targets** (``TARGETS``): the 12 standard ones under the papers' names, in the papers' units: energies
  (HOMO, LUMO, gap, ZPVE, U0, U, H, G) in meV (hartree × 27,211.386), μ in D, α in bohr³, R² in bohr², Cv in
  cal/(mol K). U0, U, H and G are the total energies (as in the SchNet/MolInteract tables), not atomisation energies.
* **Positions.** Each molecule's DFT geometry is matched to the featurizer's explicit-H atom order with
  ``zoo_core.chem.positions.match_positions`` (bonds perceived from the file's distances, substructure match of the
  SMILES' graph). A molecule whose geometry does not fit its SMILES (another constitution after relaxation, an
  unparsable SMILES) is a bad row naming its QM9 index, so every model sees the same rows. Matching 130k molecules
  takes minutes, so the matched positions are cached in ``ZOO_HOME/datasets/qm9/`` (keyed by the files' sha256 and
  the rows read). Rows that share a canonical SMILES share the first one's geometry (the store keeps one graph per
  canonical SMILES).
* ``table.lines`` are the QM9 indices (1..133,885, the ``dsgdb9nsd_NNNNNN`` numbers), so predictions name molecules.
* ``params.limit``: read only the first N molecules (tests).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from zoo_core.data.table import BadRow, MolTable
from zoo_core.errors import DataError

HARTREE_MEV = 27211.386
MATCHER_VERSION = 1   # bump when the matching (zoo_core.chem.positions) changes: the cache is then rebuilt

# name -> (qm9pack column, factor to the papers' unit, unit)
TARGETS: dict[str, tuple[str, float, str]] = {
    "mu": ("Dipole_debye", 1.0, "D"),
    "alpha": ("Polarizability_bohr3", 1.0, "bohr^3"),
    "homo": ("HOMO_au", HARTREE_MEV, "meV"),
    "lumo": ("LUMO_au", HARTREE_MEV, "meV"),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_MEV, "meV"),
    "r2": ("R2_bohr2", 1.0, "bohr^2"),
    "zpve": ("ZPVE_au", HARTREE_MEV, "meV"),
    "u0": ("InternalEnergy_0K_au", HARTREE_MEV, "meV"),
    "u298": ("InternalEnergy_298K_au", HARTREE_MEV, "meV"),
    "h298": ("Enthalphy_298K_au", HARTREE_MEV, "meV"),
    "g298": ("GibbsFreeEnergy_298K_au", HARTREE_MEV, "meV"),
    "cv": ("Heatcapacity_Cv_cal_mol_K", 1.0, "cal/(mol K)"),
}


def _numbers(text: str) -> list[float]:
    """``"[[0.1,0.,1.],[...]]"`` -> flat floats (qm9pack writes ``0.`` and ``1.``, which JSON rejects)."""
    return [float(v) for v in text.replace("[", "").replace("]", "").split(",") if v.strip()]


def _elements(text: str) -> list[str]:
    return [v.strip().strip("'\"") for v in text.strip("[]").split(",") if v.strip()]


def _files(entry, first: Path) -> list[Path]:
    """Part 1 (located and hashed by the core) and the other parts beside it, each checked against ``params.files``."""
    from zoo_core.hub import sha256_file

    paths = [first]
    for name, sha in (entry.params.get("files") or {}).items():
        path = first.with_name(name)
        if not path.is_file():
            raise DataError(f"dataset {entry.name!r}: {path} is missing beside {first.name}; reinstall the package: "
                            f"{entry.get('install', 'pip install qm9pack')}")
        actual = sha256_file(path)
        if actual != sha:
            raise DataError(f"{path}: sha256 mismatch for dataset {entry.name!r}: expected {sha}, got {actual} "
                            f"(a different qm9pack version?); reinstall: {entry.get('install', 'pip install qm9pack')}")
        paths.append(path)
    return paths


def _rows(paths: list[Path], columns: list[str], limit: int | None):
    """(file, line, QM9 index, SMILES, elements, xyz text, [target values]) per molecule, in file order."""
    csv.field_size_limit(1 << 24)
    count = 0
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("Index", "SMILES", "Elements", "XYZ_Ang", *columns) if c not in reader.fieldnames]
            if missing:
                raise DataError(f"{path}: no column(s) {', '.join(missing)} (a different qm9pack version?)")
            for row in reader:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield (path, reader.line_num, int(row["Index"]), row["SMILES"], row["Elements"], row["XYZ_Ang"],
                       [row[c] for c in columns])


def _match(smiles: str, elements: str, xyz: str, index: int) -> tuple[str, np.ndarray]:
    """(canonical SMILES, [n, 3] positions in the featurizer's explicit-H order) of one molecule; DataError or
    FeaturizationError when the geometry does not fit the SMILES."""
    from zoo_core.chem.featurizers import prepare_mol
    from zoo_core.chem.positions import match_positions

    canonical, _ = prepare_mol(smiles, True)
    coords = np.asarray(_numbers(xyz), dtype=np.float64).reshape(-1, 3)
    return canonical, match_positions(canonical, _elements(elements), coords, True, name=f"QM9 molecule {index}")


def _cache_file(entry, limit: int | None) -> Path:
    """Keyed by the files' sha256 (checked before reading), the rows read and the matcher's version."""
    from zoo_core.data.datasets import source_of
    from zoo_core.paths import zoo_home

    shas = [source_of(entry).get("sha256"), sorted((entry.params.get("files") or {}).items())]
    key = hashlib.sha256(json.dumps([shas, limit, MATCHER_VERSION]).encode()).hexdigest()[:16]
    return zoo_home() / "datasets" / "qm9" / f"positions-{key}.npz"


def _matched(rows: list[tuple], cache: Path, progress: bool = True) -> tuple[list, np.ndarray, np.ndarray, list]:
    """(canonical SMILES per row or None, positions concatenated, row pointer, failure reasons) of every row, from
    the cache when it holds them, else matched and written there (temp file + rename)."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return meta["smiles"], z["pos"], z["ptr"], meta["reasons"]
    from zoo_core.chem.featurizers import FeaturizationError
    from zoo_core.console import track

    smiles, reasons, blocks, ptr = [], [], [], [0]
    for path, line, index, smi, elements, xyz, _ in track(rows, len(rows), "QM9: matching geometries", progress):
        try:
            canonical, pos = _match(smi, elements, xyz, index)
        except (DataError, FeaturizationError, ValueError) as error:
            canonical, pos = None, np.zeros((0, 3))
            reasons.append([len(smiles), str(error)])
        smiles.append(canonical)
        blocks.append(pos)
        ptr.append(ptr[-1] + len(pos))
    pos_all = np.concatenate(blocks) if blocks else np.zeros((0, 3))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, pos=pos_all, ptr=np.asarray(ptr, dtype=np.int64),
             meta=np.asarray(json.dumps({"smiles": smiles, "reasons": reasons})))
    os.replace(tmp, cache)
    return smiles, pos_all, np.asarray(ptr, dtype=np.int64), reasons


def read_qm9_entry(entry, path: str | Path) -> MolTable:
    """The QM9 MolTable of ``entry`` (targets, units and positions as in the module doc)."""
    names = list(entry.get("targets") or TARGETS)
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        raise DataError(f"dataset {entry.name!r}: unknown QM9 target(s) {', '.join(unknown)} (known: "
                        f"{', '.join(TARGETS)})")
    limit = entry.params.get("limit")
    paths = _files(entry, Path(path))
    columns = [TARGETS[t][0] for t in names]
    factors = np.array([TARGETS[t][1] for t in names])
    rows = list(_rows(paths, columns, limit))
    canon, pos, ptr, reasons = _matched(rows, _cache_file(entry, limit))
    why = {int(r): text for r, text in reasons}
    keep, bad, positions = [], [], {}
    for r, (path_r, line, index, _, _, _, values) in enumerate(rows):
        if r in why:
            bad.append(BadRow(str(path_r), line, "XYZ_Ang", why[r]))
            continue
        try:
            y = np.array([float(v) for v in values]) * factors
        except ValueError:
            bad.append(BadRow(str(path_r), line, "targets", f"QM9 molecule {index}: a target is not a number"))
            continue
        positions.setdefault(canon[r], pos[ptr[r]:ptr[r + 1]])
        keep.append((canon[r], y, index))
    y = np.array([k[1] for k in keep]).reshape(len(keep), len(names))
    return MolTable(str(paths[0].parent), tuple(entry["roles"]), [k[0] for k in keep], y,
                    np.array([k[2] for k in keep], dtype=np.int64), bad, targets=tuple(names), positions=positions)
