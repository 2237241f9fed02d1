"""Blob uploads and lookups (spec §3): hash while streaming, commit only verified bytes.

A blob is visible (HEAD, publish) only once its row exists, and the row is written only after the
bytes are committed to storage: an interrupted upload leaves at most an invisible temp object, and
a retry starts over and succeeds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from mip.digests import Digest, digest_hex, parse_digest
from registry_server.db.models import Blob, UploadSession, utcnow
from registry_server.db.session import read_session, write_session
from registry_server.errors import (
    BlobTooLargeError,
    DigestMismatchError,
    NotFoundError,
    StorageUnavailableError,
    UploadIncompleteError,
    UploadOffsetMismatchError,
)
from registry_server.services.audit import record_event
from registry_server.services.auth import Principal
from registry_server.services.storage import (
    STORAGE_ADVICE,
    BlobStore,
    BlobWriter,
    new_upload_id,
)

#: Bytes gathered before one storage write (fewer thread hops than one per network chunk).
WRITE_BATCH = 4 << 20
_T = TypeVar("_T")
logger = logging.getLogger("registry_server")


def _abort_after_failure(writer: BlobWriter) -> None:
    """Discard a failed write; a storage error here must not hide the failure being reported."""
    try:
        writer.abort()
    except StorageUnavailableError as exc:
        logger.warning("could not discard a failed upload: %s", exc)


def blob_key(digest: str) -> str:
    """Where a blob lives in storage."""
    hex_digits = digest_hex(Digest(digest))
    return f"blobs/sha256/{hex_digits[:2]}/{hex_digits}"


def _chunk_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}/"


def blob_size(engine: Engine, digest: str) -> int | None:
    """The size of a stored blob, or ``None``."""
    parse_digest(digest)
    with read_session(engine) as session:
        blob = session.get(Blob, digest)
        return None if blob is None else blob.size


def stored_blob_size(engine: Engine, store: BlobStore, digest: str) -> int | None:
    """The size of a blob that is recorded *and* whose bytes storage holds, or ``None``.

    A recorded blob whose object is missing or of the wrong size (lost storage, an operator's
    deletion) raises :class:`StorageUnavailableError` (503): saying 404 would be untrue, and
    serving it would send headers with no body behind them.
    """
    size = blob_size(engine, digest)
    if size is None:
        return None
    actual = store.size(blob_key(digest))
    if actual != size:
        found = "missing" if actual is None else f"{actual} bytes, not {size}"
        logger.warning("blob %s is recorded but its stored object is %s", digest, found)
        raise StorageUnavailableError(
            f"blob {digest} is recorded but its bytes are not in the blob storage: {STORAGE_ADVICE}"
        )
    return size


def lock_digest(session: Session, digest: str) -> None:
    """Serialise, until the session's transaction ends, writers of one blob's object and row.

    An upload commits a blob's object and inserts its row under this lock, and garbage
    collection (``services/collect.py``) deletes them under it, so neither can interleave with
    the other: no row is ever left without its object by a collection racing a re-upload.
    On SQLite the write transaction (``BEGIN IMMEDIATE``) already holds the database's lock.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(digest_hex(Digest(digest))[:16]), "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _commit_and_record(
    engine: Engine, writer: BlobWriter, digest: str, size: int, principal: Principal
) -> bool:
    """Make the verified object visible and insert its row (and audit event), under the lock.

    ``False`` (and the writer aborted) when the blob was recorded already.
    """
    try:
        with write_session(engine) as session:
            lock_digest(session, digest)
            if session.get(Blob, digest) is not None:
                writer.abort()
                return False
            writer.commit()
            session.add(Blob(digest=digest, size=size))
            record_event(
                session,
                principal,
                "blob.upload",
                subject=digest,
                detail={"size": size},
            )
            session.commit()
            return True
    except IntegrityError:
        # Recorded meanwhile by another server process: that object is the same bytes.
        return False


@dataclass(frozen=True)
class UploadResult:
    """What an upload produced."""

    digest: str
    size: int
    created: bool


async def _in_thread(function: Callable[..., _T], *args: Any) -> _T:
    return await run_in_threadpool(function, *args)


