"""DDI positives readers: ``reader(entry, path) -> PairTable`` of unordered positive drug pairs (y = 1).

Drugs are identified by their RDKit canonical SMILES. Negatives are not read: the run draws them per repeat
(``zoo_core.data.ddi``, METHODS §2.1 and §2.3). Every row or cell that does not become a pair is a ``BadRow``
(file, line, field, reason): negative rows, duplicates of an earlier pair (in either order), self-pairs and
SMILES RDKit cannot parse. A table's ``lines`` are the lines in the file a pair was first read from.

* ``miracle_ddi`` (ChChMiner): MIRACLE's train, valid and test CSVs merged (the entry's file, then
  ``source.extra_files``), positives kept. The negative rows' SMILES do not match their DrugBank ids, so the
  SMILES of the positive rows define the drugs.
* ``zhang_matrix`` (ZhangDDI): Zhang et al. 2017's symmetric 548 x 548 0/1 matrix (rows and columns in the
  order of ``drug_list.txt``); SMILES by PubChem CID from MIRACLE's ``drug_list_zhang.csv``. Each unordered pair
  is read once, from the upper triangle; an interaction of a drug without a usable SMILES is a bad row.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from zoo_core.data.table import BadRow, PairTable
from zoo_core.errors import DataError


class _Positives:
    """Collects unordered positive pairs by canonical SMILES, reporting every row that is not a new pair."""

    def __init__(self, source: str, roles: tuple[str, str]):
        self.source, self.roles = source, roles
        self.a: list[str] = []
        self.b: list[str] = []
        self.lines: list[int] = []
        self.bad: list[BadRow] = []
        self._first: dict[frozenset, tuple[str, int]] = {}
        self._canonical: dict[str, str | None] = {}

    def canonical(self, smiles: str) -> str | None:
        """RDKit's canonical SMILES of ``smiles``, or None when it does not parse (cached)."""
        if smiles not in self._canonical:
            from rdkit import Chem, RDLogger

            RDLogger.DisableLog("rdApp.*")
            mol = Chem.MolFromSmiles(smiles) if smiles else None
            self._canonical[smiles] = Chem.MolToSmiles(mol) if mol is not None else None
        return self._canonical[smiles]

    def add(self, file: str, line: int, smiles: tuple[str, str], fields: tuple[str, str]) -> None:
        """Keep the pair, or record why not (unparsable SMILES, self-pair, duplicate)."""
        canon = []
        for raw, name in zip(smiles, fields):
            c = self.canonical(raw.strip())
            if c is None:
                self.bad.append(BadRow(file, line, name, f"SMILES {raw.strip()[:60]!r} does not parse in RDKit"
                                       if raw.strip() else "empty SMILES"))
                return
            canon.append(c)
        key = frozenset(canon)
        if len(key) == 1:
            self.bad.append(BadRow(file, line, fields[1], "the drug is paired with itself"))
            return
        if key in self._first:
            first_file, first_line = self._first[key]
            self.bad.append(BadRow(file, line, fields[0], f"duplicate of the pair at {Path(first_file).name}, "
                                                          f"line {first_line} (in either order)"))
            return
        self._first[key] = (file, line)
        self.a.append(canon[0])
        self.b.append(canon[1])
        self.lines.append(line)

    def table(self) -> PairTable:
        self.bad.sort(key=lambda r: (r.file, r.line))
        return PairTable(source=self.source, roles=self.roles, a=self.a, b=self.b, y=np.ones(len(self.a)),
                         lines=np.asarray(self.lines, dtype=np.int64), bad=self.bad, targets=("interaction",))


def _roles(entry) -> tuple[str, str]:
    roles = entry.get("roles") or []
    if len(roles) != 2:
        raise DataError(f"dataset {entry.name!r}: a DDI dataset has two roles (e.g. [drug_a, drug_b]), got {roles!r}")
    return roles[0], roles[1]


