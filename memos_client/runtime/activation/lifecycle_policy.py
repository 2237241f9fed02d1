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

*The lifecycle runs itself*: :func:`maintain` — what ``memos generate`` calls before planning,
and the hook ``memos serve`` calls on a schedule — runs the tick when the last one is older than
an interval, and rebuilds a cube's stale or missing hot snapshot when the prefill it costs is
within a compute budget (tokens); a rebuild over the budget is reported, not done.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.runtime.activation.local_parts import activate, cube_parts, remove_part
from memos_client.runtime.activation.model_adapter import TransformersCausalLM
from memos_client.runtime.memory_types import JsonFields
from memos_client.runtime.prompt_tokens import render_segment

if TYPE_CHECKING:
    from memos_client.runtime.memos import MemOS

HOT_SNAPSHOT = "hot"


class ActivationPolicy(msgspec.Struct, frozen=True):
    """When snapshots are built and dropped."""

    drop_after_idle_seconds: int = 7 * 24 * 3600


#: The default policy (a frozen Struct: one shared instance is safe as an argument default).
_DEFAULT_POLICY = ActivationPolicy()


class ActivationTickReport(msgspec.Struct, JsonFields):
    """What one tick did to memories (the lifecycle's report) and to snapshots."""

    lifecycle: dict[str, Any]
    promoted: list[str] = msgspec.field(default_factory=list)
    dropped: list[str] = msgspec.field(default_factory=list)
    deferred: list[str] = msgspec.field(default_factory=list)


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
    *,
    dry_run: bool = False,
    max_tokens: int | None = None,
) -> ActivationTickReport:
    """Run the lifecycle tick, then promote hot memories to a snapshot and drop old snapshots.

    ``dry_run`` writes nothing: the lifecycle's transitions are reported, and the snapshots that
    would be dropped or built given the memories' current states. ``max_tokens`` bounds the
    prefill of one hot snapshot build (over it: reported in ``deferred``, not built).
    """
    from memos_client.runtime.memory_types import utc_now

    moment = now or utc_now()
    report = ActivationTickReport(lifecycle=memos.lifecycle.tick(moment, dry_run=dry_run).to_json())
    for cube in sorted(memos.governor.cubes_allowing(memos.principal, "write")):
        _tick_cube(memos, model, cube, moment, policy, report, dry_run, max_tokens)
    return report


def _tick_cube(
    memos: MemOS,
    model: TransformersCausalLM,
    cube: str,
    moment: datetime,
    policy: ActivationPolicy,
    report: ActivationTickReport,
    dry_run: bool,
    max_tokens: int | None,
) -> None:
    from memos_client.runtime.memory_types import to_rfc3339

    rows = memos.store.query(
        "SELECT source_id, id, version, state, text FROM items WHERE cube = ? AND state IN "
        "('generated', 'activated')",
        [cube],
    )
    live = {row["source_id"] or row["id"]: row["version"] for row in rows}
    hot = {
        row["source_id"] or row["id"]: row["version"] for row in rows if row["state"] == "activated"
    }
    prefix = "would drop " if dry_run else ""
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
        if reason is None:
            continue
        if not dry_run:
            Path(part["path"]).unlink(missing_ok=True)
            remove_part(memos, cube, part["name"])
        report.dropped.append(f"{prefix}{cube}:{part['name']} ({reason})")
    names = {part["name"] for part in cube_parts(memos, cube, "activation")}
    if dry_run and any(
        line.startswith(f"{prefix}{cube}:{HOT_SNAPSHOT} ") for line in report.dropped
    ):
        names.discard(HOT_SNAPSHOT)
    if not hot or HOT_SNAPSHOT in names:
        return
    if max_tokens is not None:
        texts = [row["text"] for row in rows if row["state"] == "activated"]
        needed = len(model.encode(render_segment(texts)))
        if needed > max_tokens:
            report.deferred.append(
                f"{cube}:{HOT_SNAPSHOT}: rebuilding costs a {needed}-token prefill, over the "
                f"compute budget of {max_tokens}; `memos lifecycle tick --model` builds it"
            )
            return
    if dry_run:
        report.promoted.append(f"would build {cube}:{HOT_SNAPSHOT} ({len(hot)} memories)")
        return
    built = activate(
        model, HOT_SNAPSHOT, memos=memos, cube=cube, only_activated=True, built=to_rfc3339(moment)
    )
    report.promoted.append(f"{cube}:{HOT_SNAPSHOT} ({built.how})")


#: ``meta`` key holding when :func:`maintain` last ran the lifecycle tick.
_LAST_TICK = "lifecycle.last_tick"


def maintain(
    memos: MemOS,
    model: TransformersCausalLM,
    *,
    max_tokens: int,
    tick_interval_seconds: int = 600,
    now: datetime | None = None,
) -> ActivationTickReport | None:
    """The lifecycle's own clock: tick (transitions, then snapshots) when the last tick is older
    than ``tick_interval_seconds``, hot snapshot rebuilds bounded by ``max_tokens`` of prefill.

    ``memos generate`` calls this before planning; ``memos serve`` can call it on a schedule.
    Returns the report, or ``None`` when it was not time yet.
    """
    from memos_client.runtime.memory_types import from_rfc3339, to_rfc3339, utc_now

    moment = now or utc_now()
    rows = memos.store.query("SELECT value FROM meta WHERE key = ?", [_LAST_TICK])
    if rows:
        try:
            last = from_rfc3339(rows[0][0])
        except ValueError:
            last = None
        if last is not None and moment - last < timedelta(seconds=tick_interval_seconds):
            return None
    with memos.store.write() as connection:
        connection.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (_LAST_TICK, to_rfc3339(moment)),
        )
    return tick_activation(memos, model, moment, max_tokens=max_tokens)
