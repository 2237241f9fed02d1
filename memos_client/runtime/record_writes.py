"""Validated records into items inside a write transaction: what add, upsert and install share.

A record written under a stable id is the item ``<cube>#<record id>`` (:meth:`CubeWriter.insert`),
so two cubes may use the same record ids. Written again, a record changes that item: a new version
when something differs, and without a state of its own a deleted or expired memory comes back as
generated (:func:`wanted_state`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import UsageError
from memos_client.runtime.lifecycle import LifecyclePolicy, cube_policy
from memos_client.runtime.memory_types import INDEXED_STATES, State
from memos_client.runtime.record_checks import Record, content_id
from memos_client.runtime.store.database import text_digest
from memos_client.runtime.store.indexed_text import embedding_text
from memos_client.runtime.store.items import KEEP, change_item, insert_item

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext


def records_by_id(records: Iterable[Record], where: str = "") -> dict[str, Record]:
    """Records by their id (one derived from the text for a record without); two records with
    one id are a :class:`UsageError` (``where`` prefixes its message)."""
    by_id: dict[str, Record] = {}
    for record in records:
        source_id = record.source_id or content_id(record.text)
        if source_id in by_id:
            raise UsageError(f"{where}two records resolve to the id {source_id!r}")
        by_id[source_id] = record
    return by_id


def texts_to_embed(
    context: RuntimeContext, cube: str, records: Iterable[Record]
) -> tuple[int, list[str]]:
    """``(how many texts the cube already has, the new ones)`` of the records' embedding texts.

    Only new texts are embedded before a write: those the cube already had (a reinstall, an
    upgrade's unchanged records) were embedded when they arrived, and the vector index embeds
    any it still lacks (after a change of embedder) on the first search.
    """
    known = {
        row[0]
        for row in context.store.query("SELECT text_digest FROM items WHERE cube = ?", [cube])
    }
    texts = [embedding_text(record.text, record.metadata) for record in records]
    new_texts = [text for text in texts if text_digest(text) not in known]
    return len(texts) - len(new_texts), new_texts


def wanted_state(record: Record, row: sqlite3.Row | Mapping[str, Any] | None) -> State | None:
    """The state a record written over ``row`` leaves its item in (None: as it is).

    A record's own state (MIP-1 §7.1) is applied; without one, a live memory keeps the state the
    lifecycle gave it and a deleted or expired one comes back as generated.
    """
    if record.state is not None:
        return State(record.state)
    if row is not None and State(row["state"]) not in INDEXED_STATES:
        return State.GENERATED
    return None


class CubeWriter(msgspec.Struct, frozen=True):
    """Writes records into one cube inside the caller's write transaction: one principal, one
    operation, one time for every change (a point in time never falls inside a batch), and the
    cube's lifecycle policy for expiry. Made by :func:`cube_writer`."""

    connection: sqlite3.Connection
    principal: str
    cube: str
    op: str
    at: str
    policy: LifecyclePolicy

    def expiry(self, record: Record) -> str | None:
        """When the item of ``record`` expires under the cube's policy and its own metadata."""
        return self.policy.expiry_for(record.created or self.at, record.metadata)

    def insert(
        self,
        record: Record,
        source_id: str,
        *,
        item_id: str | None = None,
        state: State | None = None,
        where: str = "",
    ) -> None:
        """Insert ``record`` as a new item in ``state`` (by default the record's own, else
        generated). ``item_id`` defaults to ``<cube>#<source_id>``, which must be free (else a
        :class:`UsageError`, its message prefixed with ``where``)."""
        if item_id is None:
            item_id = f"{self.cube}#{source_id}"
            if self.connection.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone():
                raise UsageError(f"{where}memory id {item_id!r} is already taken")
        insert_item(
            self.connection,
            item_id=item_id,
            cube=self.cube,
            source_id=source_id,
            principal=self.principal,
            op=self.op,
            state=state or State(record.state or State.GENERATED),
            created=record.created or self.at,
            expires_at=self.expiry(record),
            at=self.at,
            **_content(record),
        )

    def change(self, row: sqlite3.Row, record: Record, *, expires_at: str | None = KEEP) -> None:
        """Write ``record`` over the item in ``row`` (a new version when anything differs)."""
        change_item(
            self.connection,
            row,
            principal=self.principal,
            op=self.op,
            state=wanted_state(record, row),
            expires_at=expires_at,
            at=self.at,
            **_content(record),
        )

    def delete(self, row: sqlite3.Row) -> bool:
        """Make the item in ``row`` a Deleted tombstone (False: it was one already)."""
        return change_item(
            self.connection,
            row,
            principal=self.principal,
            op=self.op,
            state=State.DELETED,
            at=self.at,
        )


#: The item columns a record's content fills.
_CONTENT = ("text", "tags", "metadata", "extra")


def _content(record: Record) -> dict[str, Any]:
    return {column: getattr(record, column) for column in _CONTENT}


def cube_writer(
    connection: sqlite3.Connection, principal: str, cube: str, *, op: str, at: str
) -> CubeWriter:
    """A :class:`CubeWriter` with the cube's policy as the transaction sees it."""
    return CubeWriter(connection, principal, cube, op, at, cube_policy(connection, cube))
