"""The local MemOS runtime: store, hybrid retrieval, MemScheduler, MemLifecycle, time machine.

``from memos_client.runtime import MemOS`` is the entry point; see ``docs/runtime.md``.
"""

from typing import TYPE_CHECKING, Any

from memos_client.install.target import InstalledCube
from memos_client.runtime.lifecycle import LifecyclePolicy, TickReport
from memos_client.runtime.memory_types import Hit, MemoryItem, State, VersionRecord
from memos_client.runtime.memos import DEFAULT_CUBE, MemOS
from memos_client.runtime.scheduler import MemoryPlan, PlannedMemory, PlannedPart, select_parts
from memos_client.runtime.timemachine import DiffEntry, RollbackReport

if TYPE_CHECKING:
    from memos_client.runtime.embedding.minilm import Embedder, HashingEmbedder, MiniLMEmbedder
    from memos_client.runtime.retrieval.filters import Filters
    from memos_client.runtime.retrieval.hybrid import RetrievalSettings

#: Exports whose modules import NumPy, loaded on first access: installing, listing and removing
#: cubes (the `memos install` path) never need them.
_LAZY = {
    "Embedder": "embedding.minilm",
    "HashingEmbedder": "embedding.minilm",
    "MiniLMEmbedder": "embedding.minilm",
    "Filters": "retrieval.filters",
    "RetrievalSettings": "retrieval.hybrid",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_CUBE",
    "DiffEntry",
    "Embedder",
    "Filters",
    "HashingEmbedder",
    "Hit",
    "InstalledCube",
    "LifecyclePolicy",
    "MemOS",
    "MemoryItem",
    "MemoryPlan",
    "MiniLMEmbedder",
    "PlannedMemory",
    "PlannedPart",
    "RetrievalSettings",
    "RollbackReport",
    "State",
    "TickReport",
    "VersionRecord",
    "select_parts",
]
