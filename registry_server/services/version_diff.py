"""What changed between two versions of a cube: parts, and plaintext memories record by record.

Memories are read from the plaintext blobs through the storage interface, streamed and decoded
record by record (``mip.records.iter_records``), never loaded whole. Work is bounded: at most
:data:`MAX_RECORDS` records per side are compared, at most :data:`MAX_SHOWN` changes of each kind
are kept for display, and shown texts are cut at :data:`MAX_TEXT_CHARS`. The old side is read
twice (ids and content hashes first, then the texts of the few changes shown) so memory stays
proportional to the number of ids, not to the size of the texts.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack
from sqlalchemy import Engine

from mip.errors import MIPError
from mip.models import ActivationPart, Manifest, ParameterPart, PlaintextPart
from mip.records import iter_records
from registry_server.db.session import read_session
from registry_server.services.blobs import blob_key
from registry_server.services.catalog import find_cube_or_404, find_version_or_404
from registry_server.services.facets import load_manifest
from registry_server.services.resolve import sorted_versions
from registry_server.services.storage import BlobStore

#: Records compared per side at most.
MAX_RECORDS = 100_000
#: Changes of each kind (added, removed, changed) kept for display.
MAX_SHOWN = 50
#: Characters of a memory's text shown.
MAX_TEXT_CHARS = 2_000
#: Old-side records kept from the first pass (encoded bytes); past it, a second pass fetches
#: the few that are shown.
TEXT_BUDGET_BYTES = 16 << 20
#: Words with their trailing space: few, mostly distinct tokens keep the text diff fast.
_TOKEN_RE = re.compile(r"\s+|\S+\s*")


@dataclass(frozen=True)
class PartChange:
    """One part, by name, across the two versions."""

    name: str
    status: str  # added | removed | changed | unchanged
    kind: str
    old_size: int | None
    new_size: int | None
    notes: list[str]


@dataclass
class MemoryChange:
    """One memory added, removed or changed; texts are cut at :data:`MAX_TEXT_CHARS`."""

    id: str
    status: str  # added | removed | changed
    old_text: str | None = None
    new_text: str | None = None
    old_record: dict[str, Any] | None = None
    new_record: dict[str, Any] | None = None
    changed_fields: list[str] = field(default_factory=list)

    #: The text change as ``(op, text)`` runs, op in ``equal``/``delete``/``insert``.
    segments: list[tuple[str, str]] = field(default_factory=list)


def text_segments(old_text: str, new_text: str) -> list[tuple[str, str]]:
    """A word-level diff of two texts as ``(op, text)`` runs (``equal``, ``delete``, ``insert``)."""
    old = _TOKEN_RE.findall(old_text)
    new = _TOKEN_RE.findall(new_text)
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(("equal", "".join(old[a1:a2])))
            continue
        if a2 > a1:
            runs.append(("delete", "".join(old[a1:a2])))
        if b2 > b1:
            runs.append(("insert", "".join(new[b1:b2])))
    return runs


@dataclass
class VersionDiff:
    """The differences between ``old_version`` and ``new_version`` of ``cube``."""

    cube: str
    old_version: str
    new_version: str
    versions: list[str]
    parts: list[PartChange]
    added: list[MemoryChange] = field(default_factory=list)
    removed: list[MemoryChange] = field(default_factory=list)
    changed: list[MemoryChange] = field(default_factory=list)
    added_total: int = 0
    removed_total: int = 0
    changed_total: int = 0
    unchanged_total: int = 0
    #: True when a side had more than :data:`MAX_RECORDS` records (the rest was not compared).
    truncated: bool = False
    #: Set when a plaintext blob could not be decoded.
    problem: str | None = None

    @property
    def memories_changed(self) -> bool:
        """True when any memory was added, removed or changed."""
        return bool(self.added_total or self.removed_total or self.changed_total)


class _ChunkReader:
    """A ``read(size)`` stream over the chunks a :class:`BlobStore` yields."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        # Slices of the current chunk: each byte is copied once, whatever the read sizes.
        pieces = []
        wanted = size
        while wanted != 0:
            if self._offset >= len(self._chunk):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._chunk, self._offset = chunk, 0
                continue
            end = len(self._chunk) if wanted < 0 else min(len(self._chunk), self._offset + wanted)
            pieces.append(self._chunk[self._offset : end])
            if wanted > 0:
                wanted -= end - self._offset
            self._offset = end
        return b"".join(pieces)


