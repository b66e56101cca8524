"""Single-molecule dataset readers: ``reader(entry, path) -> MolTable`` (MoleculeNet's Tox21, ClinTox, HIV).

The entry names its SMILES column (``columns: {a: smiles}``) and its target columns (``targets: [...]``, one or
many; default: every column but the SMILES column). A ``.gz`` file is read decompressed. A multi-task set keeps
rows with empty label cells (they are masked out of the loss and metrics); a SMILES that RDKit cannot parse is
reported later, by line, when the molecules are featurized.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from zoo_core.data.table import MolTable, read_molecule_csv
from zoo_core.errors import DataError


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read ({error})") from error


def read_molecule_csv_entry(entry, path: str | Path) -> MolTable:
    """A headed CSV with one SMILES column and one or more (possibly empty) label columns."""
    path = Path(path)
    text = _text(path)
    columns = entry.get("columns") or {}
    smiles = columns.get("a", "smiles")
    targets = entry.get("targets")
    if targets is None:
        header = [h.strip() for h in next(csv.reader(io.StringIO(text)), [])]
        if isinstance(smiles, int) or str(smiles).isdigit():
            skip = int(smiles)
        elif smiles in header:
            skip = header.index(smiles)
        else:
            raise DataError(f"{path}: no column {smiles!r} (columns: {', '.join(header)})")
        targets = [h for i, h in enumerate(header) if i != skip]
    if not targets:
        raise DataError(f"dataset {entry.name!r} ({path}): no target column")
    return read_molecule_csv(path, smiles, list(targets), role=entry["roles"][0],
                             transform=entry.get("transform") or "none",
                             delimiter=entry.params.get("delimiter", ","), text=text, task=entry["task"])
