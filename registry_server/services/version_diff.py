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
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from mip.errors import MIPError
from mip.models import ActivationPart, Manifest, ParameterPart, PlaintextPart
from mip.records import iter_records
from registry_server.db.session import read_session
from registry_server.services.blobs import blob_key
from registry_server.services.catalog import find_cube_or_404, find_version_or_404
from registry_server.services.facets import load_manifest
from registry_server.services.storage import BlobStore

#: Records compared per side at most.
MAX_RECORDS = 100_000
#: Changes of each kind (added, removed, changed) kept for display.
MAX_SHOWN = 100
#: Characters of a memory's text shown.
MAX_TEXT_CHARS = 2_000
_TOKEN_RE = re.compile(r"\s+|[^\s]+")


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

    @property
    def segments(self) -> list[tuple[str, str]]:
        """The text change as ``(op, text)`` runs, op in ``equal``/``delete``/``insert``."""
        old = _TOKEN_RE.findall(self.old_text or "")
        new = _TOKEN_RE.findall(self.new_text or "")
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
        # A bytearray: deleting from its front is cheap, so reads do not copy the rest.
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data


def _content_hash(record: dict[str, Any]) -> bytes:
    content = {key: record.get(key) for key in ("text", "tags", "metadata")}
    encoded = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).digest()[:16]


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


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    return {"tags": record.get("tags", []), "metadata": record.get("metadata", {})}


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
        for index, record in enumerate(_records(store, old)):
            if index >= MAX_RECORDS:
                result.truncated = True
                break
            known[record["id"]] = _content_hash(record)
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
            elif previous != _content_hash(record):
                result.changed_total += 1
                if len(result.changed) < MAX_SHOWN:
                    change = MemoryChange(
                        memory_id, "changed", new_text=_cut(record["text"]), new_record=record
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
        if pending:
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
        change.old_text = _cut(record["text"])
        if change.status == "removed":
            change.old_record = _shown(record)
            continue
        new = change.new_record or {}
        change.changed_fields = [
            key for key in ("text", "tags", "metadata") if record.get(key) != new.get(key)
        ]
        change.old_record = _shown(record)
        change.new_record = _shown(new)


def diff_versions(
    engine: Engine, store: BlobStore, namespace: str, name: str, old: str, new: str
) -> VersionDiff:
    """The differences between versions ``old`` and ``new`` of ``namespace/name``."""
    with read_session(engine) as session:
        cube = find_cube_or_404(session, namespace, name)
        old_row = find_version_or_404(session, cube, old)
        new_row = find_version_or_404(session, cube, new)
        from registry_server.services.resolve import sorted_versions

        versions = [row.version for row in reversed(sorted_versions(session, cube))]
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
    return result
