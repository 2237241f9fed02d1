"""The transparency log (spec/MIP-1-registry.md §12): appends inside the event's transaction,
proofs and tiles from stored hashes.

:func:`append_log_entry` is called by every service that publishes, yanks, unyanks or changes a
namespace's keys, in the same session as the change, so the entry and the event commit together
or not at all: an event is visible if and only if it is logged. It locks the ``log_head`` row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
writers), so two server processes can never write two entries at one index -- and the primary
keys would refuse it if they tried.

Each append stores the leaf hash and the hash of every subtree it completes (two on average);
proofs and tiles read at most ``2 log2(n)`` (proofs) or 256 (a tile) stored hashes by primary key,
so their cost does not grow with the log beyond that logarithm.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, insert, text, update
from sqlmodel import Session, col, select

from mip.dsse import parse_envelope
from mip.errors import InvalidProofError, MIPError
from mip.transparency.entries import (
    EventKind,
    LogEntry,
    encode_entry,
    key_event,
    version_event,
)
from mip.transparency.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash
from mip.transparency.prover import (
    append_to_frontier,
    consistency_proof,
    inclusion_proof,
    tree_hash,
)
from mip.transparency.tiles import (
    ENTRIES_LEVEL,
    Tile,
    encode_entry_bundle,
    tile_data,
    tile_exists,
)
from registry_server.db.log_models import HEAD_ID, LogEntryRecord, LogHash, LogHead
from registry_server.db.models import Cube, CubeVersion, Namespace, SigningKeyRecord, utcnow
from registry_server.db.session import write_session
from registry_server.errors import InvalidTreeSizeError, LogUnavailableError, NotFoundError

logger = logging.getLogger("registry_server")

#: Any constant: serialises log set-up when several servers start on one PostgreSQL.
_LOG_SETUP_LOCK = 7_405_113
#: Most entries one ``GET /v1/log/entries`` returns.
MAX_ENTRIES_PER_PAGE = 1000


class SessionHashReader:
    """Stored hashes read from the database (``pending`` ones not yet flushed first)."""

    def __init__(self, session: Session, pending: dict[int, bytes] | None = None) -> None:
        self.session = session
        self.pending = pending or {}

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """See :class:`mip.transparency.prover.HashReader`."""
        found = {index: self.pending[index] for index in indexes if index in self.pending}
        missing = [index for index in indexes if index not in found]
        if missing:
            query = select(LogHash.idx, LogHash.hash).where(col(LogHash.idx).in_(missing))
            found.update(
                (row[0], bytes(row[1])) for row in self.session.connection().execute(query)
            )
        try:
            return [found[index] for index in indexes]
        except KeyError as exc:
            raise LogUnavailableError(
                f"the transparency log lacks stored hash {exc.args[0]}: its tables are damaged "
                "(the operator restores them from a backup)"
            ) from exc


_HEAD = select(LogHead.size, LogHead.root_hash).where(LogHead.id == HEAD_ID)


_LOCK_HEAD = select(LogHead.size, LogHead.frontier).where(LogHead.id == HEAD_ID).with_for_update()


def append_log_entry(session: Session, entry: LogEntry) -> int:
    """Append ``entry`` to the log in ``session``'s transaction; return its index.

    Call it last in a write transaction (it takes the log's lock, which every writer takes last,
    so locks are always taken in one order). The caller commits; a rollback drops the entry.
    Four statements, whatever the log's size: lock the head (its size and frontier are all the
    append needs), insert the entry, insert its hashes, update the head.
    """
    data = encode_entry(entry)
    connection = session.connection()
    head = connection.execute(_LOCK_HEAD).one_or_none()
    if head is None:
        raise LogUnavailableError(
            "the transparency log is not set up: the registry server creates it at start-up"
        )
    index, packed = head
    frontier = [packed[at : at + HASH_SIZE] for at in range(0, len(packed), HASH_SIZE)]
    try:
        pending, root, frontier = append_to_frontier(index, leaf_hash(data), frontier)
    except InvalidProofError as exc:
        raise LogUnavailableError(
            f"the transparency log's head row is damaged ({exc}): the operator restores it"
        ) from exc
    connection.execute(
        insert(LogEntryRecord),
        {
            "idx": index,
            "event": entry.event,
            "namespace": entry.namespace,
            "name": entry.name,
            "version": entry.version,
            "entry": data,
        },
    )
    connection.execute(
        insert(LogHash), [{"idx": position, "hash": value} for position, value in pending.items()]
    )
    connection.execute(
        update(LogHead)
        .where(col(LogHead.id) == HEAD_ID)
        .values(size=index + 1, root_hash=root, frontier=b"".join(frontier), updated_at=utcnow())
    )
    return index


def log_version_event(
    session: Session,
    event: EventKind,
    name: str,
    row: CubeVersion,
    when: datetime,
    signers: Sequence[str] | None = None,
) -> int:
    """Append the publish, yank or unyank of ``row`` (a version of cube ``name``)."""
    if signers is None:
        signers = parse_envelope(row.envelope).key_ids
    entry = version_event(
        event,
        name,
        row.version,
        row.manifest_digest,
        list(signers),
        when.replace(microsecond=0),
    )
    return append_log_entry(session, entry)


def log_key_registered(session: Session, namespace: str, key_id: str, when: datetime) -> int:
    """Append the registration of ``key_id`` in ``namespace``."""
    entry = key_event("key-register", namespace, [key_id], when.replace(microsecond=0))
    return append_log_entry(session, entry)


def log_key_event(
    session: Session,
    event: EventKind,
    namespace: str,
    key_ids: list[str],
    when: datetime,
    statement_digest: str | None = None,
) -> int:
    """Append a key rotation (the new key and its endorsers) or revocation (MIP-1 §6.4)."""
    entry = key_event(event, namespace, key_ids, when.replace(microsecond=0), statement_digest)
    return append_log_entry(session, entry)


def ensure_log(engine: Engine, origin: str, verifier_key: str) -> None:
    """Create the log at first start (logging what the registry already holds), or check that
    the configured key and origin are the log's: another key would start another history."""
    with write_session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.connection().execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOG_SETUP_LOCK}
            )
        head = session.get(LogHead, HEAD_ID)
        if head is not None:
            if (head.origin, head.verifier_key) != (origin, verifier_key):
                raise LogUnavailableError(
                    f"this registry's transparency log is {head.origin} signed by "
                    f"{head.verifier_key}, but this server has {origin} with key {verifier_key}: "
                    "give every server the same MEMSTORE_LOG_KEY_FILE and MEMSTORE_LOG_ORIGIN",
                    code="log_key_mismatch",
                )
            return
        session.add(
            LogHead(
                id=HEAD_ID, origin=origin, verifier_key=verifier_key, size=0, root_hash=EMPTY_ROOT
            )
        )
        session.flush()
        count = _log_existing_state(session)
        session.commit()
    if count:
        logger.info("transparency log created with %d entries for existing data", count)


