"""Lifecycle commands: tick, policy, archive, restore (``memos lifecycle ...``).

Only the standard library and the CLI framework are imported here; the runtime is imported
inside each command so ``memos --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memos_client.cli.app import arg, flag, group
from memos_client.cli.runtime_store import (
    open_runtime,
    print_json,
    respond,
    respond_settings,
    runtime_command,
)

LIFECYCLE = group(
    "lifecycle", "MemLifecycle: apply policies, set them, archive and restore memories."
)


@runtime_command("tick", group=LIFECYCLE)
@arg("--now", help="Pretend it is this RFC 3339 time.")
@arg(
    "--model",
    type=Path,
    help="Also promote Activated memories to a KV snapshot for this local model and "
    "drop stale or idle snapshots (docs/activation-memory.md).",
)
@flag("--dry-run", help="Show what the tick would do; change nothing.")
def tick_command(
    now: str | None, model: Path | None, dry_run: bool, as_: str | None, json_output: bool
) -> None:
    """Apply lifecycle policies: expire, archive idle, demote cold and promote hot memories."""
    from memos_client.errors import UsageError
    from memos_client.runtime.memory_types import from_rfc3339

    moment = None
    if now is not None:
        try:
            moment = from_rfc3339(now)
        except ValueError as exc:
            raise UsageError(f"--now {now!r}: {exc}") from exc
    verb = "would be " if dry_run else ""
    if model is not None:
        from memos_client.runtime.activation.lifecycle_policy import tick_activation
        from memos_client.runtime.activation.model_adapter import load_model

        loaded = load_model(model)
        with open_runtime(principal=as_, warm=False) as mem:
            activation = tick_activation(mem, loaded, now=moment, dry_run=dry_run)
        if json_output:
            print_json(activation.to_json())
            return
        counts = activation.lifecycle
        print(
            f"{len(counts['expired'])} {verb}expired, {len(counts['archived'])} {verb}archived, "
            f"{len(counts['demoted'])} {verb}demoted, {len(counts['activated'])} {verb}activated;"
            f" snapshots: {len(activation.promoted)} {verb}built, "
            f"{len(activation.dropped)} {verb}dropped"
        )
        for line in activation.promoted + activation.dropped:
            print(f"  {line}")
        return
    with open_runtime(principal=as_, warm=False) as mem:
        report = mem.lifecycle.tick(now=moment, dry_run=dry_run)
    if json_output:
        print_json(report.to_json())
        return
    print(
        f"{len(report.expired)} {verb}expired, {len(report.archived)} {verb}archived, "
        f"{len(report.demoted)} {verb}demoted, {len(report.activated)} {verb}activated"
    )
    if dry_run:
        for name in ("expired", "archived", "demoted", "activated"):
            for item_id in getattr(report, name):
                print(f"  {item_id}: would be {name}")


def _duration(text: str) -> int | None:
    """Seconds from ``N``, ``Ns``, ``Nm``, ``Nh`` or ``Nd``; ``off`` switches a rule off."""
    from memos_client.errors import UsageError

    if text.strip().lower() == "off":
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    if not number.isdigit() or int(number) < 1:
        raise UsageError(f"{text!r} is not a duration: use e.g. 3600, 90m, 12h, 30d, or off")
    return int(number) * units[unit]


def _count(text: str) -> int | None:
    from memos_client.errors import UsageError

    if text.strip().lower() == "off":
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{text!r} is not a count: use a positive whole number, or off")
    return int(text)


@runtime_command("policy", group=LIFECYCLE)
@arg("cube", help="The cube.")
@arg("--ttl", metavar="DURATION", help="Expire memories this long after creation (or off).")
@arg("--idle", metavar="DURATION", help="Archive memories unused this long (or off).")
@arg("--promote-after", metavar="N", help="Promote to Activated after N uses (or off).")
@arg("--demote-after", metavar="DURATION", help="Demote Activated memories unused this long.")
def policy_command(
    cube: str,
    ttl: str | None,
    idle: str | None,
    promote_after: str | None,
    demote_after: str | None,
    as_: str | None,
    json_output: bool,
) -> None:
    """Show or set a cube's lifecycle policy (DURATION: 3600, 90m, 12h, 30d, or off)."""
    import msgspec

    from memos_client.errors import UsageError
    from mip.errors import InvalidNameError
    from mip.names import normalize_cube_name

    try:
        name = str(normalize_cube_name(cube))
    except InvalidNameError as exc:
        raise UsageError(str(exc)) from exc
    given = (
        ("ttl_seconds", ttl, _duration),
        ("archive_after_idle_seconds", idle, _duration),
        ("promote_after_accesses", promote_after, _count),
        ("demote_after_idle_seconds", demote_after, _duration),
    )
    settings: dict[str, Any] = {key: read(text) for key, text, read in given if text is not None}
    with open_runtime(principal=as_, warm=False) as mem:
        if settings:
            policy = mem.lifecycle.set_policy(name, **settings)
        else:
            policy = mem.lifecycle.policy(name)
    values = msgspec.structs.asdict(policy)
    respond_settings(
        json_output, name, values, lambda value: "off" if value is None else str(value)
    )


@runtime_command("archive", group=LIFECYCLE)
@arg("item_id")
def archive_command(item_id: str, as_: str | None, json_output: bool) -> None:
    """Archive a memory (it leaves default retrieval)."""
    _change_state(item_id, "archived", as_, json_output)


@runtime_command("restore", group=LIFECYCLE)
@arg("item_id")
def restore_command(item_id: str, as_: str | None, json_output: bool) -> None:
    """Restore an archived memory."""
    _change_state(item_id, "restored", as_, json_output)


def _change_state(item_id: str, state: str, as_: str | None, json_output: bool) -> None:
    """Archive (``state`` "archived") or restore ("restored") a memory; say its new version."""
    with open_runtime(principal=as_, warm=False) as mem:
        change = mem.lifecycle.archive if state == "archived" else mem.lifecycle.restore
        version = change(item_id)
    respond(
        json_output,
        {"id": item_id, "state": state, "version": version},
        f"{state} {item_id} (version {version})",
    )
