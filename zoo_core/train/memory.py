"""Process memory: the peak resident set size that runs and benchmarks report (docs/DECISIONS.md "Memory")."""

from __future__ import annotations

import sys


def peak_rss_gb() -> float | None:
    """This process's peak resident memory (max RSS) in GB (1024³ bytes); None where ``resource`` is missing."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 1024 ** 3 if sys.platform == "darwin" else peak / 1024 ** 2
