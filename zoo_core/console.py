"""Messages and progress bars on stderr (results go to stdout)."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def warn(message: str) -> None:
    """One ``zoo:`` line on stderr."""
    print(f"zoo: {message}", file=sys.stderr)


def duration(seconds: float) -> str:
    """``42 s``, ``17 min`` or ``3.4 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def track(items: Iterable[T], total: int, description: str, enabled: bool = True,
          min_items: int = 50) -> Iterator[T]:
    """Yield ``items`` with a transient rich progress bar on stderr (none when disabled or fewer than
    ``min_items``)."""
    if not enabled or total < min_items:
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