async def _stream_into(
    writer: BlobWriter, chunks: AsyncIterator[bytes], limit: int, hasher: Any
) -> int:
    """Copy ``chunks`` into ``writer`` while hashing; raise 413 past ``limit`` bytes.

    Network chunks are gathered into batches; each batch is hashed and written on a worker
    thread (both release the GIL) while the event loop receives the next one, so receiving,
    hashing and writing overlap. At most one batch is in flight, which keeps the order. A batch
    is a list of the chunks as received: joining them would copy every byte once more.
    """

    def absorb(batch: list[bytes]) -> None:
        for chunk in batch:
            hasher.update(chunk)
            writer.write(chunk)

    size = 0
    pending: list[bytes] = []
    pending_size = 0
    in_flight: asyncio.Future[None] | None = None
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise BlobTooLargeError(
                    f"upload is over the {limit}-byte limit: use a resumable upload session "
                    "(POST /v1/uploads) for large blobs"
                )
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= WRITE_BATCH:
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(_in_thread(absorb, pending))
                pending, pending_size = [], 0
        if in_flight is not None:
            await in_flight
            in_flight = None
        if pending:
            await _in_thread(absorb, pending)
    finally:
        if in_flight is not None:
            # Let the batch being written finish before the caller aborts the writer.
            await asyncio.wait([in_flight])
    return size


async def upload_blob(
    engine: Engine,
    store: BlobStore,
    digest: str,
    chunks: AsyncIterator[bytes],
    *,
    declared_length: int | None,
    limit: int,
    principal: Principal,
) -> UploadResult:
    """Store a monolithic upload under ``digest`` after checking its bytes hash to it."""
    parse_digest(digest)
    if declared_length is not None and declared_length > limit:
        raise BlobTooLargeError(
            f"upload of {declared_length} bytes is over the {limit}-byte limit: use a resumable "
            "upload session (POST /v1/uploads)"
        )
    hasher = hashlib.sha256()
    writer = await _in_thread(store.writer, blob_key(digest))
    try:
        size = await _stream_into(writer, chunks, limit, hasher)
        if declared_length is not None and size != declared_length:
            raise UploadIncompleteError(
                f"received {size} of {declared_length} bytes: the upload was cut off; retry it"
            )
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise DigestMismatchError(
                f"uploaded bytes hash to {actual}, not {digest}: the file changed or was "
                "corrupted in transit; nothing was stored"
            )
        created = await _in_thread(_commit_and_record, engine, writer, digest, size, principal)
    except BaseException:
        await _in_thread(_abort_after_failure, writer)
        raise
    return UploadResult(digest, size, created)


# -- resumable sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionState:
    """A session as a client sees it."""

    upload_id: str
    digest: str
    size: int
    offset: int
    expires_at: datetime


def _load_session(engine: Engine, upload_id: str, account_id: int) -> UploadSession:
    with read_session(engine) as session:
        row = session.get(UploadSession, upload_id)
        if row is None or row.account_id != account_id or row.expires_at <= utcnow():
            raise NotFoundError(
                f"upload session {upload_id!r} does not exist or expired: start a new one",
                code="upload_not_found",
            )
        session.expunge(row)
        return row


def _offset(store: BlobStore, upload_id: str) -> tuple[int, list[tuple[str, int]]]:
    chunks = store.list(_chunk_prefix(upload_id))
    return sum(size for _, size in chunks), chunks


#: How many expired sessions one new session clears away (bounded work per request).
EXPIRED_SWEEP = 20


def sweep_expired_sessions(engine: Engine, store: BlobStore, limit: int = EXPIRED_SWEEP) -> int:
    """Delete up to ``limit`` expired sessions and their chunks; return how many."""
    with read_session(engine) as session:
        expired = [
            row.id
            for row in session.exec(
                select(UploadSession).where(UploadSession.expires_at <= utcnow()).limit(limit)
            )
        ]
    for upload_id in expired:
        discard_session(engine, store, upload_id)
    return len(expired)


