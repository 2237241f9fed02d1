"""Installed cubes: what ``memos install`` hands to the runtime, applied in one transaction.

An install replaces a cube's content: records that are new are inserted, records whose content
changed get a new version, records that disappeared become Deleted tombstones, and unchanged
records are left alone (their version, state and behaviour counters stay). Item ids of installed
memories are ``<cube>#<record id>`` so two cubes may use the same record ids; a record without an
id gets one from its text (:func:`~memos_client.runtime.record_checks.content_id`). The manifest's
governance becomes the cube's access policy and lifecycle defaults; its non-plaintext parts are
kept (with their local ``path``) for the scheduler.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from memos_client.errors import NotFoundError, UsageError
from memos_client.install.target import InstalledCube
from memos_client.runtime.context import cube_name
from memos_client.runtime.memory_types import State, to_rfc3339, utc_now
from memos_client.runtime.record_checks import validate_records
from memos_client.runtime.record_writes import cube_writer, records_by_id, texts_to_embed
from memos_client.runtime.store.items import change_item

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext

#: Memories embedded per step of an install (the counter of ``memos install`` moves per step).
INDEX_BATCH = 256


def _check_governance(governance: dict[str, Any] | None) -> dict[str, Any]:
    if governance is None:
        return {"access": {"read": ["*"], "write": ["*"]}}
    if not isinstance(governance, dict):
        raise UsageError("governance must be the manifest's governance object")
    value = json.loads(json.dumps(governance, default=str))
    access = value.setdefault("access", {})
    for key in ("read", "write", "admin"):
        names = access.setdefault(key, ["*"]) if key != "admin" else access.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UsageError(f"governance.access.{key} must be a list of principal names")
    return value  # type: ignore[no-any-return]


def _check_parts(parts: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    checked = []
    for index, part in enumerate(parts or []):
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise UsageError(f"part {index}: expected a manifest part dict with a 'name'")
        if not isinstance(part.get("kind"), str):
            raise UsageError(f"part {part['name']!r}: missing 'kind'")
        checked.append(json.loads(json.dumps(part, default=str)))
    names = [part["name"] for part in checked]
    if len(set(names)) != len(names):
        raise UsageError("parts must have unique names")
    return checked


def install_cube(
    context: RuntimeContext,
    name: str,
    version: str,
    manifest_digest: str,
    records: Iterable[dict[str, Any]],
    governance: dict[str, Any] | None,
    parts: list[dict[str, Any]] | None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """See :meth:`MemOS.install_cube`."""
    cube = cube_name(name)
    if not isinstance(version, str) or not version:
        raise UsageError("install_cube: version must be a non-empty string")
    if not isinstance(manifest_digest, str) or not manifest_digest:
        raise UsageError("install_cube: manifest_digest must be a non-empty string")
    checked_governance = _check_governance(governance)
    checked_parts = _check_parts(parts)
    by_source = records_by_id(validate_records(records), "install_cube: ")
    existing = context.store.query("SELECT governance FROM cubes WHERE name = ?", [cube])
    if existing:
        context.governor.require(context.principal, cube, "write", "install")
    # Embed before taking the write lock (the transaction itself is only SQL), only texts new to
    # this cube: so a reinstall, or a cube without memories, never loads the embedder or NumPy.
    known, new_texts = texts_to_embed(context, cube, by_source.values())
    if progress is not None:
        progress(known)  # known texts need no embedding
    # In batches, so that a counter moves while a large cube is indexed.
    for start in range(0, len(new_texts), INDEX_BATCH):
        batch = new_texts[start : start + INDEX_BATCH]
        context.engines.cache.vectors(batch)
        if progress is not None:
            progress(len(batch))
    now = to_rfc3339(utc_now())
    with context.store.write() as connection:
        connection.execute(
            "INSERT INTO cubes (name, origin, version, manifest_digest, governance, created, "
            "installed_at) VALUES (?, 'installed', ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "origin = 'installed', version = excluded.version, "
            "manifest_digest = excluded.manifest_digest, governance = excluded.governance, "
            "installed_at = excluded.installed_at",
            (
                cube,
                version,
                manifest_digest,
                json.dumps(checked_governance, sort_keys=True),
                now,
                now,
            ),
        )
        # The policy of the manifest's governance, overridden by local settings (a reinstall
        # keeps them: the upsert above leaves lifecycle_policy as it was).
        writer = cube_writer(connection, context.principal, cube, op="install", at=now)
        connection.execute("DELETE FROM cube_parts WHERE cube = ?", (cube,))
        for part in checked_parts:
            stored = dict(part, cube=cube)
            connection.execute(
                "INSERT INTO cube_parts (cube, name, kind, info) VALUES (?, ?, ?, ?)",
                (cube, part["name"], part["kind"], json.dumps(stored, sort_keys=True)),
            )
        current = {
            row["source_id"]: row
            for row in connection.execute("SELECT rowid, * FROM items WHERE cube = ?", (cube,))
        }
        for source_id, record in by_source.items():
            row = current.get(source_id)
            if row is None:
                writer.insert(record, source_id, where="install_cube: ")
            else:
                writer.change(row, record, expires_at=writer.expiry(record))
        # Memories added to the cube locally (`memos add --cube`) are the user's, not the
        # publisher's: a new version replaces only what earlier installs brought.
        added_here = {
            item_id
            for (item_id,) in connection.execute(
                "SELECT item_id FROM versions WHERE cube = ? AND version = 1 AND op != 'install'",
                (cube,),
            )
        }
        for source_id, row in current.items():
            if (
                source_id not in by_source
                and row["state"] != State.DELETED
                and row["id"] not in added_here
            ):
                writer.delete(row)
        last = connection.execute("SELECT COALESCE(MAX(seq), 0) FROM versions").fetchone()[0]
        connection.execute(
            "INSERT INTO installs (cube, version, manifest_digest, at, change_seq, governance, "
            "parts) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                cube,
                version,
                manifest_digest,
                now,
                last,
                json.dumps(checked_governance, sort_keys=True),
                json.dumps([dict(part, cube=cube) for part in checked_parts], sort_keys=True),
            ),
        )
        context.store.audit(
            connection,
            context.principal,
            "install",
            cube=cube,
            detail=f"{version} {manifest_digest} ({len(by_source)} memories)",
        )
    return len(by_source)


def uninstall_cube(context: RuntimeContext, name: str) -> int:
    """See :meth:`MemOS.uninstall_cube`."""
    cube = cube_name(name)
    rows = context.store.query("SELECT origin FROM cubes WHERE name = ?", [cube])
    if not rows or rows[0][0] != "installed":
        raise NotFoundError(f"cube {cube!r} is not installed", code="unknown_cube")
    context.governor.require(context.principal, cube, "write", "uninstall")
    removed = 0
    with context.store.write() as connection:
        for row in connection.execute(
            "SELECT rowid, * FROM items WHERE cube = ?", (cube,)
        ).fetchall():
            if change_item(
                connection, row, principal=context.principal, op="uninstall", state=State.DELETED
            ):
                removed += 1
        connection.execute("DELETE FROM cube_parts WHERE cube = ?", (cube,))
        connection.execute(
            "UPDATE cubes SET origin = 'uninstalled', installed_at = NULL WHERE name = ?", (cube,)
        )
        context.store.audit(
            connection, context.principal, "uninstall", cube=cube, detail=f"{removed} memories"
        )
    return removed


def installed_digests(context: RuntimeContext) -> dict[str, str]:
    """See :meth:`MemOS.installed_digests`."""
    rows = context.store.query(
        "SELECT name, manifest_digest FROM cubes WHERE origin = 'installed' ORDER BY name"
    )
    return {row["name"]: row["manifest_digest"] for row in rows}


def installed_cubes(context: RuntimeContext) -> list[InstalledCube]:
    """See :meth:`MemOS.installed_cubes`."""
    rows = context.store.query(
        "SELECT c.name, c.version, c.manifest_digest, c.installed_at, c.governance, "
        "(SELECT COUNT(*) FROM items AS i WHERE i.cube = c.name AND i.state IN "
        "('generated', 'activated', 'archived')) AS memory_count "
        "FROM cubes AS c WHERE c.origin = 'installed' ORDER BY c.name"
    )
    cubes = []
    for row in rows:
        if not context.governor.allows(context.principal, json.loads(row["governance"]), "read"):
            continue  # governance covers listing too: a cube you may not read is not shown
        parts = [
            json.loads(part[0])
            for part in context.store.query(
                "SELECT info FROM cube_parts WHERE cube = ? ORDER BY name", [row["name"]]
            )
        ]
        cubes.append(
            InstalledCube(
                name=row["name"],
                version=row["version"],
                manifest_digest=row["manifest_digest"],
                memory_count=row["memory_count"],
                installed_at=row["installed_at"],
                governance=json.loads(row["governance"]),
                parts=parts,
            )
        )
    return cubes


def restore_install_state(connection: sqlite3.Connection, cube: str, seq: int) -> str | None:
    """After a rollback to change ``seq``: make the cube's installed version, digest, governance
    and parts those of the install in force then. Returns that version (None: not installed)."""
    install = connection.execute(
        "SELECT version, manifest_digest, governance, parts, at FROM installs "
        "WHERE cube = ? AND change_seq <= ? ORDER BY seq DESC LIMIT 1",
        (cube, seq),
    ).fetchone()
    if install is None:
        return None
    connection.execute(
        "UPDATE cubes SET origin = 'installed', version = ?, manifest_digest = ?, governance = ?, "
        "installed_at = COALESCE(installed_at, ?) WHERE name = ?",
        (install[0], install[1], install[2], install[4], cube),
    )
    connection.execute("DELETE FROM cube_parts WHERE cube = ?", (cube,))
    for part in json.loads(install[3]):
        connection.execute(
            "INSERT INTO cube_parts (cube, name, kind, info) VALUES (?, ?, ?, ?)",
            (cube, part["name"], part["kind"], json.dumps(part, sort_keys=True)),
        )
    return str(install[0])
