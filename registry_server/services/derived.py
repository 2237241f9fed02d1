"""Facts derived once from immutable blobs and manifests, so page views and downloads stay bounded.

:func:`prepare_version` runs right after a version is published: it reads each new blob once for
its CRC-32 (what a STORED ``.memcube`` entry's header needs before its bytes), summarises each
plaintext blob (record count, an index of ids, content hashes and byte ranges, the first few
memories) and renders the version's card. The pages and the ``.memcube`` download read these rows
and never stream a whole blob to show something. For versions published before the tables existed
(or when that step failed, e.g. storage was briefly unavailable) the same functions compute a
missing row on first use, at most :data:`MAX_CONCURRENT` at a time per process, and keep it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import msgpack
from markupsafe import Markup
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select
from zlib_ng import zlib_ng

from mip.errors import MIPError
from mip.models import Manifest, PlaintextPart
from mip.records import iter_record_spans
from registry_server.db.derived_models import BlobChecksum, PlaintextSummary, VersionCard
from registry_server.db.models import storable_text
from registry_server.db.session import read_session, write_session
from registry_server.errors import RegistryError
from registry_server.services.blobs import blob_key
from registry_server.services.cards import render_card
from registry_server.services.catalog.views import ManifestView
from registry_server.services.facets import load_manifest
from registry_server.services.resolve import find_cube, find_version
from registry_server.services.storage import BlobStore

logger = logging.getLogger("registry_server.derived")

#: Records indexed per plaintext blob (a diff compares at most this many per side).
MAX_INDEXED_RECORDS = 100_000
#: Memories kept for a version page's preview, per blob.
PREVIEW_RECORDS = 5
#: Characters of a previewed memory's text, and tags kept per previewed memory.
PREVIEW_TEXT_CHARS = 600
PREVIEW_TAGS = 8
#: Missing rows computed at the same time, per process (each reads one blob once).
MAX_CONCURRENT = 2
_computing = threading.BoundedSemaphore(MAX_CONCURRENT)

#: One index entry: ``(memory id, content hash, start, end)``.
IndexEntry = tuple[str, bytes, int, int]


def content_hash(record: dict[str, Any]) -> bytes:
    """A digest of what people see of a memory: text, tags, metadata.

    msgpack keeps the writer's key order, so a reordered metadata map counts as a change (it is
    one, byte for byte).
    """
    encoded = msgpack.packb((record["text"], record["tags"], record["metadata"]), use_bin_type=True)
    return hashlib.blake2b(encoded, digest_size=16).digest()


class _ChunkReader:
    """A ``read(size)`` stream over a store's chunks, keeping a CRC-32 of everything read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._offset = 0
        self.crc32 = 0
        self.size = 0

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
                self.crc32 = zlib_ng.crc32(chunk, self.crc32)
                self.size += len(chunk)
                continue
            end = len(self._chunk) if wanted < 0 else min(len(self._chunk), self._offset + wanted)
            pieces.append(self._chunk[self._offset : end])
            if wanted > 0:
                wanted -= end - self._offset
            self._offset = end
        return b"".join(pieces)

    def drain(self) -> None:
        """Read what is left (for the CRC of a blob whose records stopped decoding)."""
        while self.read(1 << 20):
            pass


def _preview_entry(record: dict[str, Any]) -> dict[str, Any]:
    text = record["text"]
    cut = len(text) > PREVIEW_TEXT_CHARS
    return {
        "id": storable_text(record["id"]),
        "text": storable_text(text[:PREVIEW_TEXT_CHARS]),
        "cut": cut,
        "tags": [storable_text(tag[:64]) for tag in record["tags"][:PREVIEW_TAGS]],
    }


def summarise_plaintext(store: BlobStore, digest: str) -> tuple[PlaintextSummary, int]:
    """Read a plaintext blob once: its summary and its CRC-32."""
    reader = _ChunkReader(store.read(blob_key(digest)))
    summary = PlaintextSummary(digest=digest)
    entries: list[IndexEntry] = []
    try:
        for start, end, record in iter_record_spans(reader):  # type: ignore[arg-type]
            summary.records += 1
            if len(summary.preview) < PREVIEW_RECORDS:
                summary.preview.append(_preview_entry(record))
            if len(entries) < MAX_INDEXED_RECORDS:
                entries.append((record["id"], content_hash(record), start, end))
            else:
                summary.truncated = True
    except MIPError as exc:
        summary.problem = storable_text(str(exc))
        reader.drain()
    summary.index = zlib.compress(msgpack.packb(entries, use_bin_type=True), 1)
    return summary, reader.crc32


def read_index(summary: PlaintextSummary) -> list[IndexEntry]:
    """The ``(id, content hash, start, end)`` entries of a summary, in blob order."""
    entries: list[list[Any]] = msgpack.unpackb(zlib.decompress(summary.index), raw=False)
    return [(entry[0], entry[1], entry[2], entry[3]) for entry in entries]