def _content_hash(record: dict[str, Any]) -> tuple[bytes, int]:
    """A digest of the fields people see, and their encoded size.

    msgpack keeps the writer's key order, so a reordered metadata map counts as a change (it is
    one, byte for byte).
    """
    encoded = msgpack.packb((record["text"], record["tags"], record["metadata"]), use_bin_type=True)
    return hashlib.blake2b(encoded, digest_size=16).digest(), len(encoded)


def _plaintext_parts(manifest: Manifest) -> list[PlaintextPart]:
    return sorted(
        (part for part in manifest.parts if isinstance(part, PlaintextPart)),
        key=lambda part: part.name,
    )


def _records(store: BlobStore, manifest: Manifest) -> Iterator[dict[str, Any]]:
    for part in _plaintext_parts(manifest):
        yield from iter_records(_ChunkReader(store.read(blob_key(part.digest))))  # type: ignore[arg-type]


def _model_of(part: Any) -> str | None:
    if isinstance(part, ActivationPart):
        return f"{part.model.model_id} ({part.model.digest[:12]})"
    if isinstance(part, ParameterPart):
        return f"{part.base_model.model_id} ({part.base_model.digest[:12]})"
    return None


def diff_parts(old: Manifest, new: Manifest) -> list[PartChange]:
    """Parts matched by name: added, removed, changed (digest, kind or model) or unchanged."""
    old_parts = {part.name: part for part in old.parts}
    new_parts = {part.name: part for part in new.parts}
    changes = []
    for name in sorted(old_parts.keys() | new_parts.keys()):
        before, after = old_parts.get(name), new_parts.get(name)
        if before is None:
            assert after is not None
            changes.append(PartChange(name, "added", after.kind, None, after.size, []))
            continue
        if after is None:
            changes.append(PartChange(name, "removed", before.kind, before.size, None, []))
            continue
        notes = []
        if before.kind != after.kind:
            notes.append(f"kind {before.kind} → {after.kind}")
        if before.size != after.size:
            notes.append(f"size {before.size:,} → {after.size:,} bytes")
        if _model_of(before) != _model_of(after):
            notes.append(f"model {_model_of(before)} → {_model_of(after)}")
        if (
            isinstance(before, PlaintextPart)
            and isinstance(after, PlaintextPart)
            and before.count != after.count
        ):
            notes.append(f"memories {before.count:,} → {after.count:,}")
        status = "unchanged" if before.digest == after.digest and not notes else "changed"
        if status == "changed" and not notes:
            notes.append("content changed (same size)")
        changes.append(PartChange(name, status, after.kind, before.size, after.size, notes))
    return changes


def _cut(text: Any) -> str:
    value = str(text)
    return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS] + "…"


def _text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a record besides its text, plus the full text's digest."""
    return {
        "tags": record.get("tags", []),
        "metadata": record.get("metadata", {}),
        "text_digest": record.get("text_digest") or _text_digest(record["text"]),
    }


