"""What installing needs of a runtime store, seen from the install layer.

The runtime (a layer above, ``memos_client.runtime.MemOS``) implements :class:`InstallTarget`.
Whoever opens runtimes — the CLI, ``MemOS.install``, ``memos serve`` — hands the install code a
:data:`RuntimeOpener` (``Options.open_runtime``), so that installing never imports the runtime
and the runtime can call the install workflow without a cycle (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import msgspec


class InstalledCube(msgspec.Struct, frozen=True):
    """A cube installed from a bundle: what ``memos list`` shows."""

    name: str
    version: str
    manifest_digest: str
    memory_count: int
    installed_at: str
    governance: dict[str, Any] = msgspec.field(default_factory=dict)
    parts: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {f: getattr(self, f) for f in self.__struct_fields__}


class InstallTarget(Protocol):
    """The runtime store cubes are installed into."""

    def installed_cubes(self) -> list[InstalledCube]:
        """Every installed cube, by name."""
        ...

    def installed_digests(self) -> dict[str, str]:
        """The manifest digest of every installed cube, by name."""
        ...

    def install_cube(
        self,
        name: str,
        version: str,
        manifest_digest: str,
        records: Iterable[dict[str, Any]],
        governance: dict[str, Any] | None = None,
        parts: list[dict[str, Any]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replace a cube's installed content atomically; returns its memory count."""
        ...

    def uninstall_cube(self, name: str) -> int:
        """Remove an installed cube; returns how many memories it had."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


#: Opens the runtime store of a ``MEMOS_HOME`` (``memos_client.runtime.MemOS`` is one).
RuntimeOpener = Callable[[Path], InstallTarget]


def read_installed(open_runtime: RuntimeOpener, home: Path) -> list[InstalledCube]:
    """The cubes installed under ``home`` (none, and nothing created, when it has no store)."""
    if not (home / "runtime" / "memos.db").exists():
        return []
    runtime = open_runtime(home)
    try:
        return runtime.installed_cubes()
    finally:
        runtime.close()
