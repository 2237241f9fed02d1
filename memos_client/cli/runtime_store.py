"""The runtime store under ``MEMOS_HOME``, opened for the install commands.

Handed to the install layer as its ``RuntimeOpener`` (memos_client/install/target.py), which
never imports the runtime itself; imported here only when a command runs (not at `memos --help`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memos_client.runtime import MemOS


def open_runtime(home: Path) -> MemOS:
    """The local runtime store under ``home`` (its embedder: ``$MEMOS_EMBEDDER``, else MiniLM)."""
    from memos_client.runtime import MemOS

    return MemOS(home)
