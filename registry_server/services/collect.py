"""Garbage collection (`memos-registry admin gc`): what no version needs and no upload will finish.

It removes:

- **unreferenced blobs**: recorded blobs that no version references (failed publishes,
  ``version_exists`` refusals, abandoned uploads) and that were recorded longer ago than the grace
  period -- a publish in progress uploads its blobs first and references them only when it
  commits, so the grace period is what keeps its blobs;
- **stray blob objects**: objects under ``blobs/`` with no row at all (an upload whose process
  died between making the object visible and recording it);
- **upload sessions** created longer ago than the grace period, or expired, with their chunks,
  and chunks whose session is gone;
- **abandoned writes**: temp files and multipart uploads of processes killed mid-upload
  (:meth:`BlobStore.sweep_abandoned_writes`; servers also sweep them when they start).

Safe beside running servers. A blob's row and object are deleted in one transaction holding the
blob's lock (:func:`registry_server.services.blobs.lock_digest`), the lock an upload holds while
it makes the same object visible and records it, so a re-upload of the same digest at the same
moment ends with both its object and its row, or is answered "already stored" before the
collection starts and then finds the blob gone: never a row without its object. A publish
referencing the blob at that moment is decided by the foreign key from ``version_blob``: either
the publish commits first and the blob stays, or it fails with ``blob_missing`` (the client
uploads the blob again) -- never a version referencing a deleted blob.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from registry_server.db.models import Blob, UploadSession, VersionBlob, utcnow
from registry_server.db.session import read_session, write_session
from registry_server.services.audit import AuditActor, record_event
from registry_server.services.auth import ADMIN_ACTOR
from registry_server.services.blobs import blob_key, discard_session, lock_digest
from registry_server.services.storage import BlobStore

logger = logging.getLogger("registry_server.collect")

#: Default grace period: as long as an upload session lives by default.
DEFAULT_GRACE = timedelta(hours=24)
_BLOB_PREFIX = "blobs/sha256/"
_UPLOADS_PREFIX = "uploads/"


@dataclass
class CollectReport:
    """What a collection removed (or, in a dry run, would remove)."""

    dry_run: bool
    #: ``(digest, bytes)`` of unreferenced blobs.
    blobs: list[tuple[str, int]] = field(default_factory=list)
    #: ``(storage key, bytes)`` of blob objects without a row.
    stray_objects: list[tuple[str, int]] = field(default_factory=list)
    #: Ids of upload sessions.
    sessions: list[str] = field(default_factory=list)
    #: ``(storage key, bytes)`` of chunks whose session is gone.
    stray_chunks: list[tuple[str, int]] = field(default_factory=list)
    #: ``(name, bytes)`` of abandoned writes.
    abandoned: list[tuple[str, int]] = field(default_factory=list)
    #: Blobs a publish referenced while the collection ran (kept).
    kept: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        """Bytes of blobs, objects, chunks and temp files removed (sessions' chunks excluded)."""
        return sum(
            size
            for items in (self.blobs, self.stray_objects, self.stray_chunks, self.abandoned)
            for _, size in items
        )


def _unreferenced_blobs(engine: Engine, recorded_before: datetime) -> list[tuple[str, int]]:
    with read_session(engine) as session:
        rows = session.exec(
            select(Blob.digest, Blob.size)
            .where(col(Blob.created_at) < recorded_before)
            .where(~select(VersionBlob.digest).where(VersionBlob.digest == Blob.digest).exists())
            .order_by(col(Blob.digest))
        ).all()
    return [(digest, size) for digest, size in rows]


def _delete_blob(engine: Engine, store: BlobStore, digest: str, recorded_before: datetime) -> bool:
    """Delete one unreferenced blob's row and object under its lock; ``False`` if kept."""
    try:
        with write_session(engine) as session:
            lock_digest(session, digest)
            still = session.exec(
                select(Blob)
                .where(Blob.digest == digest)
                .where(col(Blob.created_at) < recorded_before)
                .where(
                    ~select(VersionBlob.digest).where(VersionBlob.digest == Blob.digest).exists()
                )
            ).first()
            if still is None:
                return False
            session.delete(still)
            # The foreign key from version_blob refuses this if a publish referenced the blob
            # meanwhile; the object goes only once the row is known to go.
            session.flush()
            store.delete(blob_key(digest))
            session.commit()
            return True
    except IntegrityError:
        return False


def _stray_objects(engine: Engine, store: BlobStore) -> list[tuple[str, int]]:
    objects = store.list(_BLOB_PREFIX)
    if not objects:
        return []
    digests = {f"sha256:{key.rsplit('/', 1)[-1]}": (key, size) for key, size in objects}
    with read_session(engine) as session:
        recorded = set(session.exec(select(Blob.digest).where(col(Blob.digest).in_(list(digests)))))
    return [digests[digest] for digest in sorted(digests) if digest not in recorded]


def _delete_stray_object(engine: Engine, store: BlobStore, key: str) -> bool:
    digest = f"sha256:{key.rsplit('/', 1)[-1]}"
    with write_session(engine) as session:
        lock_digest(session, digest)
        if session.get(Blob, digest) is not None:
            return False  # recorded meanwhile by an upload
        store.delete(key)
        session.commit()
    return True


def _old_sessions(engine: Engine, created_before: datetime) -> list[str]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(UploadSession.id)
                .where(
                    (col(UploadSession.created_at) < created_before)
                    | (col(UploadSession.expires_at) <= utcnow())
                )
                .order_by(col(UploadSession.id))
            )
        )