def open_session(
    engine: Engine,
    store: BlobStore,
    account_id: int,
    digest: str,
    size: int,
    ttl_seconds: int,
    max_blob_bytes: int,
) -> SessionState | None:
    """Open a session for ``digest`` of ``size`` bytes; ``None`` when the blob already exists."""
    parse_digest(digest)
    if size < 0 or size > max_blob_bytes:
        raise BlobTooLargeError(f"blob of {size} bytes is over the {max_blob_bytes}-byte limit")
    if blob_size(engine, digest) is not None:
        return None
    # Abandoned sessions are swept here, a few at a time, instead of by a separate janitor.
    sweep_expired_sessions(engine, store)
    upload_id = new_upload_id()
    expires_at = utcnow() + timedelta(seconds=ttl_seconds)
    with write_session(engine) as session:
        session.add(
            UploadSession(
                id=upload_id, digest=digest, size=size, account_id=account_id, expires_at=expires_at
            )
        )
        session.commit()
    return SessionState(upload_id, digest, size, 0, expires_at)


def session_state(
    engine: Engine, store: BlobStore, upload_id: str, account_id: int
) -> SessionState:
    """Where a session stands (the offset to resume from)."""
    row = _load_session(engine, upload_id, account_id)
    offset, _ = _offset(store, upload_id)
    return SessionState(row.id, row.digest, row.size, offset, row.expires_at)


async def append_chunk(
    engine: Engine,
    store: BlobStore,
    upload_id: str,
    account_id: int,
    offset: int,
    chunks: AsyncIterator[bytes],
    *,
    declared_length: int | None,
    max_chunk_bytes: int,
) -> SessionState:
    """Append one chunk at ``offset``; a chunk cut off midway is discarded whole."""
    row = await _in_thread(_load_session, engine, upload_id, account_id)
    current, _ = await _in_thread(_offset, store, upload_id)
    if offset != current:
        raise UploadOffsetMismatchError(
            f"chunk sent at offset {offset}, but the session is at offset {current}: "
            f"resume from {current}"
        )
    limit = min(max_chunk_bytes, row.size - current)
    writer = await _in_thread(store.writer, f"{_chunk_prefix(upload_id)}{offset:020d}")
    try:
        size = await _stream_into(writer, chunks, limit, hashlib.sha256())
        if declared_length is not None and size != declared_length:
            raise UploadIncompleteError(
                f"received {size} of {declared_length} bytes of the chunk: resend it"
            )
        if size:
            await _in_thread(writer.commit)
        else:
            await _in_thread(writer.abort)
    except BaseException:
        await _in_thread(_abort_after_failure, writer)
        raise
    return SessionState(row.id, row.digest, row.size, current + size, row.expires_at)


def discard_session(engine: Engine, store: BlobStore, upload_id: str) -> None:
    """Delete an upload session's chunks, then its row (both may be gone already)."""
    for key, _ in store.list(_chunk_prefix(upload_id)):
        store.delete(key)
    with write_session(engine) as session:
        row = session.get(UploadSession, upload_id)
        if row is not None:
            session.delete(row)
            session.commit()


def finish_session(
    engine: Engine, store: BlobStore, upload_id: str, principal: Principal
) -> UploadResult:
    """Concatenate the chunks while hashing, verify, commit the blob, remove the session."""
    row = _load_session(engine, upload_id, principal.account_id)
    total, chunks = _offset(store, upload_id)
    if total != row.size:
        raise UploadIncompleteError(
            f"session holds {total} of {row.size} bytes: upload the rest from offset {total}"
        )
    existing = blob_size(engine, row.digest)
    if existing is not None:
        discard_session(engine, store, upload_id)
        return UploadResult(row.digest, existing, created=False)
    hasher = hashlib.sha256()
    writer = store.writer(blob_key(row.digest))
    try:
        for key, _ in chunks:
            for data in store.read(key):
                hasher.update(data)
                writer.write(data)
        actual = "sha256:" + hasher.hexdigest()
        if actual != row.digest:
            raise DigestMismatchError(
                f"uploaded bytes hash to {actual}, not {row.digest}: the session is discarded; "
                "upload the file again"
            )
        created = _commit_and_record(engine, writer, row.digest, row.size, principal)
    except DigestMismatchError:
        _abort_after_failure(writer)
        discard_session(engine, store, upload_id)
        raise
    except BaseException:
        _abort_after_failure(writer)
        raise
    discard_session(engine, store, upload_id)
    return UploadResult(row.digest, row.size, created)


def abort_session(engine: Engine, store: BlobStore, upload_id: str, account_id: int) -> None:
    """Drop a session and its chunks."""
    _load_session(engine, upload_id, account_id)
    discard_session(engine, store, upload_id)