def _crc32_of(store: BlobStore, digest: str) -> int:
    crc = 0
    for chunk in store.read(blob_key(digest)):
        crc = zlib_ng.crc32(chunk, crc)
    return crc


def _save(engine: Engine, rows: list[SQLModel]) -> None:
    """Insert copies of derived rows (the originals stay usable after the session ends); one
    already written by another request or process is fine."""
    for row in rows:
        try:
            with write_session(engine) as session:
                session.add(type(row)(**row.model_dump()))
                session.commit()
        except IntegrityError:
            pass  # the same fact, derived by someone else first


def _find_summary(session: Session, digest: str) -> PlaintextSummary | None:
    found = session.get(PlaintextSummary, digest)
    if found is not None:
        session.expunge(found)  # loaded whole: usable after the session
    return found


def plaintext_summary(engine: Engine, store: BlobStore, digest: str) -> PlaintextSummary:
    """The summary of a plaintext blob, derived now if it never was."""
    with read_session(engine) as session:
        found = _find_summary(session, digest)
        if found is not None:
            return found
    with _computing:
        with read_session(engine) as session:  # derived while this request waited?
            found = _find_summary(session, digest)
            if found is not None:
                return found
        summary, crc = summarise_plaintext(store, digest)
        _save(engine, [summary, BlobChecksum(digest=digest, crc32=crc)])
    return summary


def blob_checksums(engine: Engine, store: BlobStore, digests: list[str]) -> dict[str, int]:
    """The CRC-32 of each blob, derived now for any that never was."""
    with read_session(engine) as session:
        rows = session.exec(select(BlobChecksum).where(BlobChecksum.digest.in_(digests)))  # type: ignore[attr-defined]
        known = {row.digest: row.crc32 for row in rows}
    for digest in digests:
        if digest not in known:
            with _computing:
                known[digest] = _crc32_of(store, digest)
            _save(engine, [BlobChecksum(digest=digest, crc32=known[digest])])
    return known


def card_html(engine: Engine, version_id: int, manifest: Manifest | ManifestView) -> Markup | None:
    """The version's card as sanitised HTML (``None`` without a card), rendered once."""
    if manifest.card is None or not manifest.card.readme:
        return None
    with read_session(engine) as session:
        row = session.get(VersionCard, version_id)
        if row is not None:
            return Markup(row.html)  # noqa: S704  (sanitised by render_card before it was stored)
    with _computing:
        html = render_card(manifest.card.readme)
    _save(engine, [VersionCard(version_id=version_id, html=storable_text(str(html)))])
    return html


def prepare_version(engine: Engine, store: BlobStore, version_id: int, manifest: Manifest) -> None:
    """Derive everything a just-published version's pages and download need (see the module).

    A failure is logged, not raised: the publish has committed, and whatever is missing is
    derived on first use.
    """
    try:
        plaintext = {part.digest for part in manifest.parts if isinstance(part, PlaintextPart)}
        for digest in sorted(plaintext):
            plaintext_summary(engine, store, digest)
        blob_checksums(engine, store, sorted({part.digest for part in manifest.parts}))
        card_html(engine, version_id, manifest)
    except RegistryError as exc:
        logger.warning("version %s: derived data left for later: %s", version_id, exc)


def prepare_published(engine: Engine, store: BlobStore, name: str, version: str) -> None:
    """:func:`prepare_version` for a version just published (or re-published) by name."""
    namespace, short_name = name.split("/", 1)
    with read_session(engine) as session:
        row = find_version(session, find_cube(session, namespace, short_name), version)
        _, manifest = load_manifest(row)
        version_id = row.id
    assert version_id is not None
    prepare_version(engine, store, version_id, manifest)


def version_preview(
    engine: Engine, store: BlobStore, manifest: Manifest | ManifestView
) -> tuple[list[dict[str, Any]], str | None]:
    """The first memories of a version (at most :data:`PREVIEW_RECORDS`), and a problem if any.

    From the summaries of its plaintext parts in manifest order; a blob that did not decode, or
    storage that fails while a missing summary is derived, gives a note instead of an error.
    """
    preview: list[dict[str, Any]] = []
    for part in manifest.parts:
        if part.kind != "plaintext" or len(preview) >= PREVIEW_RECORDS:
            continue
        try:
            summary = plaintext_summary(engine, store, part.digest)
        except RegistryError as exc:
            return preview, f"the memories cannot be read right now ({exc.code})"
        preview += summary.preview[: PREVIEW_RECORDS - len(preview)]
        if summary.problem:
            return preview, f"part {part.name!r} does not decode: {summary.problem}"
    return preview, None