def diff_memories(store: BlobStore, old: Manifest, new: Manifest, result: VersionDiff) -> None:
    """Fill ``result``'s memory changes by streaming both versions' plaintext blobs."""
    old_digests = [part.digest for part in _plaintext_parts(old)]
    new_digests = [part.digest for part in _plaintext_parts(new)]
    if old_digests == new_digests:
        # Same blobs, same memories: nothing to read.
        result.unchanged_total = sum(part.count for part in _plaintext_parts(new))
        return
    try:
        known: dict[str, bytes] = {}
        # Old records kept whole while they fit the budget: usually no second pass is needed.
        kept: dict[str, dict[str, Any]] | None = {}
        budget = TEXT_BUDGET_BYTES
        for index, record in enumerate(_records(store, old)):
            if index >= MAX_RECORDS:
                result.truncated = True
                break
            known[record["id"]], size = _content_hash(record)
            if kept is not None:
                budget -= size
                kept[record["id"]] = {"text": _cut(record["text"]), **_shown(record)}
                if budget < 0:
                    kept = None
        seen: set[str] = set()
        pending: dict[str, MemoryChange] = {}
        for index, record in enumerate(_records(store, new)):
            if index >= MAX_RECORDS:
                result.truncated = True
                break
            memory_id = record["id"]
            seen.add(memory_id)
            previous = known.get(memory_id)
            if previous is None:
                result.added_total += 1
                if len(result.added) < MAX_SHOWN:
                    result.added.append(
                        MemoryChange(
                            memory_id,
                            "added",
                            new_text=_cut(record["text"]),
                            new_record=_shown(record),
                        )
                    )
            elif previous != _content_hash(record)[0]:
                result.changed_total += 1
                if len(result.changed) < MAX_SHOWN:
                    change = MemoryChange(
                        memory_id,
                        "changed",
                        new_text=_cut(record["text"]),
                        new_record=_shown(record),
                    )
                    result.changed.append(change)
                    pending[memory_id] = change
            else:
                result.unchanged_total += 1
        for memory_id in known:
            if memory_id not in seen:
                result.removed_total += 1
                if len(result.removed) < MAX_SHOWN:
                    change = MemoryChange(memory_id, "removed")
                    result.removed.append(change)
                    pending[memory_id] = change
        if pending and kept is not None:
            for memory_id, change in pending.items():
                _fill_change(change, kept[memory_id])
        elif pending:
            _fill_old_side(store, old, pending)
    except MIPError as exc:
        result.problem = f"memories could not be decoded: {exc}"


def _fill_old_side(store: BlobStore, old: Manifest, pending: dict[str, MemoryChange]) -> None:
    """Second pass over the old side: the texts of the changes that are shown."""
    remaining = len(pending)
    for index, record in enumerate(_records(store, old)):
        if index >= MAX_RECORDS or remaining == 0:
            return
        change = pending.get(record["id"])
        if change is None:
            continue
        remaining -= 1
        _fill_change(change, record)


def _fill_change(change: MemoryChange, old_record: dict[str, Any]) -> None:
    """Complete a removed or changed memory with its old side."""
    change.old_text = _cut(old_record["text"])
    change.old_record = _shown(old_record)
    if change.status == "changed":
        new = change.new_record or {}
        old = change.old_record
        change.changed_fields = [
            key for key in ("text_digest", "tags", "metadata") if old.get(key) != new.get(key)
        ]
        change.changed_fields = [k.removesuffix("_digest") for k in change.changed_fields]
        change.segments = text_segments(change.old_text, change.new_text or "")


class DiffCache:
    """The last few diffs, by the two manifest digests: versions are immutable, so a diff is too.

    Bounded by entry count (each entry holds at most ``3 * MAX_SHOWN`` cut texts).
    """

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], VersionDiff] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> VersionDiff | None:
        """The cached diff for ``key`` (marked recently used), or ``None``."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], diff: VersionDiff) -> None:
        """Remember ``diff``, evicting the least recently used entry when full."""
        with self._lock:
            self._entries[key] = diff
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


#: One cache per process (diffs do not depend on settings).
DIFF_CACHE = DiffCache()


def diff_versions(
    engine: Engine,
    store: BlobStore,
    namespace: str,
    name: str,
    old: str,
    new: str,
    cache: DiffCache | None = DIFF_CACHE,
) -> VersionDiff:
    """The differences between versions ``old`` and ``new`` of ``namespace/name``."""
    with read_session(engine) as session:
        cube = find_cube_or_404(session, namespace, name)
        old_row = find_version_or_404(session, cube, old)
        new_row = find_version_or_404(session, cube, new)
        versions = [row.version for row in reversed(sorted_versions(session, cube))]
        key = (old_row.manifest_digest, new_row.manifest_digest)
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            # The versions list is the only part that changes (new versions get published).
            return replace(cached, versions=versions)
        _, old_manifest = load_manifest(old_row)
        _, new_manifest = load_manifest(new_row)
        cube_name = cube.name
    result = VersionDiff(
        cube=cube_name,
        old_version=old_row.version,
        new_version=new_row.version,
        versions=versions,
        parts=diff_parts(old_manifest, new_manifest),
    )
    diff_memories(store, old_manifest, new_manifest, result)
    if cache is not None:
        cache.put(key, result)
    return result