def _csv_rows(path: Path):
    """(header, iterator of (line, row)) of a headed CSV; DataError naming the file when it cannot be read."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error
    with handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        rows = [(reader.line_num, row) for row in reader if row and any(c.strip() for c in row)]
    return header, rows


def _index(header: list[str], column: str, path: Path) -> int:
    if column not in header:
        raise DataError(f"{path}: no column {column!r} (columns: {', '.join(header)})")
    return header.index(column)


def read_miracle_entry(entry, path: str | Path) -> PairTable:
    """MIRACLE's DDI CSVs (the entry's file and ``source.extra_files``) merged, positives kept, deduplicated.

    ``columns: {a, b, y}`` name the two SMILES columns and the 0/1 label column."""
    from zoo_core.data.datasets import extra_files

    cols = entry.get("columns") or {}
    files = [Path(path), *extra_files(entry)]
    out = _Positives(f"{files[0]} (+ {', '.join(f.name for f in files[1:])})", _roles(entry))
    for file in files:
        header, rows = _csv_rows(file)
        ia, ib, iy = (_index(header, cols.get(k, d), file) for k, d in (("a", "smiles_1"), ("b", "smiles_2"),
                                                                          ("y", "label")))
        for line, row in rows:
            raw = row[iy].strip() if iy < len(row) else ""
            try:
                label = float(raw)
            except ValueError:
                out.bad.append(BadRow(str(file), line, header[iy], f"label {raw!r} is not a number"))
                continue
            if label != 1.0:
                out.bad.append(BadRow(str(file), line, header[iy], f"label {raw!r}: negative rows are not read "
                                      "(the run draws its own negatives, METHODS §2.1)"))
                continue
            smiles = tuple(row[i] if i < len(row) else "" for i in (ia, ib))
            out.add(str(file), line, smiles, (header[ia], header[ib]))
    return out.table()


def _zhang_smiles(drug_list: Path, smiles_csv: Path, cids: list[str], matrix: Path) -> dict[str, str]:
    """CID -> SMILES; DataError when the matrix order disagrees with ``drug_list.txt``."""
    try:
        listed = [line.split() for line in drug_list.read_text().splitlines() if line.strip()]
    except OSError as error:
        raise DataError(f"{drug_list}: cannot read ({error})") from error
    for k, (cid, fields) in enumerate(zip(cids, listed)):
        if not fields or cid.replace("CID", "").lstrip("0") != fields[0].lstrip("0"):
            raise DataError(f"{drug_list}, line {k + 1}: CID {fields[:1]} differs from column {k + 2} "
                            f"({cid}) of {matrix}")
    if len(listed) != len(cids):
        raise DataError(f"{drug_list}: {len(listed)} drugs, but {matrix} has {len(cids)} columns")
    header, rows = _csv_rows(smiles_csv)
    i_cid, i_smiles = _index(header, "cid", smiles_csv), _index(header, "smiles", smiles_csv)
    return {row[i_cid].strip(): row[i_smiles].strip() for _, row in rows if len(row) > max(i_cid, i_smiles)}


def read_zhang_matrix_entry(entry, path: str | Path) -> PairTable:
    """Zhang et al.'s interaction matrix (the entry's file) with ``source.extra_files`` = [drug_list.txt,
    drug_list_zhang.csv]: one positive per unordered pair whose cell is 1 in either order (the matrix is
    symmetric) and whose two drugs have a SMILES; its line is the matrix line of the first drug."""
    from zoo_core.data.datasets import extra_files

    path = Path(path)
    drug_list, smiles_csv = extra_files(entry)
    header, rows = _csv_rows(path)
    cids = header[1:]
    smiles = _zhang_smiles(drug_list, smiles_csv, cids, path)
    out = _Positives(str(path), _roles(entry))
    ones = np.zeros((len(cids), len(cids)), dtype=bool)
    for i, (line, row) in enumerate(rows):
        if i >= len(cids) or row[0].strip() != cids[i] or len(row) != len(cids) + 1:
            raise DataError(f"{path}, line {line}: row {row[0]!r} with {len(row) - 1} cells does not match "
                            f"the header's {len(cids)} drug columns in order")
        for j, cell in enumerate(c.strip() for c in row[1:]):
            if cell not in ("0", "1", "0.0", "1.0"):
                out.bad.append(BadRow(str(path), line, cids[j], f"cell {cell!r} is not 0 or 1"))
            ones[i, j] = cell in ("1", "1.0")
    lines = [line for line, _ in rows]
    for i, j in zip(*np.nonzero(np.triu(ones | ones.T))):
        missing = [c for c in (cids[i], cids[j]) if not smiles.get(c)]
        if missing:
            out.bad.append(BadRow(str(path), lines[i], cids[j], f"drug {missing[0]} has no SMILES in "
                                                                f"{smiles_csv.name}"))
        else:
            out.add(str(path), lines[i], (smiles[cids[i]], smiles[cids[j]]), (cids[i], cids[j]))
    return out.table()
