"""PairTable: rows of (molecule A, molecule B, target) read from a CSV, with every bad row reported.

Bad rows (empty SMILES, missing or non-numeric label, a transform that is undefined for the value) are
recorded as ``BadRow(file, line, field, reason)`` and counted; nothing is dropped silently. Line numbers are
the 1-based physical line numbers of the file (the header is line 1 for a headed CSV).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

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


@dataclass
class PairTable:
    """Valid rows of a pair dataset (parallel lists) plus the rows that were skipped."""

    source: str
    roles: tuple[str, str]
    a: list[str] = field(default_factory=list)
    b: list[str] = field(default_factory=list)
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bad: list[BadRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.a)

    def subset(self, keep: np.ndarray) -> "PairTable":
        """The rows where the boolean mask ``keep`` is true (bad rows are carried along)."""
        idx = np.flatnonzero(keep)
        return PairTable(self.source, self.roles, [self.a[i] for i in idx], [self.b[i] for i in idx],
                         self.y[idx], self.lines[idx], list(self.bad))


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


def read_pair_csv(path: str | Path, col_a: str | int, col_b: str | int, col_y: str | int | None,
                  roles: tuple[str, str] = ("a", "b"), transform: str = "none", delimiter: str = ",",
                  has_header: bool = True, text: str | None = None, label_required: bool = True) -> PairTable:
    """Read a pair CSV. ``col_*`` are header names or 0-based indices; ``col_y`` None means no labels.

    With ``label_required=False`` (prediction), a missing label is kept as NaN instead of a bad row.
    """
    path = str(path)
    if transform not in TRANSFORMS:
        raise DataError(f"{path}: unknown transform {transform!r} (known: {', '.join(TRANSFORMS)})")
    fn = TRANSFORMS[transform]
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as error:
            raise DataError(f"{path}: cannot read ({error})") from error
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = None
    if has_header:
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: the file is empty") from None
    ia = _column_index(header, col_a, path)
    ib = _column_index(header, col_b, path)
    iy = _column_index(header, col_y, path) if col_y is not None else None
    names = (str(col_a), str(col_b), str(col_y))
    table = PairTable(source=path, roles=roles)
    ys: list[float] = []
    lines: list[int] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        a = row[ia].strip() if ia < len(row) else ""
        b = row[ib].strip() if ib < len(row) else ""
        if not a:
            table.bad.append(BadRow(path, line, roles[0] if has_header else names[0], "empty SMILES"))
            continue
        if not b:
            table.bad.append(BadRow(path, line, roles[1] if has_header else names[1], "empty SMILES"))
            continue
        value = math.nan
        if iy is not None:
            raw = row[iy].strip() if iy < len(row) else ""
            field_name = header[iy] if header else names[2]
            if raw == "" or raw.lower() in {"nan", "na", "n/a", "none", "null"}:
                if label_required:
                    table.bad.append(BadRow(path, line, field_name, "missing label"))
                    continue
            else:
                try:
                    value = float(raw)
                except ValueError:
                    table.bad.append(BadRow(path, line, field_name, f"label {raw!r} is not a number"))
                    continue
                if not math.isfinite(value):
                    table.bad.append(BadRow(path, line, field_name, f"label {raw!r} is not finite"))
                    continue
                try:
                    value = fn(value)
                except (ValueError, OverflowError):
                    table.bad.append(BadRow(path, line, field_name,
                                            f"label {raw!r} is outside the domain of transform {transform!r}"))
                    continue
        table.a.append(a)
        table.b.append(b)
        ys.append(value)
        lines.append(line)
    table.y = np.asarray(ys, dtype=np.float64)
    table.lines = np.asarray(lines, dtype=np.int64)
    return table
