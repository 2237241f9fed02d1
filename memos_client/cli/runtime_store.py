"""The local runtime under ``MEMOS_HOME`` and the commands on it.

:func:`open_runtime` opens it: for the runtime commands, and for the install commands, which
hand it to the install layer as its ``RuntimeOpener`` (memos_client/install/target.py: that layer
never imports the runtime itself). A command on the runtime is declared with
:func:`runtime_command` (``--as`` and ``--json``) and prints its answer with :func:`respond`.

Only the CLI framework is imported here; the runtime (NumPy, SQLite, the embedding model) is
imported when a command opens it, so ``memos --help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.cli.app import Handler, command
from memos_client.cli.options import AS, JSON

if TYPE_CHECKING:
    from memos_client.runtime import MemOS


def open_runtime(
    home: Path | None = None, *, principal: str | None = None, warm: bool = True
) -> MemOS:
    """The local runtime store under ``home`` (``None``: ``$MEMOS_HOME``), acting as
    ``principal`` (``None``: ``$MEMOS_PRINCIPAL`` or 'local'); its embedder: ``$MEMOS_EMBEDDER``,
    else MiniLM. ``warm``: keep the search structures in memory, for a process of many calls."""
    from memos_client.runtime import MemOS

    return MemOS(home, principal=principal, warm=warm)


def runtime_command(name: str, *, group: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``function`` as ``memos [GROUP] NAME`` (:func:`memos_client.cli.app.command`),
    a command on the runtime: after the parameters declared below it come ``--as`` (its ``as_``
    parameter) and ``--json`` (``json_output``)."""

    def register(function: Handler) -> Handler:
        # Each declaration goes before the ones already made (decorators apply bottom-up):
        # declare --as and --json on their own, then put the command's own parameters first.
        declared = function.__dict__.pop("cli_args", [])
        function = AS(JSON(function))
        function.__dict__["cli_args"][:0] = declared
        return command(name, group=group)(function)

    return register


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout, its text as it is (not ``\\u`` escapes)."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def respond(json_output: bool, document: Any, *lines: str) -> None:
    """Print ``document`` as JSON (:func:`print_json`) with ``--json``, else ``lines``."""
    if json_output:
        print_json(document)
        return
    for line in lines:
        print(line)


def respond_settings(
    json_output: bool, cube: str, settings: dict[str, Any], shown: Callable[[Any], str]
) -> None:
    """A cube's settings: with ``--json`` ``{"cube": CUBE, **settings}``, else a ``key: value``
    line each, the value as ``shown`` writes it."""
    lines = (f"{key}: {shown(value)}" for key, value in settings.items())
    respond(json_output, {"cube": cube, **settings}, *lines)
