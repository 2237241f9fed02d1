"""What changed between two versions of a cube: parts, and plaintext memories record by record.

Memories are compared from the plaintext summaries derived when each version was published
(``services/derived.py``: per blob, every record's id, content hash and byte range), so a diff
never streams a blob: it compares two indexes and then reads, by byte range, only the records it
shows, at most :data:`TEXT_BUDGET_BYTES` of them per diff. Work is bounded: at most
:data:`MAX_RECORDS` records per side are compared, at most :data:`MAX_SHOWN` changes of each kind
are shown, and shown texts are cut at :data:`MAX_TEXT_CHARS`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine

from mip.errors import MIPError
from mip.records import read_records
from registry_server.db.session import read_session
from registry_server.services.blobs import blob_key
from registry_server.services.catalog.cube_page import find_cube_or_404, find_version_or_404
from registry_server.services.catalog.views import ManifestView, PartView, load_view
from registry_server.services.derived import plaintext_summary, read_index
from registry_server.services.resolve import sorted_versions
from registry_server.services.storage import BlobStore

#: Records compared per side at most.
MAX_RECORDS = 100_000
#: Changes of each kind (added, removed, changed) kept for display.
MAX_SHOWN = 50
#: Characters of a memory's text shown.
MAX_TEXT_CHARS = 2_000
#: Bytes of records a diff reads to show their texts (the rest are listed without text).
TEXT_BUDGET_BYTES = 8 << 20
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
    #: True when the page's reading budget left this record's text unread.
    unread: bool = False


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


def _plaintext_parts(manifest: ManifestView) -> list[PartView]:
    return sorted(
        (part for part in manifest.parts if part.kind == "plaintext"),
        key=lambda part: part.name,
    )


def _model_of(part: PartView) -> str | None:
    model = part.model or part.base_model
    return None if model is None else f"{model.model_id} ({model.digest[:12]})"


def diff_parts(old: ManifestView, new: ManifestView) -> list[PartChange]:
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
        if before.count is not None and after.count is not None and before.count != after.count:
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


@dataclass
class _Side:
    """One version's memories as its summaries index them: ``id -> (hash, blob, start, end)``."""

    entries: dict[str, tuple[bytes, str, int, int]]
    truncated: bool = False
    problem: str | None = None


def _side(engine: Engine, store: BlobStore, manifest: ManifestView) -> _Side:
    side = _Side({})
    for part in _plaintext_parts(manifest):
        summary = plaintext_summary(engine, store, part.digest)
        if summary.problem and side.problem is None:
            side.problem = f"part {part.name!r} of {manifest.version}: {summary.problem}"
        side.truncated |= summary.truncated
        for memory_id, digest, start, end in read_index(summary):
            if len(side.entries) >= MAX_RECORDS:
                side.truncated = True
                break
            side.entries[memory_id] = (digest, part.digest, start, end)
    return side


#: A record's place: ``(blob digest, start, end)``.
_Span = tuple[str, int, int]


def _read_records(
    store: BlobStore, groups: list[list[_Span]], budget: int
) -> dict[_Span, dict[str, Any]]:
    """The records of each group (the spans one change shows), while their bytes fit ``budget``.

    A group is read whole or not at all, so a changed memory shows both sides or neither;
    contiguous records of one blob are read in one request. Exactly the accepted records' bytes
    are read.
    """
    accepted: set[_Span] = set()
    for group in groups:
        size = sum(end - start for _, start, end in group)
        if size <= budget:
            accepted.update(group)
            budget -= size
    runs: list[list[_Span]] = []
    for span in sorted(accepted):
        if runs and runs[-1][-1][0] == span[0] and runs[-1][-1][2] == span[1]:
            runs[-1].append(span)
        else:
            runs.append([span])
    found: dict[_Span, dict[str, Any]] = {}
    for run in runs:
        digest, first, last = run[0][0], run[0][1], run[-1][2]
        data = b"".join(store.read(blob_key(digest), first, last))
        for span in run:
            try:
                (found[span],) = read_records(data[span[1] - first : span[2] - first])
            except (MIPError, ValueError):
                continue  # not one whole record where the index says: shown without text
    return found


