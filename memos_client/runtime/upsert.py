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

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import UsageError
from memos_client.runtime.context import cube_name, ensure_cube
from memos_client.runtime.memory_types import JsonFields, State, to_rfc3339, utc_now
from memos_client.runtime.record_checks import Record, validate_records
from memos_client.runtime.record_writes import (
    cube_writer,
    records_by_id,
    texts_to_embed,
    wanted_state,
)
from memos_client.runtime.store.database import dumps, in_chunks

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext


class UpsertReport(msgspec.Struct, JsonFields):
    """What an upsert did (or, for a dry run, would do): record ids by outcome."""

    cube: str
    added: list[str] = msgspec.field(default_factory=list)
    changed: list[str] = msgspec.field(default_factory=list)
    unchanged: list[str] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)
    dry_run: bool = False


def _differs(row: Mapping[str, Any], record: Record) -> bool:
    state = wanted_state(record, row)
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
    for chunk, marks in in_chunks(ids):
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
    by_id = records_by_id(valid)
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
    _, new_texts = texts_to_embed(context, name, by_id.values())
    if new_texts:
        context.engines.cache.vectors(new_texts)
    now = to_rfc3339(utc_now())
    with context.store.write() as connection:
        writer = cube_writer(connection, context.principal, name, op=op, at=now)
        current = _rows(connection, name, list(by_id), scope)
        _classify(report, by_id, current)
        changed = set(report.changed)
        for source_id, record in by_id.items():
            row = current.get(source_id)
            if row is None:
                writer.insert(record, source_id)
            elif source_id in changed:
                writer.change(row, record)
        for source_id in report.removed:
            writer.delete(current[source_id])
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
