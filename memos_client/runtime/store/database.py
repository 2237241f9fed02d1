"""The SQLite store: schema, connections, transactions, item rows, versions and the audit log.

One file, ``$MEMOS_HOME/runtime/memos.db``, in WAL mode so readers never block the writer and
several processes can share it. Every write runs in ``BEGIN IMMEDIATE`` (the write lock is taken
up front, so two writers queue on ``busy_timeout`` instead of failing with "database is locked"
on lock upgrade) and commits once: a batch add or a cube install is all or nothing, which is also
why a process killed mid-batch leaves the store consistent.

Every content or state change of an item appends a row to ``versions`` (its ``seq`` is the
global change sequence the time machine and the in-memory vector index follow); behaviour
counters (access count, last access) are updated in place, they are not content.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from memos_client.config import PRIVATE_FILE_MODE, private_dir
from memos_client.errors import RuntimeStoreError
from memos_client.runtime.memory_types import MemoryItem, State, VersionRecord, to_rfc3339, utc_now

SCHEMA_VERSION = 1

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS principals (name TEXT PRIMARY KEY, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cubes (
    name TEXT PRIMARY KEY,
    origin TEXT NOT NULL,               -- 'local' or 'installed'
    version TEXT,
    manifest_digest TEXT,
    governance TEXT NOT NULL DEFAULT '{}',
    lifecycle_policy TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    installed_at TEXT
);
CREATE TABLE IF NOT EXISTS cube_parts (
    cube TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    info TEXT NOT NULL,
    PRIMARY KEY (cube, name)
);
CREATE TABLE IF NOT EXISTS installs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    cube TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    at TEXT NOT NULL,
    change_seq INTEGER NOT NULL,         -- the last versions.seq of the install
    governance TEXT NOT NULL DEFAULT '{}',
    parts TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    cube TEXT NOT NULL,
    source_id TEXT NOT NULL,
    text TEXT NOT NULL,
    search_text TEXT NOT NULL,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    text_digest TEXT NOT NULL,
    expires_at TEXT,
    access_count INTEGER NOT NULL DEFAULT 0,
    last_access TEXT,
    UNIQUE (cube, source_id)
);
CREATE INDEX IF NOT EXISTS items_cube_state ON items (cube, state);
-- Conversation position, for the context retriever's neighbour look-ups.
CREATE INDEX IF NOT EXISTS items_conversation ON items (
    cube, json_extract(metadata, '$.session'), json_extract(metadata, '$.turn')
);
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    cube TEXT NOT NULL,
    version INTEGER NOT NULL,
    op TEXT NOT NULL,
    state TEXT NOT NULL,
    text TEXT NOT NULL,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    expires_at TEXT,
    at TEXT NOT NULL,
    principal TEXT NOT NULL,
    UNIQUE (item_id, version)
);
CREATE INDEX IF NOT EXISTS versions_cube_seq ON versions (cube, seq);
CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL,
    digest TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    cube TEXT,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
-- Purges: that a memory's text was erased from every version, by whom and when (never the text).
CREATE TABLE IF NOT EXISTS purges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    cube TEXT NOT NULL,
    at TEXT NOT NULL,
    principal TEXT NOT NULL,
    versions INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(
    search_text, content='items', content_rowid='rowid',
    tokenize='porter unicode61 remove_diacritics 2'
);
"""


