"""MemLifecycle: per-cube policies and the ``tick`` that moves items between states.

States: Generated → Activated (used often enough) → back to Generated (cold: not used for
``demote_after_idle_seconds``) or Archived (idle too long) → Expired (past TTL or
``expires_at``), and Deleted tombstones. A use is a memory placed in a prompt (``plan``,
``generate``) or returned to an agent (``search``, ``get``) — not every candidate a search looked
at. A cube's policy merges its governance (the
manifest's ``ttl_seconds``/``expires_at``) with local settings (``set_policy``); local settings
win. Every transition is a new version (op ``lifecycle``). Archived items leave default retrieval
and come back with :meth:`Lifecycle.restore`; expired items are never returned (search also
checks ``expires_at`` itself, so an item is hidden the moment it expires, tick or not).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime.memory_types import JsonFields, State, from_rfc3339, to_rfc3339, utc_now
from memos_client.runtime.store.items import change_item
from memos_client.runtime.transitions import set_state

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext


class LifecyclePolicy(msgspec.Struct, frozen=True):
    """How a cube's items age. ``None`` switches a rule off."""

    ttl_seconds: int | None = None
    expires_at: str | None = None
    archive_after_idle_seconds: int | None = 90 * 24 * 3600
    promote_after_accesses: int | None = 3
    demote_after_idle_seconds: int | None = 7 * 24 * 3600

    def expiry_for(self, created: str, metadata: dict[str, Any]) -> str | None:
        """When an item created at ``created`` expires: the earliest of every rule that applies.

        An item's own ``metadata.ttl_seconds``/``metadata.expires_at`` (MIP record governance)
        count as well as the cube's.
        """
        candidates: list[datetime] = []
        born = from_rfc3339(created)
        for ttl in (self.ttl_seconds, metadata.get("ttl_seconds")):
            if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > 0:
                candidates.append(born + timedelta(seconds=ttl))
        for moment in (self.expires_at, metadata.get("expires_at")):
            if isinstance(moment, str):
                try:
                    candidates.append(from_rfc3339(moment))
                except ValueError:
                    continue
        return to_rfc3339(min(candidates)) if candidates else None


def policy_for(governance: dict[str, Any], local: dict[str, Any]) -> LifecyclePolicy:
    """The effective policy: governance defaults, overridden by local settings."""
    values: dict[str, Any] = {}
    if governance.get("ttl_seconds") is not None:
        values["ttl_seconds"] = governance["ttl_seconds"]
    if governance.get("expires_at") is not None:
        expires = governance["expires_at"]
        values["expires_at"] = expires if isinstance(expires, str) else to_rfc3339(expires)
    values.update(local)
    return LifecyclePolicy(**values)


def cube_policy(connection: sqlite3.Connection, cube: str) -> LifecyclePolicy:
    """The effective policy of ``cube`` as stored, read inside the caller's transaction."""
    row = connection.execute(
        "SELECT governance, lifecycle_policy FROM cubes WHERE name = ?", (cube,)
    ).fetchone()
    return policy_for(json.loads(row[0]), json.loads(row[1]))


class TickReport(msgspec.Struct, JsonFields):
    """What one tick did: item ids per transition."""

    now: str
    expired: list[str] = msgspec.field(default_factory=list)
    activated: list[str] = msgspec.field(default_factory=list)
    archived: list[str] = msgspec.field(default_factory=list)
    demoted: list[str] = msgspec.field(default_factory=list)
    dry_run: bool = False


