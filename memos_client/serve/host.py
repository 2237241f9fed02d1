"""One warm runtime for a server process: the indexes and the embedder loaded once, the
lifecycle tick run on a schedule, and the tools over it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from memos_client.errors import MemosError
from memos_client.serve.tools import MemoryTools

logger = logging.getLogger("memos.serve")


def registry_installer(home: Path) -> Any:
    """``install_cube``'s installer: ``memos install REQUIREMENT``'s own workflow."""

    def install(requirement: str) -> list[dict[str, Any]]:
        from memos_client.install.workflow import install_requirement_texts
        from memos_client.runtime import MemOS

        installed = install_requirement_texts([requirement], MemOS, home=home)
        return [result.to_json() for result in installed]

    return install


class Host:
    """The runtime of ``memos mcp`` / ``memos serve``: warm, ticking, shared by every caller."""

    def __init__(
        self,
        home: Path | None = None,
        *,
        principal: str | None = None,
        allow_install: bool = False,
        tick_interval_s: float = 300.0,
        embedder: Any = None,
    ) -> None:
        from memos_client.config import memos_home
        from memos_client.runtime import MemOS

        self.home = home if home is not None else memos_home()
        self.runtime = MemOS(self.home, principal=principal, embedder=embedder, warm=True)
        self.tools = MemoryTools(
            self.runtime, registry_installer(self.home) if allow_install else None
        )
        self.tick_interval_s = tick_interval_s
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def warm_up(self) -> None:
        """Load the embedder and bring the indexes up to the store before the first call."""
        retriever = self.runtime.retriever
        retriever.query_vector("warm up")
        self.runtime.index.sync()
        if retriever.lexical_index is not None:
            retriever.lexical_index.sync()

    def tick(self) -> None:
        """One lifecycle tick as the store's owner (expiry, archiving, promotion)."""
        owner = self.tools.for_principal("local")
        with self.tools._write_lock:
            owner.lifecycle.tick()

    def start(self) -> None:
        """Start the lifecycle ticker (a daemon thread)."""
        if self._ticker is None and self.tick_interval_s > 0:
            self._ticker = threading.Thread(target=self._tick_loop, name="lifecycle", daemon=True)
            self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_interval_s):
            try:
                self.tick()
            except MemosError as exc:  # a busy store, say: the next tick tries again
                logger.warning("lifecycle tick failed: %s", exc)

    def close(self) -> None:
        """Stop ticking, save the indexes, close the store."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.runtime.close()
