"""Dataset readers: ``reader(entry, path) -> PairTable``, registered by ``zoo_datasets.plugin``.

``entry`` is a ``zoo_core.registry.Entry`` of the ``datasets`` section; ``path`` is a file the core has
already located and hash-checked (``zoo_core.data.datasets.locate``). Readers only parse. Molecule A is the
entry's first role (solute / chromophore), molecule B its second (solvent).

Every row that cannot be used becomes a ``BadRow`` with its physical line number; nothing is dropped
silently. Besides the checks of ``read_pair_csv`` (empty SMILES, missing/non-numeric label, transform
domain), all readers report rows whose molecule is a placeholder that is not a molecule (``NOT_MOLECULES``:
the chromophore DB writes ``gas`` as the solvent of gas-phase spectra).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.data.table import BadRow, PairTable, read_pair_csv
from zoo_core.errors import DataError

# Strings that sit in a SMILES column but name no molecule. RDKit cannot parse them either, so the
# papers' pair counts already exclude them (chromophore absorption 17,295 rows -> 17,276 pairs).
NOT_MOLECULES = {"gas": "'gas' marks a gas-phase measurement, not a solvent molecule"}


def _roles(entry) -> tuple[str, str]:
    roles = entry.get("roles") or []
    if len(roles) != 2 or not all(isinstance(r, str) and r for r in roles):
        raise DataError(f"dataset {entry.name!r}: 'roles' must list two role names (molecule A, molecule B), "
                        f"got {roles!r}")
    return roles[0], roles[1]


def _columns(entry, *keys: str) -> dict[str, Any]:
    columns = entry.get("columns") or {}
    missing = [k for k in keys if k not in columns]
    if missing:
        raise DataError(f"dataset {entry.name!r} ({entry.source}): 'columns' must give {', '.join(keys)}; "
                        f"missing {', '.join(missing)}")
    return columns


def _transform(entry) -> str:
    return entry.get("transform") or "none"


def _drop_placeholders(table: PairTable) -> PairTable:
    """Move rows whose molecule is in ``NOT_MOLECULES`` to the bad rows."""
    keep = np.ones(len(table), dtype=bool)
    for i, (a, b) in enumerate(zip(table.a, table.b)):
        for role, smiles in ((table.roles[0], a), (table.roles[1], b)):
            reason = NOT_MOLECULES.get(smiles.strip().lower())
            if reason is not None:
                table.bad.append(BadRow(table.source, int(table.lines[i]), role, reason))
                keep[i] = False
                break
    if keep.all():
        return table
    out = table.subset(keep)
    out.bad.sort(key=lambda r: r.line)
    return out


def read_pair_csv_entry(entry, path: str | Path) -> PairTable:
    """A headed CSV with one SMILES column per molecule: ``columns: {a: ..., b: ..., y: ...}``.

    Column values are header names (or 0-based indices). ``transform`` (none, ln, log10) is applied to
    the label; ``params.delimiter`` overrides ``,``.
    """
    cols = _columns(entry, "a", "b", "y")
    delimiter = entry.params.get("delimiter", ",")
    table = read_pair_csv(path, cols["a"], cols["b"], cols["y"], roles=_roles(entry),
                          transform=_transform(entry), delimiter=delimiter)
    return _drop_placeholders(table)


# --- SolvBERT "ssid" files: one column "solvent.solute" ------------------------------------------------

_BRACKET = re.compile(r"\[[^\]]*\]")
_RING_BOND = re.compile(r"%\d\d|\d")


def _self_contained(smiles: str) -> bool:
    """True if every ring-closure label in ``smiles`` is opened and closed inside it (and it is not empty)."""
    if not smiles:
        return False
    open_labels: set[str] = set()
    for label in _RING_BOND.findall(_BRACKET.sub("", smiles)):
        open_labels ^= {label}
    return not open_labels


def split_ssid(ssid: str, first_known: set[str] | frozenset = frozenset(),
               second_known: set[str] | frozenset = frozenset()) -> tuple[str, str] | str:
    """Split ``"first.second"`` into its two molecules; return the pair, or a reason string if impossible.

    The rule. In SMILES a '.' separates disconnected fragments and never occurs inside a bracket atom, so
    every '.' is a candidate boundary, and either molecule may itself contain '.' (a salt such as
    ``[Na+].[Cl-]``). Splitting on the first '.' would be wrong for a multi-fragment first molecule.
    * exactly one '.': split there (every row of the SolvBERT files is of this kind);
    * no '.': not a pair -> reason;
    * several '.': a boundary is admissible if both sides are self-contained SMILES (no ring-closure label
      left open across the boundary) and the first side is a molecule seen in the first position, or the
      second side a molecule seen in the second position, of the file's unambiguous rows. Exactly one
      admissible boundary -> split there; otherwise the row is ambiguous -> reason.
    """
    ssid = ssid.strip()
    dots = [i for i, c in enumerate(ssid) if c == "."]
    if not dots:
        return "no '.' between the two molecules"
    if len(dots) == 1:
        first, second = ssid[:dots[0]], ssid[dots[0] + 1:]
        if not first or not second:
            return "one side of the '.' is empty"
        return first, second
    candidates = []
    for i in dots:
        first, second = ssid[:i], ssid[i + 1:]
        if not (_self_contained(first) and _self_contained(second)):
            continue
        if first in first_known or second in second_known:
            candidates.append((first, second))
    if len(candidates) == 1:
        return candidates[0]
    return (f"{len(dots) + 1} '.'-separated fragments and {len(candidates)} admissible ways to split them "
            f"into two molecules (need exactly 1)")


def read_ssid_entry(entry, path: str | Path) -> PairTable:
    """A headed CSV whose ``columns.ssid`` holds both molecules joined by '.' (SolvBERT), label in ``columns.y``.

    ``params.ssid_order`` names the roles in the order they appear in the ssid, default
    ``[solvent, solute]`` (SolvBERT's "solvent.solute"). See ``split_ssid`` for the splitting rule; rows
    that cannot be split are bad rows.
    """
    role_a, role_b = _roles(entry)
    cols = _columns(entry, "ssid", "y")
    order = list(entry.params.get("ssid_order") or ["solvent", "solute"])
    if sorted(order) != sorted([role_a, role_b]):
        raise DataError(f"dataset {entry.name!r}: params.ssid_order {order!r} must list the roles "
                        f"{[role_a, role_b]!r} in the order the ssid holds them")
    a_first = order[0] == role_a
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: the file is empty") from None
    for key in ("ssid", "y"):
        if cols[key] not in header and not isinstance(cols[key], int):
            raise DataError(f"{path}: no column {cols[key]!r} (columns: {', '.join(header)})")
    i_ssid = cols["ssid"] if isinstance(cols["ssid"], int) else header.index(cols["ssid"])
    i_y = cols["y"] if isinstance(cols["y"], int) else header.index(cols["y"])
    y_name = header[i_y]

    rows: list[tuple[int, str, str]] = []   # (line, ssid, raw label)
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        ssid = row[i_ssid].strip() if i_ssid < len(row) else ""
        raw = row[i_y].strip() if i_y < len(row) else ""
        rows.append((reader.line_num, ssid, raw))

    # Vocabulary of each position from the unambiguous (single '.') rows, to resolve multi-fragment rows.
    first_known: set[str] = set()
    second_known: set[str] = set()
    for _, ssid, _ in rows:
        if ssid.count(".") == 1:
            first, _, second = ssid.partition(".")
            first_known.add(first)
            second_known.add(second)

    bad: list[BadRow] = []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["a", "b", "y"])
    origin: list[int] = []   # original line of each generated data row
    for line, ssid, raw in rows:
        parts = split_ssid(ssid, first_known, second_known) if ssid else "empty ssid"
        if isinstance(parts, str):
            bad.append(BadRow(path, line, header[i_ssid], f"cannot split {ssid!r} into two molecules: {parts}"))
            continue
        first, second = parts
        a, b = (first, second) if a_first else (second, first)
        writer.writerow([a, b, raw])
        origin.append(line)

    table = read_pair_csv(path, "a", "b", "y", roles=(role_a, role_b), transform=_transform(entry),
                          text=out.getvalue())
    # Generated line k (2-based after the header) came from original line origin[k - 2].
    table.lines = np.asarray([origin[k - 2] for k in table.lines], dtype=np.int64)
    for r in table.bad:
        bad.append(BadRow(path, origin[r.line - 2], y_name if r.field == "y" else r.field, r.reason))
    bad.sort(key=lambda r: r.line)
    table.bad = bad
    return _drop_placeholders(table)


# --- user-supplied files (MNSol) -----------------------------------------------------------------------

def _sniff_delimiter(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            first = handle.readline()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error
    if "\t" in first:
        return "\t"
    if ";" in first and "," not in first:
        return ";"
    return ","


def read_user_file_entry(entry, path: str | Path) -> PairTable:
    """A file the user supplies (MNSol may not be redistributed): CSV, TSV or ';'-separated, with a header.

    Columns come from the entry (``columns: {a, b, y}``, by default the CombiSolv/Vermeire & Green layout
    ``smiles_solute``, ``smiles_solvent``, ``dGsolv_avg``), overridden by ``load_table(..., columns=...)``
    or by ``ZOO_<NAME>_COLUMNS="solute=COL,solvent=COL,target=COL"`` (keys: a/b/y or the role names;
    the core's ``load_table`` applies both before calling this reader).
    """
    from zoo_core.data.datasets import user_env

    path = str(path)
    cols = _columns(entry, "a", "b", "y")
    delimiter = entry.params.get("delimiter") or _sniff_delimiter(path)
    try:
        table = read_pair_csv(path, cols["a"], cols["b"], cols["y"], roles=_roles(entry),
                              transform=_transform(entry), delimiter=delimiter)
    except DataError as error:
        if "no column" not in str(error):
            raise
        role_a, role_b = _roles(entry)
        raise DataError(
            f"{error}. Tell the zoo which columns hold the {role_a} SMILES, the {role_b} SMILES and the target: "
            f"set {user_env(entry.name, 'COLUMNS')}=\"{role_a}=COL,{role_b}=COL,target=COL\" or pass "
            f"columns={{'a': ..., 'b': ..., 'y': ...}} to zoo_core.data.datasets.load_table") from None
    return _drop_placeholders(table)


__all__ = ["NOT_MOLECULES", "read_pair_csv_entry", "read_ssid_entry",
           "read_user_file_entry", "split_ssid"]
