"""Terminal output helpers: JSON for scripts, progress bars only on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def print_json(document: Any) -> None:
    """Write one JSON document to stdout."""
    import json

    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def note(message: str) -> None:
    """A line for people on stderr (what was done besides the result); hidden by ``-q``."""
    from memos_client.cli.context import current

    if current().quiet < 1:
        print(message, file=sys.stderr)


def warn(message: str) -> None:
    """``warning: MESSAGE`` on stderr; hidden by ``-qq`` only."""
    from memos_client.cli.context import current

    if current().quiet < 2:
        print(f"warning: {printable(message)}", file=sys.stderr)


def detail(message: str) -> None:
    """A line on stderr shown with ``-v`` (how the command decided what it did)."""
    from memos_client.cli.context import current

    if current().verbose >= 1:
        print(message, file=sys.stderr)


def progress_wanted() -> bool:
    """Whether progress may be drawn: stderr is a terminal, no ``-q``, no ``--json``."""
    from memos_client.cli.context import current

    options = current()
    return sys.stderr.isatty() and not options.quiet and not options.json


#: Control characters a terminal would act on (ESC starts colour and cursor sequences), except
#: tab and newline: C0, DEL and C1.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
del _CONTROL[0x09], _CONTROL[0x0A]


def printable(text: str) -> str:
    """``text`` with its control characters shown as ``\\xNN`` escapes: memory texts come from
    other people's cubes, and printed raw an escape sequence in one could rewrite the screen."""
    return text.translate(_CONTROL)


def format_size(size: int) -> str:
    """A human size, as everywhere (:func:`cli_support.units.format_size`): ``1.5 KiB``, ``512 B``."""
    from cli_support.units import format_size as shown

    return shown(size)


def _stderr_console() -> Any:
    """A rich console on stderr (rich's default is stdout, where results and JSON go)."""
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """Yield an ``advance(n)`` callback drawing a bar on stderr, or ``None`` in pipes."""
    if not progress_wanted() or total < (8 << 20):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    # binary_units: the sizes the rest of the CLI prints (cli_support.units).
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_stderr_console(), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)


@contextmanager
def progress_counter(total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """Yield an ``advance(n)`` callback drawing ``DESCRIPTION  n/total`` on stderr (items, not
    bytes: memories indexed), or ``None`` in pipes, under ``-q``/``--json``, or for a few items."""
    if not progress_wanted() or total < 200:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=_stderr_console(), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)