def _log_existing_state(session: Session) -> int:
    """Append an entry for each key, version and yank a registry held before it had a log."""
    events: list[tuple[datetime, int, LogEntry]] = []
    keys = session.exec(
        select(SigningKeyRecord, Namespace).where(SigningKeyRecord.namespace_id == Namespace.id)
    )
    for record, namespace in keys:
        when = record.added_at.replace(microsecond=0)
        entry = key_event("key-register", namespace.normalized_name, [record.key_id], when)
        events.append((when, 0, entry))
    versions = session.exec(select(CubeVersion, Cube).where(CubeVersion.cube_id == Cube.id))
    now = utcnow().replace(microsecond=0)
    for row, cube in versions:
        try:
            signers = parse_envelope(row.envelope).key_ids
        except MIPError:  # pragma: no cover - stored envelopes were verified at publish
            continue
        when = row.published_at.replace(microsecond=0)
        arguments = (cube.name, row.version, row.manifest_digest, signers)
        events.append((when, 1, version_event("publish", *arguments, when)))
        if row.yanked:
            events.append((now, 2, version_event("yank", *arguments, now)))
    events.sort(key=lambda item: (item[0], item[1]))
    for _, _, entry in events:
        append_log_entry(session, entry)
    return len(events)


def tree_head(session: Session) -> tuple[int, bytes]:
    """The log's current size and root."""
    head = session.connection().execute(_HEAD).one_or_none()
    if head is None:
        raise LogUnavailableError(
            "the transparency log is not set up: the registry server creates it at start-up"
        )
    return int(head[0]), bytes(head[1])