class Lifecycle:
    """The lifecycle operations of one runtime, as its acting principal."""

    def __init__(self, context: RuntimeContext) -> None:
        self._context = context

    def _known(self, cube: str) -> None:
        if not self._context.store.query("SELECT 1 FROM cubes WHERE name = ?", [cube]):
            raise NotFoundError(f"no cube named {cube!r}; see `memos list`", code="unknown_cube")

    def policy(self, cube: str) -> LifecyclePolicy:
        """The effective policy of a cube."""
        context = self._context
        self._known(cube)
        governance = context.governor.require(context.principal, cube, "read", "lifecycle.policy")
        rows = context.store.query("SELECT lifecycle_policy FROM cubes WHERE name = ?", [cube])
        return policy_for(governance, json.loads(rows[0][0]))

    def set_policy(self, cube: str, **settings: int | str | None) -> LifecyclePolicy:
        """Set local policy values for a cube (``ttl_seconds``, ``archive_after_idle_seconds``,
        ``promote_after_accesses``, ``demote_after_idle_seconds``, ``expires_at``); ``None``
        switches a rule off."""
        context = self._context
        known = set(LifecyclePolicy.__struct_fields__)
        unknown = sorted(set(settings) - known)
        if unknown:
            raise UsageError(f"unknown policy setting(s) {', '.join(unknown)}: use {sorted(known)}")
        for key, value in settings.items():
            if key == "expires_at":
                if value is not None and not isinstance(value, str):
                    raise UsageError("expires_at must be an RFC 3339 string")
                if isinstance(value, str):
                    from_rfc3339(value)
            elif value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise UsageError(f"{key} must be a positive integer or None")
        self._known(cube)
        context.governor.require(context.principal, cube, "write", "lifecycle.set_policy")
        with context.store.write() as connection:
            row = connection.execute(
                "SELECT lifecycle_policy FROM cubes WHERE name = ?", (cube,)
            ).fetchone()
            local = json.loads(row[0])
            local.update(settings)
            connection.execute(
                "UPDATE cubes SET lifecycle_policy = ? WHERE name = ?", (json.dumps(local), cube)
            )
            context.store.audit(
                connection,
                context.principal,
                "lifecycle.set_policy",
                cube=cube,
                detail=json.dumps(settings),
            )
        return self.policy(cube)

    def tick(self, now: datetime | None = None, *, dry_run: bool = False) -> TickReport:
        """Apply every cube's policy at ``now`` (default: the current time) to the cubes the
        acting principal may write; each transition is a new version. ``dry_run`` reports the
        transitions without making them (nothing is written)."""
        context = self._context
        moment = now or utc_now()
        if moment.tzinfo is None:
            raise UsageError("tick(now=...) needs a timezone-aware datetime")
        stamp = to_rfc3339(moment)
        report = TickReport(now=stamp, dry_run=dry_run)
        cubes = context.governor.cubes_allowing(context.principal, "write")
        if dry_run:
            with context.store.read() as connection:
                for cube in sorted(cubes):
                    self._tick_cube(connection, cube, moment, report)
            return report
        with context.store.write() as connection:
            for cube in sorted(cubes):
                self._tick_cube(connection, cube, moment, report)
            counts = {
                key: len(value)
                for key, value in report.to_json().items()
                if isinstance(value, list)
            }
            context.store.audit(
                connection, context.principal, "lifecycle.tick", detail=json.dumps(counts)
            )
        return report

    def _tick_cube(
        self, connection: sqlite3.Connection, cube: str, moment: datetime, report: TickReport
    ) -> None:
        context = self._context
        policy = cube_policy(connection, cube)
        stamp = to_rfc3339(moment)
        rows = connection.execute(
            "SELECT rowid, * FROM items WHERE cube = ? AND state IN (?, ?, ?)",
            (cube, str(State.GENERATED), str(State.ACTIVATED), str(State.ARCHIVED)),
        ).fetchall()
        for row in rows:
            expiry = policy.expiry_for(row["created"], json.loads(row["metadata"]))
            target: State | None = None
            if expiry is not None and expiry <= stamp:
                target, bucket = State.EXPIRED, report.expired
            elif row["state"] == State.ARCHIVED:
                continue
            elif policy.archive_after_idle_seconds is not None and moment - from_rfc3339(
                max(row["last_access"] or "", row["updated"])
            ) >= timedelta(seconds=policy.archive_after_idle_seconds):
                target, bucket = State.ARCHIVED, report.archived
            elif (
                row["state"] == State.ACTIVATED
                and policy.demote_after_idle_seconds is not None
                and moment - from_rfc3339(max(row["last_access"] or "", row["updated"]))
                >= timedelta(seconds=policy.demote_after_idle_seconds)
            ):
                target, bucket = State.GENERATED, report.demoted
            elif (
                row["state"] == State.GENERATED
                and policy.promote_after_accesses is not None
                and row["access_count"] >= policy.promote_after_accesses
            ):
                target, bucket = State.ACTIVATED, report.activated
            if target is None:
                continue
            bucket.append(row["id"])
            if report.dry_run:
                continue
            change_item(
                connection,
                row,
                principal=context.principal,
                op="lifecycle",
                state=target,
                expires_at=expiry,
            )
            if target == State.GENERATED:
                # The count says how often it was used since it last changed form: a demoted
                # memory is promoted again only after as many new uses.
                connection.execute("UPDATE items SET access_count = 0 WHERE id = ?", (row["id"],))

    def archive(self, item_id: str) -> int:
        """Move an item to Archived (out of default retrieval); returns its new version."""
        return set_state(
            self._context, item_id, State.ARCHIVED, "archive", {State.GENERATED, State.ACTIVATED}
        )

    def restore(self, item_id: str) -> int:
        """Bring an archived item back to Activated; returns its new version."""
        return set_state(self._context, item_id, State.ACTIVATED, "restore", {State.ARCHIVED})
