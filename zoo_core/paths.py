"""Where the zoo writes: ``ZOO_HOME`` (cache) and ``ZOO_DATA_DIR`` (local copies of datasets)."""

from __future__ import annotations

import os
from pathlib import Path


def zoo_home() -> Path:
    """The cache root: ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "zoo"


def data_dir() -> Path | None:
    """A local folder holding dataset files under their registry paths (``$ZOO_DATA_DIR``), or None."""
    value = os.environ.get("ZOO_DATA_DIR")
    return Path(value).expanduser() if value else None


def offline() -> bool:
    """True when ``ZOO_OFFLINE`` is set to a true value: the zoo never opens a connection."""
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
