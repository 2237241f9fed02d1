"""Upserts: records with stable ids written into a cube in one transaction (documents, imports).

A record's item id is ``<cube>#<record id>`` (as for installed cubes), so the same file added to
two cubes, or imported twice into one, never collides: a second write of the same id updates the
memory (a new version when something changed, nothing when not). With a ``scope`` -- a metadata
path and value naming what a set of records replaces, such as the chunks of one document file --
the memories of that scope that are not in the new set become Deleted tombstones. So re-adding a
changed document replaces only the chunks that changed. ``dry_run`` answers the same report
without writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import UsageError
from memos_client.runtime.context import cube_name, ensure_cube
from memos_client.runtime.lifecycle import policy_for
from memos_client.runtime.memory_types import INDEXED_STATES, State, to_rfc3339, utc_now
from memos_client.runtime.record_checks import Record, content_id, validate_records
from memos_client.runtime.store.database import dumps, text_digest
from memos_client.runtime.store.indexed_text import embedding_text
from memos_client.runtime.store.items import change_item, insert_item

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext


class UpsertReport(msgspec.Struct):
    """What an upsert did (or, for a dry run, would do): record ids by outcome."""

    cube: str
    added: list[str] = msgspec.field(default_factory=list)
    changed: list[str] = msgspec.field(default_factory=list)
    unchanged: list[str] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ids too)."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


def _wanted_state(record: Record, row: Mapping[str, Any] | None) -> State | None:
    """The state the item should end in (None: leave it as it is)."""
    if record.state is not None:
        return State(record.state)
    if row is not None and State(row["state"]) not in INDEXED_STATES:
        return State.GENERATED  # a deleted or expired memory written again comes back
    return None


def _differs(row: Mapping[str, Any], record: Record) -> bool:
    state = _wanted_state(record, row)
    return (
        row["text"] != record.text
        or row["tags"] != dumps(record.tags)
        or row["metadata"] != dumps(record.metadata)
        or row["extra"] != dumps(record.extra)
        or (state is not None and str(state) != row["state"])
    )


def _rows(
    connection: Any, cube: str, ids: list[str], scope: tuple[str, Any] | None
) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in connection.execute(
            f"SELECT rowid, * FROM items WHERE cube = ? AND source_id IN ({marks})",  # noqa: S608
            [cube, *chunk],
        ):
            rows[row["source_id"]] = row
    if scope is not None:
        for row in connection.execute(
            "SELECT rowid, * FROM items WHERE cube = ? AND state != 'deleted' "
            "AND json_extract(metadata, ?) = ?",
            (cube, scope[0], scope[1]),
        ):
            rows.setdefault(row["source_id"], row)
    return rows


def upsert_records(
    context: RuntimeContext,
    records: Iterable[Mapping[str, Any]],
    *,
    cube: str,
    scope: tuple[str, Any] | None = None,
    op: str = "upsert",
    dry_run: bool = False,
) -> UpsertReport:
    """See :meth:`MemOS.upsert`."""
    name = cube_name(cube)
    if scope is not None and not (isinstance(scope[0], str) and scope[0].startswith("$.")):
        raise UsageError(f"scope path {scope[0]!r} must be a JSON path like '$.source'")
    valid = validate_records([dict(r) if isinstance(r, Mapping) else r for r in records])
    by_id: dict[str, Record] = {}
    for record in valid:
        source_id = record.source_id or content_id(record.text)
        if source_id in by_id:
            raise UsageError(f"two records resolve to the id {source_id!r}")
        by_id[source_id] = record
    exists = bool(context.store.query("SELECT 1 FROM cubes WHERE name = ?", [name]))
    if exists:
        context.governor.require(context.principal, name, "write", op)
    report = UpsertReport(cube=name, dry_run=dry_run)
    if dry_run:
        with context.store.read() as connection:
            current = _rows(connection, name, list(by_id), scope) if exists else {}
        _classify(report, by_id, current)
        return report
    if not exists:
        ensure_cube(context, name, op)
    known = {
        row[0]
        for row in context.store.query("SELECT text_digest FROM items WHERE cube = ?", [name])
    }
    texts = [embedding_text(r.text, r.metadata) for r in by_id.values()]
    new_texts = [text for text in texts if text_digest(text) not in known]
    if new_texts:
        context.engines.cache.vectors(new_texts)
    now = to_rfc3339(utc_now())
    with context.store.write() as connection:
        cube_row = connection.execute(
            "SELECT governance, lifecycle_policy FROM cubes WHERE name = ?", (name,)
        ).fetchone()
        policy = policy_for(json.loads(cube_row[0]), json.loads(cube_row[1]))
        current = _rows(connection, name, list(by_id), scope)
        _classify(report, by_id, current)
        changed = set(report.changed)
        for source_id, record in by_id.items():
            row = current.get(source_id)
            created = record.created or now
            if row is None:
                item_id = f"{name}#{source_id}"
                if connection.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone():
                    raise UsageError(f"memory id {item_id!r} is already taken")
                insert_item(
                    connection,
                    item_id=item_id,
                    cube=name,
                    source_id=source_id,
                    text=record.text,
                    tags=record.tags,
                    metadata=record.metadata,
                    extra=record.extra,
                    principal=context.principal,
                    op=op,
                    state=State(record.state or State.GENERATED),
                    created=created,
                    expires_at=policy.expiry_for(created, record.metadata),
                    at=now,
                )
            elif source_id in changed:
                change_item(
                    connection,
                    row,
                    principal=context.principal,
                    op=op,
                    text=record.text,
                    tags=record.tags,
                    metadata=record.metadata,
                    extra=record.extra,
                    state=_wanted_state(record, row),
                    at=now,
                )
        for source_id in report.removed:
            change_item(
                connection, current[source_id], principal=context.principal, op=op,
                state=State.DELETED, at=now,
            )  # fmt: skip
        context.store.audit(
            connection,
            context.principal,
            op,
            cube=name,
            detail=(
                f"{len(report.added)} added, {len(report.changed)} changed, "
                f"{len(report.removed)} removed"
            ),
        )
    return report


def _classify(report: UpsertReport, by_id: dict[str, Record], current: dict[str, Any]) -> None:
    changed: set[str] = set()
    for source_id, record in by_id.items():
        row = current.get(source_id)
        if row is None:
            report.added.append(source_id)
        elif _differs(row, record):
            report.changed.append(source_id)
            changed.add(source_id)
        else:
            report.unchanged.append(source_id)
    report.removed = [
        source_id
        for source_id, row in current.items()
        if source_id not in by_id and row["state"] != State.DELETED
    ]
    report.changed = [source_id for source_id in by_id if source_id in changed]
