"""Tables read from a CSV, with every bad row reported: PairTable (molecule A, molecule B, targets) and MolTable
(one molecule, targets).

Bad rows (empty SMILES, missing or non-numeric label, a transform that is undefined for the value, a
classification label other than 0/1) are recorded as ``BadRow(file, line, field, reason)`` and counted;
nothing is dropped silently. Line numbers are the 1-based physical line numbers of the file (the header is
line 1 for a headed CSV).

Targets: ``y`` is ``[n]`` for one target and ``[n, T]`` for several. In a single-target table a missing label is
a bad row; in a multi-task table an empty cell is a NaN label, masked out of the loss and the metrics, and the
row is kept (MoleculeNet's Tox21 has 17 % of its cells empty).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from zoo_core.data.input_file import read_csv_text
from zoo_core.errors import DataError


@dataclass
class BadRow:
    """One row that cannot be used, and why."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}, field {self.field!r}: {self.reason}"


class _Rows:
    """What both tables share: their length and row subsets (per-row fields are the SMILES columns, ``y`` and
    ``lines``; ``bad`` is carried along)."""

    _columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(getattr(self, self._columns[0]))

    @property
    def molecules(self) -> tuple[list[str], ...]:
        """The SMILES columns, one per role."""
        return tuple(getattr(self, name) for name in self._columns)

    def subset(self, keep: np.ndarray):
        """The rows where the boolean mask ``keep`` is true (bad rows are carried along)."""
        idx = np.flatnonzero(keep)
        columns = {name: [getattr(self, name)[i] for i in idx] for name in self._columns}
        return dataclasses.replace(self, **columns, y=self.y[idx], lines=self.lines[idx], bad=list(self.bad))

    def select_targets(self, names: list[str]):
        """The same rows with only the target columns ``names``, in that order (``--targets homo,lumo``); a
        ValueError names an unknown target and lists the table's."""
        unknown = [t for t in names if t not in self.targets]
        if unknown or not names:
            raise ValueError(f"unknown target(s) {', '.join(map(repr, unknown)) or '(none given)'}; this dataset has "
                             f"{', '.join(self.targets)}")
        idx = [list(self.targets).index(t) for t in names]
        y = self.y.reshape(len(self.y), -1)[:, idx]
        if len(names) == 1 and not isinstance(self, MolTable):
            y = y[:, 0]  # one target of a pair table is a vector, as read_pair_csv gives it
        return dataclasses.replace(self, y=y, targets=tuple(names), bad=list(self.bad))


@dataclass
class PairTable(_Rows):
    """Valid rows of a pair dataset (parallel lists) plus the rows that were skipped."""

    source: str
    roles: tuple[str, str]
    a: list[str] = field(default_factory=list)
    b: list[str] = field(default_factory=list)
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bad: list[BadRow] = field(default_factory=list)
    targets: tuple[str, ...] = ("target",)
    _columns = ("a", "b")


@dataclass
class MolTable(_Rows):
    """Valid rows of a single-molecule dataset: SMILES, targets ``y`` [n, T] (NaN = no label), line numbers."""

    source: str
    roles: tuple[str]
    smiles: list[str] = field(default_factory=list)
    y: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bad: list[BadRow] = field(default_factory=list)
    targets: tuple[str, ...] = ("target",)
    # A dataset's own geometries (QM9): canonical SMILES -> [n_atoms, 3] Å in the featurizer's explicit-H atom order
    # (zoo_core.chem.positions.match_positions; heavy atoms first, so a heavy-atom run takes the first rows).
    positions: dict | None = None
    _columns = ("smiles",)
    b = None

    @property
    def a(self) -> list[str]:
        """The molecule column (what split protocols group by as molecule A)."""
        return self.smiles


TRANSFORMS: dict[str, Callable[[float], float]] = {
    "none": lambda v: v,
    "ln": math.log,      # e.g. lifetime in ns -> ln ns (METHODS §10 item 18: values <= 0 are bad rows)
    "log10": math.log10,
}


def _column_index(header: Sequence[str] | None, column: str | int, path: str) -> int:
    if isinstance(column, int):
        return column
    if header is not None and column in header:
        return list(header).index(column)
    if str(column).isdigit():
        return int(column)
    raise DataError(f"{path}: no column {column!r} (columns: {', '.join(header or [])})")


MISSING_LABELS = {"", "nan", "na", "n/a", "none", "null"}  # a cell that holds no label