def text_digest(text: str) -> str:
    """SHA-256 hex of the UTF-8 text: the key of the embedding cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON (stable text, so equal content compares equal in SQL)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_disk_error(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN"))


#: Below this many free bytes, an I/O error on the store is taken for a full disk.
_NEARLY_FULL = 4 * 1024 * 1024


def store_error(path: Path, exc: sqlite3.Error) -> RuntimeStoreError:
    """What went wrong with the store at ``path``, and what to do, in one line.

    Only a file SQLite says is not a database (or is corrupt) is called "not a runtime store": a
    full disk or a failing one makes SQLite report I/O errors on a healthy store, and the advice
    to move a healthy store away would cost its data.
    """
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return RuntimeStoreError(
            f"{path} is not a MemOS runtime store ({exc}); move it away or set MEMOS_HOME"
        )
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if name.startswith("SQLITE_FULL") or (
        _is_disk_error(exc) and free is not None and free < _NEARLY_FULL
    ):
        return RuntimeStoreError(
            f"the disk holding {path} is full ({exc}): free some space and run the command "
            "again; the store is unchanged"
        )
    return RuntimeStoreError(
        f"the runtime store {path} cannot be read or written ({exc}): check the disk and the "
        "file's permissions; the store is unchanged"
    )


class Store:
    """A connection to one runtime database; safe to share between threads of one process."""

    def __init__(self, path: Path, busy_timeout_s: float = 60.0) -> None:
        self.path = path
        try:
            private_dir(path.parent)
            # SQLite creates the file with the umask's mode and its -wal and -shm files with the
            # mode of the database file: created 0600 here first, all three are private.
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
            os.close(descriptor)
            self._connection = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise RuntimeStoreError(f"cannot open the runtime store {path}: {exc}") from exc
        self._lock = threading.RLock()
        connection = self._connection
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise store_error(path, exc) from exc
        if mode != "wal":
            raise RuntimeStoreError(f"cannot put {path} in WAL mode (got {mode!r})")
        # NORMAL is durable across process crashes in WAL mode; only power loss can drop the
        # last commits, never corrupt the file.
        connection.execute("PRAGMA synchronous = NORMAL")
        with self.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            # Columns added during schema 1's development: stores made before them gain them here.
            columns = {info[1] for info in conn.execute("PRAGMA table_info(installs)")}
            for name, default in (("governance", "'{}'"), ("parts", "'[]'")):
                if name not in columns:
                    conn.execute(
                        f"ALTER TABLE installs ADD COLUMN {name} TEXT NOT NULL DEFAULT {default}"
                    )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise RuntimeStoreError(
                    f"{path} has runtime schema {row[0]}, this memstore reads {SCHEMA_VERSION}"
                )

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (a deferred transaction)."""
        with self._lock:
            connection = self._connection
            try:
                connection.execute("BEGIN")
                try:
                    yield connection
                finally:
                    connection.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if _is_disk_error(exc):
                    raise store_error(self.path, exc) from exc
                raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on success and rolled back on any exception."""
        with self._lock:
            connection = self._connection
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise RuntimeStoreError(f"the runtime store is busy ({exc}); try again") from exc
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and _is_disk_error(exc):
                    raise store_error(self.path, exc) from exc
                raise

    def query(self, sql: str, parameters: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """Run one read statement (autocommit) and return every row."""
        with self._lock:
            try:
                return self._connection.execute(sql, parameters).fetchall()
            except sqlite3.OperationalError as exc:
                if _is_disk_error(exc):
                    raise store_error(self.path, exc) from exc
                raise

    def changed_items(self, columns: str, after: int, upto: int) -> list[sqlite3.Row]:
        """``columns`` of every item changed after change ``after`` up to ``upto`` (``seq`` in
        ``versions``), for an index that follows the changes; ``after`` 0: of every item."""
        if after == 0:
            return self.query(f"SELECT {columns} FROM items")  # noqa: S608
        return self.query(
            f"SELECT {columns} FROM items WHERE id IN "  # noqa: S608
            "(SELECT DISTINCT item_id FROM versions WHERE seq > ? AND seq <= ?)",
            [after, upto],
        )

    def audit(
        self,
        connection: sqlite3.Connection,
        principal: str,
        action: str,
        *,
        cube: str | None = None,
        target: str | None = None,
        outcome: str = "ok",
        detail: str = "",
    ) -> None:
        """Append one audit entry inside the caller's transaction."""
        connection.execute(
            "INSERT INTO audit (at, principal, action, cube, target, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (to_rfc3339(utc_now()), principal, action, cube, target, outcome, detail),
        )


#: Values bound per ``IN (...)`` list: well under SQLite's limit on host parameters.
IN_CHUNK = 500


def in_chunks(values: Sequence[_T]) -> Iterator[tuple[Sequence[_T], str]]:
    """``values`` in slices of :data:`IN_CHUNK`, each with its ``?, ?, ...`` placeholders."""
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def item_from_row(row: sqlite3.Row) -> MemoryItem:
    """Build a :class:`MemoryItem` from an ``items`` row."""
    return MemoryItem(
        id=row["id"],
        cube=row["cube"],
        text=row["text"],
        tags=json.loads(row["tags"]),
        metadata=json.loads(row["metadata"]),
        state=State(row["state"]),
        version=row["version"],
        created=row["created"],
        updated=row["updated"],
        access_count=row["access_count"],
        last_access=row["last_access"],
        expires_at=row["expires_at"],
        source_id=row["source_id"],
        extra=json.loads(row["extra"]),
    )


def version_from_row(row: sqlite3.Row) -> VersionRecord:
    """Build a :class:`VersionRecord` from a ``versions`` row."""
    return VersionRecord(
        seq=row["seq"],
        item_id=row["item_id"],
        cube=row["cube"],
        version=row["version"],
        op=row["op"],
        state=State(row["state"]),
        text=row["text"],
        tags=json.loads(row["tags"]),
        metadata=json.loads(row["metadata"]),
        at=row["at"],
        principal=row["principal"],
    )
