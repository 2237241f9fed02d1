"""The time machine: history of items and cubes, rollback and diff between two points.

A *point* in a cube's history is a change sequence number (``versions.seq``), a timezone-aware
datetime, or the version string of an install of that cube. The state of a cube at a point is,
for each of its items, the latest version at or before it. Rollback writes that state back as
new versions (op ``rollback``); items that did not exist then become Deleted tombstones. Nothing
is ever removed from ``versions``, so a rollback can itself be rolled back -- except by a purge
(:mod:`memos_client.runtime.purge`), which erases a memory's text from every version; a rollback
leaves purged memories as they are.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime.context import cube_name
from memos_client.runtime.memory_types import (
    JsonFields,
    State,
    VersionRecord,
    from_rfc3339,
    to_rfc3339,
    utc_now,
)
from memos_client.runtime.store.database import version_from_row
from memos_client.runtime.store.indexed_text import embedding_text
from memos_client.runtime.store.items import change_item

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext

Point = int | str | datetime


class RollbackReport(msgspec.Struct, JsonFields):
    """What a rollback did."""

    cube: str
    target_seq: int
    restored: list[str] = msgspec.field(default_factory=list)
    deleted: list[str] = msgspec.field(default_factory=list)
    #: For an installed cube: the version installed at the target point.
    installed_version: str | None = None


class DiffEntry(msgspec.Struct):
    """One item that differs between two points (``None`` side: absent or not live there)."""

    item_id: str
    before: VersionRecord | None
    after: VersionRecord | None

    @property
    def change(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "item_id": self.item_id,
            "change": self.change,
            "before": self.before.to_json() if self.before else None,
            "after": self.after.to_json() if self.after else None,
        }


_LIVE = {str(State.GENERATED), str(State.ACTIVATED), str(State.ARCHIVED)}


def resolve_point(connection: sqlite3.Connection, cube: str, point: Point) -> int:
    """The change sequence number a point names, or a clear error."""
    first = connection.execute(
        "SELECT MIN(seq), MIN(at), MAX(seq) FROM versions WHERE cube = ?", (cube,)
    ).fetchone()
    if first[0] is None:
        raise NotFoundError(f"cube {cube!r} has no history", code="unknown_cube")
    if isinstance(point, bool):
        raise UsageError("a point is a change number, a datetime or an installed version")
    if isinstance(point, str) and point.lower() == "now":
        return int(first[2])
    if isinstance(point, str):
        installed = connection.execute(
            "SELECT MAX(change_seq) FROM installs WHERE cube = ? AND version = ?", (cube, point)
        ).fetchone()[0]
        if installed is not None:
            return int(installed)
        if point.isdigit():
            point = int(point)
        else:
            try:
                point = from_rfc3339(point)
            except ValueError as exc:
                raise UsageError(
                    f"{point!r} is not a change number, an RFC 3339 time or an installed "
                    f"version of {cube!r}"
                ) from exc
    if isinstance(point, datetime):
        if point.tzinfo is None:
            raise UsageError("a datetime point needs a time zone (e.g. 2026-01-01T00:00:00Z)")
        stamp = to_rfc3339(point)
        seq = connection.execute(
            "SELECT MAX(seq) FROM versions WHERE cube = ? AND at <= ?", (cube, stamp)
        ).fetchone()[0]
        if seq is None:
            raise UsageError(
                f"cube {cube!r} did not exist at {stamp}: its history starts at {first[1]}"
            )
        return int(seq)
    if point < first[0]:
        raise UsageError(
            f"cube {cube!r} did not exist at change {point}: "
            f"its history starts at change {first[0]}"
        )
    if point > first[2]:
        raise UsageError(f"change {point} is in the future of {cube!r} (latest is {first[2]})")
    return int(point)


def snapshot(connection: sqlite3.Connection, cube: str, seq: int) -> dict[str, sqlite3.Row]:
    """Each item of the cube as it was at change ``seq`` (its latest version at or before it)."""
    rows = connection.execute(
        "SELECT v.* FROM versions AS v JOIN (SELECT item_id, MAX(seq) AS top FROM versions "
        "WHERE cube = ? AND seq <= ? GROUP BY item_id) AS latest ON v.seq = latest.top",
        (cube, seq),
    ).fetchall()
    return {row["item_id"]: row for row in rows}


def rollback(connection: sqlite3.Connection, cube: str, seq: int, principal: str) -> RollbackReport:
    """Write the cube's state at ``seq`` back as new versions (inside the caller's transaction)."""
    report = RollbackReport(cube=cube, target_seq=seq)
    now = to_rfc3339(utc_now())
    past = snapshot(connection, cube, seq)
    current = connection.execute("SELECT rowid, * FROM items WHERE cube = ?", (cube,)).fetchall()
    purged = {
        r[0] for r in connection.execute("SELECT item_id FROM purges WHERE cube = ?", (cube,))
    }
    for row in current:
        if row["id"] in purged:
            continue  # a purged memory's text is gone for good: no rollback brings it back
        then = past.get(row["id"])
        if then is None:
            if change_item(
                connection, row, principal=principal, op="rollback", state=State.DELETED, at=now
            ):
                report.deleted.append(row["id"])
            continue
        changed = change_item(
            connection,
            row,
            principal=principal,
            op="rollback",
            text=then["text"],
            tags=json.loads(then["tags"]),
            metadata=json.loads(then["metadata"]),
            extra=json.loads(then["extra"]),
            state=State(then["state"]),
            expires_at=then["expires_at"],
            at=now,
        )
        if changed:
            (report.deleted if then["state"] == State.DELETED else report.restored).append(
                row["id"]
            )
    return report


def diff(connection: sqlite3.Connection, cube: str, before: int, after: int) -> list[DiffEntry]:
    """Items added, removed (deleted or expired) or changed between two change numbers."""
    old = {k: v for k, v in snapshot(connection, cube, before).items() if v["state"] in _LIVE}
    new = {k: v for k, v in snapshot(connection, cube, after).items() if v["state"] in _LIVE}
    entries: list[DiffEntry] = []
    for item_id in sorted(set(old) | set(new)):
        a, b = old.get(item_id), new.get(item_id)
        if (
            a is not None
            and b is not None
            and all(a[name] == b[name] for name in ("text", "tags", "metadata", "state"))
        ):
            continue
        entries.append(
            DiffEntry(
                item_id,
                version_from_row(a) if a is not None else None,
                version_from_row(b) if b is not None else None,
            )
        )
    return entries


def history(
    connection: sqlite3.Connection, *, item_id: str | None = None, cube: str | None = None
) -> list[VersionRecord]:
    """Every version of one item, or of every item of a cube, oldest first."""
    if item_id is not None:
        rows = connection.execute(
            "SELECT * FROM versions WHERE item_id = ? ORDER BY seq", (item_id,)
        ).fetchall()
    else:
        rows = connection.execute(
            "SELECT * FROM versions WHERE cube = ? ORDER BY seq", (cube,)
        ).fetchall()
    return [version_from_row(row) for row in rows]


# -- as one principal (what :class:`~memos_client.runtime.memos.MemOS` hands over) ----------


def history_of(context: RuntimeContext, target: str) -> list[VersionRecord]:
    """See :meth:`MemOS.history`."""
    store = context.store
    rows = store.query("SELECT cube FROM items WHERE id = ?", [target])
    if rows:
        context.governor.require(context.principal, rows[0][0], "read", "history")
        with store.read() as connection:
            versions = history(connection, item_id=target)
        _audit_read(context, "history", rows[0][0], target, f"{len(versions)} versions")
        return versions
    cube_rows = store.query("SELECT name FROM cubes WHERE name = ?", [target])
    if not cube_rows and "/" in target:
        cube_rows = store.query("SELECT name FROM cubes WHERE name = ?", [cube_name(target)])
    if not cube_rows:
        raise NotFoundError(f"no memory or cube named {target!r}", code="not_found")
    cube = cube_rows[0][0]
    context.governor.require(context.principal, cube, "read", "history")
    with store.read() as connection:
        versions = history(connection, cube=cube)
    _audit_read(context, "history", cube, None, f"{len(versions)} versions")
    return versions


def rollback_cube(context: RuntimeContext, cube: str, to: Point) -> RollbackReport:
    """See :meth:`MemOS.rollback`."""
    store = context.store
    name = cube_name(cube)
    context.governor.require(context.principal, name, "write", "rollback")
    texts = []
    with store.read() as connection:
        seq = resolve_point(connection, name, to)
        for row in snapshot(connection, name, seq).values():
            texts.append(embedding_text(row["text"], json.loads(row["metadata"])))
    context.engines.cache.vectors(texts)
    with store.write() as connection:
        seq = resolve_point(connection, name, to)
        report = rollback(connection, name, seq, context.principal)
        origin = connection.execute("SELECT origin FROM cubes WHERE name = ?", (name,)).fetchone()[
            0
        ]
        if origin != "local":
            from memos_client.runtime.cubes import restore_install_state

            report.installed_version = restore_install_state(connection, name, seq)
        store.audit(connection, context.principal, "rollback", cube=name, detail=f"to change {seq}")
    return report


def diff_cube(context: RuntimeContext, cube: str, before: Point, after: Point) -> list[DiffEntry]:
    """See :meth:`MemOS.diff`."""
    name = cube_name(cube)
    context.governor.require(context.principal, name, "read", "diff")
    with context.store.read() as connection:
        first = resolve_point(connection, name, before)
        second = resolve_point(connection, name, after)
        entries = diff(connection, name, first, second)
    _audit_read(context, "diff", name, None, f"changes {first}..{second}: {len(entries)} entries")
    return entries


def _audit_read(
    context: RuntimeContext, action: str, cube: str, target: str | None, detail: str
) -> None:
    with context.store.write() as connection:
        context.store.audit(
            connection, context.principal, action, cube=cube, target=target, detail=detail
        )