def _stray_chunks(engine: Engine, store: BlobStore) -> list[tuple[str, int]]:
    # Listed before the sessions are read: a session's row exists before its first chunk, so a
    # chunk listed here whose session is absent below belongs to a session that is gone.
    chunks = store.list(_UPLOADS_PREFIX)
    with read_session(engine) as session:
        live = set(session.exec(select(UploadSession.id)))
    return [(key, size) for key, size in chunks if key.split("/")[1] not in live]


def collect_garbage(
    engine: Engine,
    store: BlobStore,
    *,
    grace: timedelta = DEFAULT_GRACE,
    abandoned_write_seconds: float,
    dry_run: bool = False,
) -> CollectReport:
    """Remove what no version needs (see the module's docstring); audited as ``gc.run``."""
    report = CollectReport(dry_run=dry_run)
    cutoff = utcnow() - grace
    for digest, size in _unreferenced_blobs(engine, cutoff):
        if dry_run or _delete_blob(engine, store, digest, cutoff):
            report.blobs.append((digest, size))
        else:
            report.kept.append(digest)
    for key, size in _stray_objects(engine, store):
        if dry_run or _delete_stray_object(engine, store, key):
            report.stray_objects.append((key, size))
    for upload_id in _old_sessions(engine, cutoff):
        if not dry_run:
            discard_session(engine, store, upload_id)
        report.sessions.append(upload_id)
    for key, size in _stray_chunks(engine, store):
        if not dry_run:
            store.delete(key)
        report.stray_chunks.append((key, size))
    report.abandoned = store.sweep_abandoned_writes(abandoned_write_seconds, dry_run=dry_run)
    if not dry_run:
        _audit(engine, report)
    return report


def _audit(engine: Engine, report: CollectReport) -> None:
    with write_session(engine) as session:
        record_event(
            session,
            AuditActor(ADMIN_ACTOR, ADMIN_ACTOR),
            "gc.run",
            detail={
                "blobs": len(report.blobs),
                "stray_objects": len(report.stray_objects),
                "sessions": len(report.sessions),
                "stray_chunks": len(report.stray_chunks),
                "abandoned": len(report.abandoned),
                "freed_bytes": report.freed_bytes,
            },
        )
        session.commit()
    logger.info("gc: freed %d bytes", report.freed_bytes)
