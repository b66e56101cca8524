"""Writing bench records: each carries the commit it was measured at, and no machine-local paths.

A record is stamped with ``git_commit`` and ``git_dirty`` of the tree as it was when the bench command first asked
(:func:`provenance` is read once per process, so every record of one command carries the same commit). A record
that already has ``git_commit`` keeps it: records kept from earlier runs are not re-stamped, and records measured
before commits were recorded carry ``git_commit: null``. Before writing, every path under ZOO_HOME, the
temporary folder, the repository or the user's home is written relative to it (``$ZOO_HOME/...``,
``$TMPDIR/...``, ``./...``, ``~/...``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@functools.lru_cache(maxsize=None)
def provenance() -> dict:
    """``{"git_commit": HEAD's hash or None, "git_dirty": whether tracked or new files differ from it (bench
    records excluded), or None}`` of the repository the bench runs from."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", ".", ":(exclude)bench/results") if commit else None
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def _local_prefixes() -> list[tuple[str, str]]:
    """(absolute folder, what to write instead), longest folder first so the most specific one wins."""
    from zoo_core.paths import zoo_home

    named = {"$ZOO_HOME": zoo_home(), "$TMPDIR": Path(tempfile.gettempdir()), ".": ROOT, "~": Path.home()}
    prefixes = {}
    for label, folder in named.items():
        for variant in {str(folder), str(Path(folder).resolve())}:
            if len(variant.rstrip("/")) > 1:
                prefixes.setdefault(variant.rstrip("/"), label)
    return sorted(prefixes.items(), key=lambda item: -len(item[0]))


def scrub_paths(value: Any, prefixes: list[tuple[str, str]] | None = None) -> Any:
    """``value`` (a record, or anything inside one) with machine-local folders replaced by their names; numbers and
    other strings are returned unchanged."""
    prefixes = _local_prefixes() if prefixes is None else prefixes
    if isinstance(value, dict):
        return {key: scrub_paths(item, prefixes) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_paths(item, prefixes) for item in value]
    if isinstance(value, str):
        for folder, label in prefixes:
            value = re.sub(r"(?<![\w./-])" + re.escape(folder) + r"(?![\w.-])", lambda _: label, value)
    return value


def save_records(name: str, records: list[dict], folder: Path = RESULTS) -> Path:
    """Write ``records`` to ``folder/<name>.json`` (atomically): new records stamped with :func:`provenance`,
    every record's machine-local paths scrubbed. Returns the file."""
    stamped = [record if "git_commit" in record else {**record, **provenance()} for record in records]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(scrub_paths(stamped), indent=1))
    os.replace(tmp, path)
    return path