def root_at(session: Session, size: int) -> bytes:
    """The root of the first ``size`` entries (``size`` at most the current size)."""
    current, root = tree_head(session)
    if not 0 <= size <= current:
        raise InvalidTreeSizeError(f"tree size {size} is not in 0..{current} (the log's size)")
    return root if size == current else tree_hash(size, SessionHashReader(session))


def _tree_size(session: Session, requested: int | None) -> tuple[int, bytes]:
    current, root = tree_head(session)
    if requested is None or requested == current:
        return current, root
    return requested, root_at(session, requested)


def entry_bytes(session: Session, index: int) -> bytes:
    """The canonical bytes of entry ``index``."""
    query = select(LogEntryRecord.entry).where(col(LogEntryRecord.idx) == index)
    data = session.connection().execute(query).scalar_one_or_none()
    if data is None:
        raise NotFoundError(f"the log has no entry {index}", code="log_entry_not_found")
    return bytes(data)


def inclusion(
    session: Session, index: int, tree_size: int | None
) -> tuple[int, bytes, bytes, list[bytes]]:
    """``(tree size, root, entry, proof)`` of entry ``index`` in the tree of ``tree_size``
    entries (the current tree when ``None``)."""
    size, root = _tree_size(session, tree_size)
    if not 0 <= index < size:
        raise InvalidTreeSizeError(
            f"entry {index} is not in the tree of size {size}: ask for a larger tree_size"
        )
    proof = inclusion_proof(size, index, SessionHashReader(session))
    return size, root, entry_bytes(session, index), proof


def find_version_entry(session: Session, name: str, version: str, event: str) -> int:
    """The index of the latest ``event`` entry of cube ``name`` (normal form) ``version``."""
    index = session.exec(
        select(LogEntryRecord.idx)
        .where(
            LogEntryRecord.name == name,
            LogEntryRecord.version == version,
            LogEntryRecord.event == event,
        )
        .order_by(col(LogEntryRecord.idx).desc())
    ).first()
    if index is None:
        raise NotFoundError(
            f"the log has no {event} entry for {name} {version}", code="log_entry_not_found"
        )
    return index


def consistency(session: Session, first: int, second: int | None) -> tuple[int, bytes, list[bytes]]:
    """``(second, root of second, proof)`` that the first ``first`` entries are a prefix of the
    first ``second`` (the current tree when ``None``); from size 0 the proof is empty."""
    size, root = _tree_size(session, second)
    if not 0 <= first <= size:
        raise InvalidTreeSizeError(f"first ({first}) must be between 0 and second ({size})")
    if first == 0:
        return size, root, []
    return size, root, consistency_proof(size, first, SessionHashReader(session))


def entries_page(session: Session, start: int, limit: int) -> list[tuple[int, bytes]]:
    """Entries ``start`` to ``start + limit - 1`` that exist, as ``(index, bytes)``."""
    if limit <= 0:
        return []
    rows = session.exec(
        select(LogEntryRecord.idx, LogEntryRecord.entry)
        .where(col(LogEntryRecord.idx) >= start, col(LogEntryRecord.idx) < start + limit)
        .order_by(col(LogEntryRecord.idx))
    )
    return [(index, data) for index, data in rows]


def tile_bytes(session: Session, tile: Tile) -> bytes:
    """The bytes of a tile or entry bundle of the current tree (404 when the tree does not hold
    all of it yet)."""
    size, _ = tree_head(session)
    if not tile_exists(tile, size):
        raise NotFoundError(
            f"{tile.path()} is not in the log (tree size {size})", code="tile_not_found"
        )
    if tile.level == ENTRIES_LEVEL:
        first = tile.index << tile.height
        return encode_entry_bundle([data for _, data in entries_page(session, first, tile.width)])
    return tile_data(tile, SessionHashReader(session))
