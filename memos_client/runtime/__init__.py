"""The local MemOS runtime: store, hybrid retrieval, MemScheduler, MemLifecycle, time machine.

``from memos_client.runtime import MemOS`` is the entry point; see ``docs/runtime.md``.
"""

from memos_client.runtime.embedding import Embedder, HashingEmbedder, MiniLMEmbedder
from memos_client.runtime.lifecycle import LifecyclePolicy, TickReport
from memos_client.runtime.memos import DEFAULT_CUBE, MemOS
from memos_client.runtime.models import Hit, InstalledCube, MemoryItem, State, VersionRecord
from memos_client.runtime.retrieval import Filters, RetrievalSettings
from memos_client.runtime.scheduler import MemoryPlan, PlannedMemory, PlannedPart, select_parts
from memos_client.runtime.timemachine import DiffEntry, RollbackReport

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