def diff_memories(
    engine: Engine, store: BlobStore, old: ManifestView, new: ManifestView, result: VersionDiff
) -> None:
    """Fill ``result``'s memory changes from both versions' plaintext summaries."""
    old_digests = [part.digest for part in _plaintext_parts(old)]
    new_digests = [part.digest for part in _plaintext_parts(new)]
    if old_digests == new_digests:
        # Same blobs, same memories: nothing to read.
        result.unchanged_total = sum(part.count or 0 for part in _plaintext_parts(new))
        return
    before, after = _side(engine, store, old), _side(engine, store, new)
    result.truncated = before.truncated or after.truncated
    problem = before.problem or after.problem
    if problem:
        result.problem = f"memories could not be decoded: {problem}"
    wanted: dict[tuple[str, str], _Span] = {}  # (memory id, "old"|"new") -> where it lies
    for memory_id, (content, digest, start, end) in after.entries.items():
        previous = before.entries.get(memory_id)
        if previous is None:
            result.added_total += 1
            if len(result.added) < MAX_SHOWN:
                result.added.append(MemoryChange(memory_id, "added"))
                wanted[(memory_id, "new")] = (digest, start, end)
        elif previous[0] != content:
            result.changed_total += 1
            if len(result.changed) < MAX_SHOWN:
                result.changed.append(MemoryChange(memory_id, "changed"))
                wanted[(memory_id, "new")] = (digest, start, end)
                wanted[(memory_id, "old")] = previous[1:]
        else:
            result.unchanged_total += 1
    for memory_id, (_, digest, start, end) in before.entries.items():
        if memory_id not in after.entries:
            result.removed_total += 1
            if len(result.removed) < MAX_SHOWN:
                result.removed.append(MemoryChange(memory_id, "removed"))
                wanted[(memory_id, "old")] = (digest, start, end)
    changes = (*result.added, *result.changed, *result.removed)
    groups = [
        [wanted[key] for key in ((change.id, "old"), (change.id, "new")) if key in wanted]
        for change in changes
    ]
    records = _read_records(store, groups, TEXT_BUDGET_BYTES)
    for change in changes:
        old_record = records.get(wanted.get((change.id, "old"), ("", 0, 0)))
        new_record = records.get(wanted.get((change.id, "new"), ("", 0, 0)))
        if new_record is not None:
            change.new_text = _cut(new_record["text"])
            change.new_record = _shown(new_record)
        if old_record is not None:
            _fill_change(change, old_record)
        change.unread = (change.status != "removed" and new_record is None) or (
            change.status != "added" and old_record is None
        )


def _fill_change(change: MemoryChange, old_record: dict[str, Any]) -> None:
    """Complete a removed or changed memory with its old side."""
    change.old_text = _cut(old_record["text"])
    change.old_record = _shown(old_record)
    if change.status == "changed":
        new = change.new_record or {}
        old = change.old_record
        changed = [
            key for key in ("text_digest", "tags", "metadata") if old.get(key) != new.get(key)
        ]
        change.changed_fields = [key.removesuffix("_digest") for key in changed]
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
        # The views stored at publish: a page view decodes no manifest.
        old_manifest = load_view(engine, session, old_row)
        new_manifest = load_view(engine, session, new_row)
        cube_name = cube.name
    result = VersionDiff(
        cube=cube_name,
        old_version=old_row.version,
        new_version=new_row.version,
        versions=versions,
        parts=diff_parts(old_manifest, new_manifest),
    )
    diff_memories(engine, store, old_manifest, new_manifest, result)
    if cache is not None:
        cache.put(key, result)
    return result
