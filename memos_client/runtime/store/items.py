"""Item writes inside a transaction: insert, change, and the bookkeeping every change needs.

Each function takes the open write connection, so a caller composes many changes into one
transaction. Every change bumps the item's version, appends the new state to ``versions`` and
keeps the FTS5 index in step (an item is in the lexical index exactly while its state is one of
:data:`INDEXED_STATES`). The vector index follows ``versions`` on its own (``vector_index``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from memos_client.runtime.memory_types import INDEXED_STATES, State, to_rfc3339, utc_now
from memos_client.runtime.store.database import dumps, text_digest
from memos_client.runtime.store.indexed_text import embedding_text, search_text


def _append_version(
    connection: sqlite3.Connection, row: dict[str, Any], op: str, principal: str, at: str
) -> None:
    connection.execute(
        "INSERT INTO versions (item_id, cube, version, op, state, text, tags, metadata, extra, "
        "expires_at, at, principal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["id"],
            row["cube"],
            row["version"],
            op,
            row["state"],
            row["text"],
            row["tags"],
            row["metadata"],
            row["extra"],
            row["expires_at"],
            at,
            principal,
        ),
    )


def insert_item(
    connection: sqlite3.Connection,
    *,
    item_id: str,
    cube: str,
    source_id: str,
    text: str,
    tags: list[str],
    metadata: dict[str, Any],
    extra: dict[str, Any],
    principal: str,
    op: str = "add",
    state: State = State.GENERATED,
    created: str | None = None,
    expires_at: str | None = None,
    at: str | None = None,
) -> int:
    """Insert a new item at version 1 and return its rowid (its label in every index).

    ``at`` is the time of the change; a batch passes one time for all its items, so a point in
    time never falls inside a batch.
    """
    now = at or to_rfc3339(utc_now())
    row: dict[str, Any] = {
        "id": item_id,
        "cube": cube,
        "source_id": source_id,
        "text": text,
        "search_text": search_text(text, tags, metadata),
        "tags": dumps(tags),
        "metadata": dumps(metadata),
        "extra": dumps(extra),
        "state": str(state),
        "version": 1,
        "created": created or now,
        "updated": now,
        "text_digest": text_digest(embedding_text(text, metadata)),
        "expires_at": expires_at,
    }
    cursor = connection.execute(
        "INSERT INTO items (id, cube, source_id, text, search_text, tags, metadata, extra, state, "
        "version, created, updated, text_digest, expires_at) "
        "VALUES (:id, :cube, :source_id, :text, :search_text, :tags, :metadata, :extra, :state, "
        ":version, :created, :updated, :text_digest, :expires_at)",
        row,
    )
    rowid = int(cursor.lastrowid or 0)
    if state in INDEXED_STATES:
        connection.execute(
            "INSERT INTO items_fts (rowid, search_text) VALUES (?, ?)", (rowid, row["search_text"])
        )
    _append_version(connection, row, op, principal, now)
    return rowid


#: ``change_item(expires_at=KEEP)``: leave the expiry as it is (``None`` clears it).
KEEP: Any = object()


def change_item(
    connection: sqlite3.Connection,
    current: sqlite3.Row,
    *,
    principal: str,
    op: str,
    text: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    state: State | None = None,
    expires_at: str | None = KEEP,
    at: str | None = None,
) -> bool:
    """Apply a change to the item in ``current`` (an ``items`` row); False when nothing changed."""
    row = dict(current)
    if text is not None:
        row["text"] = text
    for column, value in (("tags", tags), ("metadata", metadata), ("extra", extra)):
        if value is not None:
            row[column] = dumps(value)  # the JSON columns
    if state is not None:
        row["state"] = str(state)
    if expires_at is not KEEP:
        row["expires_at"] = expires_at
    fields = ("text", "tags", "metadata", "extra", "state", "expires_at")
    if all(row[name] == current[name] for name in fields):
        return False
    new_metadata = json.loads(row["metadata"])
    row["search_text"] = search_text(row["text"], json.loads(row["tags"]), new_metadata)
    row["text_digest"] = text_digest(embedding_text(row["text"], new_metadata))
    now = at or to_rfc3339(utc_now())
    row["version"] = current["version"] + 1
    row["updated"] = now
    was_indexed = State(current["state"]) in INDEXED_STATES
    is_indexed = State(row["state"]) in INDEXED_STATES
    if was_indexed and (not is_indexed or row["search_text"] != current["search_text"]):
        # External-content FTS5 deletes by giving back the exact text that was indexed.
        connection.execute(
            "INSERT INTO items_fts (items_fts, rowid, search_text) VALUES ('delete', ?, ?)",
            (current["rowid"], current["search_text"]),
        )
    connection.execute(
        "UPDATE items SET text = :text, search_text = :search_text, tags = :tags, "
        "metadata = :metadata, extra = :extra, state = :state, version = :version, "
        "updated = :updated, text_digest = :text_digest, expires_at = :expires_at "
        "WHERE rowid = :rowid",
        row,
    )
    if is_indexed and (not was_indexed or row["search_text"] != current["search_text"]):
        connection.execute(
            "INSERT INTO items_fts (rowid, search_text) VALUES (?, ?)",
            (current["rowid"], row["search_text"]),
        )
    _append_version(connection, row, op, principal, now)
    return True


def touch_items(connection: sqlite3.Connection, item_ids: list[str]) -> None:
    """Record one use of each item: access count + 1, last access = now (not a new version)."""
    if not item_ids:
        return
    now = to_rfc3339(utc_now())
    connection.executemany(
        "UPDATE items SET access_count = access_count + 1, last_access = ? WHERE id = ?",
        [(now, item_id) for item_id in item_ids],
    )