@dataclass
class _Labels:
    """How to read the label cells of a row: column indices and names, transform, task type, policy."""

    columns: list[int]
    names: list[str]
    transform: Callable[[float], float]
    transform_name: str
    classification: bool
    required: bool          # False: predicting, a missing label is NaN

    def read(self, row: list[str], path: str, line: int) -> tuple[list[float] | None, BadRow | None]:
        """The row's labels (NaN where missing and allowed), or the BadRow that explains why it is skipped."""
        multi = len(self.columns) > 1
        values: list[float] = []
        for i, name in zip(self.columns, self.names):
            raw = row[i].strip() if i < len(row) else ""
            if raw.lower() in MISSING_LABELS:
                if self.required and not multi:
                    return None, BadRow(path, line, name, "missing label")
                values.append(math.nan)
                continue
            try:
                value = float(raw)
            except ValueError:
                return None, BadRow(path, line, name, f"label {raw!r} is not a number")
            if not math.isfinite(value):
                return None, BadRow(path, line, name, f"label {raw!r} is not finite")
            if self.classification and value not in (0.0, 1.0):
                return None, BadRow(path, line, name, f"label {raw!r} is not 0 or 1 (binary classification)")
            try:
                value = self.transform(value)
            except (ValueError, OverflowError):
                return None, BadRow(path, line, name,
                                    f"label {raw!r} is outside the domain of transform {self.transform_name!r}")
            values.append(value)
        return values, None


def _rows(path: str, text: str | None, delimiter: str, has_header: bool):
    """(header or None, csv reader positioned after it) of a file or of ``text``."""
    if text is None:
        text = read_csv_text(path)  # InputError: missing, a directory, not UTF-8, empty
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = None
    if has_header:
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: the file is empty") from None
    return header, reader


def _labels(header, col_y, path: str, transform: str, task: str, required: bool) -> _Labels | None:
    if transform not in TRANSFORMS:
        raise DataError(f"{path}: unknown transform {transform!r} (known: {', '.join(TRANSFORMS)})")
    if col_y is None:
        return None
    cols = list(col_y) if isinstance(col_y, (list, tuple)) else [col_y]
    if not cols:
        raise DataError(f"{path}: no target column given")
    idx = [_column_index(header, c, path) for c in cols]
    names = [header[i] if header and i < len(header) else str(c) for i, c in zip(idx, cols)]
    return _Labels(idx, names, TRANSFORMS[transform], transform, task == "classification", required)


def _read(table, path: str, text: str | None, delimiter: str, has_header: bool, molecule_columns: list,
          col_y, transform: str, task: str, label_required: bool, always_2d: bool):
    """Fill ``table`` (a PairTable or MolTable, one SMILES column per role) from a CSV and return it."""
    header, reader = _rows(path, text, delimiter, has_header)
    index = [_column_index(header, c, path) for c in molecule_columns]
    fields = [role if has_header else str(c) for role, c in zip(table.roles, molecule_columns)]
    labels = _labels(header, col_y, path, transform, task, label_required)
    ys: list[list[float]] = []
    lines: list[int] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        smiles = [row[i].strip() if i < len(row) else "" for i in index]
        empty = next((f for f, s in zip(fields, smiles) if not s), None)
        if empty is not None:
            table.bad.append(BadRow(path, line, empty, "empty SMILES"))
            continue
        values = [math.nan]
        if labels is not None:
            values, bad = labels.read(row, path, line)
            if bad is not None:
                table.bad.append(bad)
                continue
        for column, value in zip(table.molecules, smiles):
            column.append(value)
        ys.append(values)
        lines.append(line)
    n_targets = len(labels.columns) if labels is not None else 1
    y = np.asarray(ys, dtype=np.float64).reshape(len(ys), n_targets)
    table.y = y if (always_2d or n_targets > 1) else y[:, 0]
    table.targets = tuple(labels.names) if labels is not None else ("target",)
    table.lines = np.asarray(lines, dtype=np.int64)
    return table


def read_pair_csv(path: str | Path, col_a: str | int, col_b: str | int, col_y,
                  roles: tuple[str, str] = ("a", "b"), transform: str = "none", delimiter: str = ",",
                  has_header: bool = True, text: str | None = None, label_required: bool = True,
                  task: str = "regression") -> PairTable:
    """Read a pair CSV. ``col_*`` are header names or 0-based indices; ``col_y`` one column, a list of columns
    (multi-task: ``y`` is [n, T], empty cells NaN) or None (no labels).

    With ``label_required=False`` (prediction), a missing label is kept as NaN instead of a bad row.
    """
    return _read(PairTable(source=str(path), roles=roles), str(path), text, delimiter, has_header, [col_a, col_b],
                 col_y, transform, task, label_required, always_2d=False)


def read_molecule_csv(path: str | Path, col_smiles: str | int, col_y, role: str = "molecule",
                      transform: str = "none", delimiter: str = ",", has_header: bool = True,
                      text: str | None = None, label_required: bool = True, task: str = "regression") -> MolTable:
    """Read a single-molecule CSV: one SMILES column and one or more target columns (``col_y`` a name, an
    index, a list of them, or None). ``y`` is always [n, T]; see the module docstring for missing labels."""
    return _read(MolTable(source=str(path), roles=(role,)), str(path), text, delimiter, has_header, [col_smiles],
                 col_y, transform, task, label_required, always_2d=True)
