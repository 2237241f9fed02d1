"""Terminal output helpers: JSON for scripts, progress bars only on a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def print_json(document: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


#: Control characters a terminal would act on (ESC starts colour and cursor sequences), except
#: tab and newline: C0, DEL and C1.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
del _CONTROL[0x09], _CONTROL[0x0A]


def printable(text: str) -> str:
    """``text`` with its control characters shown as ``\\xNN`` escapes: memory texts come from
    other people's cubes, and printed raw an escape sequence in one could rewrite the screen."""
    return text.translate(_CONTROL)


def format_size(size: int) -> str:
    """A human size: 1.2 MB, 512 B."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """Yield an ``advance(n)`` callback drawing a bar on stderr, or ``None`` in pipes."""
    if not sys.stderr.isatty() or total < (8 << 20):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)
