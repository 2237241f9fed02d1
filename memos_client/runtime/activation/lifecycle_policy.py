"""The activation side of MemLifecycle: hot plaintext becomes a KV snapshot, old snapshots go.

:func:`tick_activation` runs the runtime's lifecycle tick (``MemOS.lifecycle.tick``: the one
engine that moves memories Generated → Activated when used often enough, → Archived when idle,
→ Expired) and then makes activation memory follow the states it produced, per writable cube:

- **promote**: the memories in state Activated get a locally built snapshot (named ``hot``),
  rebuilt whenever that set or one of its versions changes;
- **drop**: a locally built snapshot is deleted when it is stale (a source was archived,
  expired, deleted or changed); the hot one also when its memories are no longer the Activated
  set; any other (``memos activate``) when it has not been injected for
  ``drop_after_idle_seconds``.

Snapshots that came inside an installed bundle are never deleted here (they are the cube's
content); the scheduler skips them while stale.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.runtime.activation.local_parts import activate, cube_parts, remove_part
from memos_client.runtime.activation.model_adapter import TransformersCausalLM

if TYPE_CHECKING:
    from memos_client.runtime.memos import MemOS

HOT_SNAPSHOT = "hot"


class ActivationPolicy(msgspec.Struct, frozen=True):
    """When snapshots are built and dropped."""

    drop_after_idle_seconds: int = 7 * 24 * 3600


#: The default policy (a frozen Struct: one shared instance is safe as an argument default).
_DEFAULT_POLICY = ActivationPolicy()


class ActivationTickReport(msgspec.Struct):
    """What one tick did to memories (the lifecycle's report) and to snapshots."""

    lifecycle: dict[str, Any]
    promoted: list[str] = msgspec.field(default_factory=list)
    dropped: list[str] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return msgspec.structs.asdict(self)


def _parse(moment: str) -> datetime:
    from memos_client.runtime.memory_types import from_rfc3339

    return from_rfc3339(moment)


def mark_used(memos: MemOS, cube: str, name: str, now: datetime | None = None) -> None:
    """Record that a locally built snapshot was injected (its idle clock restarts)."""
    import json

    from memos_client.runtime.memory_types import to_rfc3339, utc_now

    stamp = to_rfc3339(now or utc_now())
    with memos.store.write() as connection:
        row = connection.execute(
            "SELECT info FROM cube_parts WHERE cube = ? AND name = ?", (cube, name)
        ).fetchone()
        if row is None:
            return
        info = json.loads(row[0])
        info["last_used"] = stamp
        connection.execute(
            "UPDATE cube_parts SET info = ? WHERE cube = ? AND name = ?",
            (json.dumps(info, sort_keys=True), cube, name),
        )


def tick_activation(
    memos: MemOS,
    model: TransformersCausalLM,
    now: datetime | None = None,
    policy: ActivationPolicy = _DEFAULT_POLICY,
) -> ActivationTickReport:
    """Run the lifecycle tick, then promote hot memories to a snapshot and drop old snapshots."""
    from memos_client.runtime.memory_types import to_rfc3339, utc_now

    moment = now or utc_now()
    report = ActivationTickReport(lifecycle=memos.lifecycle.tick(moment).to_json())
    for cube in sorted(memos.governor.writable_cubes(memos.principal)):
        rows = memos.store.query(
            "SELECT source_id, id, version, state FROM items WHERE cube = ? AND state IN "
            "('generated', 'activated')",
            [cube],
        )
        live = {row["source_id"] or row["id"]: row["version"] for row in rows}
        hot = {
            row["source_id"] or row["id"]: row["version"]
            for row in rows
            if row["state"] == "activated"
        }
        for part in cube_parts(memos, cube, "activation"):
            if part.get("origin") != "local":
                continue
            sources = {s["id"]: s["version"] for s in part.get("sources", [])}
            last = part.get("last_used") or part.get("built")
            reason = None
            if any(live.get(source) != version for source, version in sources.items()):
                reason = "stale"
            elif part["name"] == HOT_SNAPSHOT and (
                any(hot.get(source) != version for source, version in sources.items())
                or (part.get("complete") and hot.keys() - sources.keys())
            ):
                reason = "hot set changed"
            elif (
                part["name"] != HOT_SNAPSHOT
                and last
                and moment - _parse(last) >= timedelta(seconds=policy.drop_after_idle_seconds)
            ):
                # The hot snapshot follows its memories' states instead: it goes when they
                # leave Activated (archived when idle, expired, deleted).
                reason = "idle"
            if reason is not None:
                Path(part["path"]).unlink(missing_ok=True)
                remove_part(memos, cube, part["name"])
                report.dropped.append(f"{cube}:{part['name']} ({reason})")
        names = {part["name"] for part in cube_parts(memos, cube, "activation")}
        if hot and HOT_SNAPSHOT not in names:
            built = activate(
                model,
                HOT_SNAPSHOT,
                memos=memos,
                cube=cube,
                only_activated=True,
                built=to_rfc3339(moment),
            )
            report.promoted.append(f"{cube}:{HOT_SNAPSHOT} ({built.how})")
    return report
