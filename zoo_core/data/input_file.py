"""The user's own CSV files (``zoo run --dataset FILE``, ``zoo predict --input FILE``): read as UTF-8 text, and every
way a file can be unusable turned into an :class:`~zoo_core.errors.InputError` that names the file and says what was
expected: a path that does not exist or is a directory, UTF-16 or binary content, bytes that are not UTF-8 (Latin-1),
an empty file, a header without data rows.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from zoo_core.errors import InputError

EXPECTED = "expected a UTF-8 CSV with a header row"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_csv_text(path: str | Path) -> str:
    """The text of a UTF-8 CSV (a UTF-8 byte-order mark is dropped); InputError when the file cannot be one."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file; {EXPECTED}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; {EXPECTED}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error}); {EXPECTED}") from None
    if data.startswith(_UTF16_BOMS):
        raise InputError(f"{path}: the file is UTF-16 encoded; {EXPECTED} (re-save it as UTF-8, e.g. "
                         f"iconv -f UTF-16 -t UTF-8)")
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise InputError(f"{path}: line {line} holds a NUL byte: a binary or UTF-16 file, not text; {EXPECTED}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line} is not UTF-8 (byte 0x{data[error.start]:02x}); {EXPECTED} "
                         f"(re-save it as UTF-8, e.g. iconv -f latin1 -t UTF-8 for a Latin-1 file)") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty; {EXPECTED} and data rows")
    return text


def header_and_first_row(path: str | Path, text: str | None = None) -> tuple[list[str], list[str]]:
    """(header, first non-blank data row) of a user CSV; InputError when it has a header and no data rows."""
    rows = csv.reader(io.StringIO(read_csv_text(path) if text is None else text))
    header = [h.strip() for h in next(rows, [])]
    first = next((row for row in rows if any(c.strip() for c in row)), None)
    if first is None:
        raise InputError(f"{path}: a header ({', '.join(header)}) and no data rows; {EXPECTED} and one row per "
                         f"molecule or pair")
    return header, first
