"""Purge: erase memories' text from every version and every index, for good.

A delete keeps history (a rollback brings the memory back); a purge is for text that must go,
such as a secret pasted by mistake or a person's request to be forgotten. In one transaction,
with SQLite's ``secure_delete`` on (freed pages are overwritten with zeros):

- every version of each memory loses its text, tags, metadata and extra fields, and the memory
  ends Deleted with a ``purge`` version (so every process's indexes drop it);
- the lexical index forgets it and is optimized (its segments are rewritten without it);
- the cached embeddings of its texts are deleted (unless a live memory has the same text);
- KV snapshots and adapters built from it are unregistered, and their local files deleted;
- a row in ``purges`` records that it happened, by whom and when -- never the text.

Then the WAL is checkpointed and truncated, and the saved vector graphs are removed (rebuilt on
the next search). A rollback skips purged memories, so nothing brings the text back. Memories
that came from an installed cube are refused: their text is in the package files too
(``memos uninstall`` and ``memos cache clean`` remove those).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime.context import RuntimeContext, cube_name, item_row
from memos_client.runtime.memory_types import INDEXED_STATES, JsonFields, State, to_rfc3339, utc_now
from memos_client.runtime.store.database import text_digest
from memos_client.runtime.store.indexed_text import embedding_text


class PurgeReport(msgspec.Struct, JsonFields):
    """What a purge erased."""

    cube: str
    purged: list[str] = msgspec.field(default_factory=list)
    versions: int = 0
    parts_removed: list[str] = msgspec.field(default_factory=list)


def purge(
    context: RuntimeContext, item_id: str | None = None, *, cube: str | None = None
) -> PurgeReport:
    """See :meth:`MemOS.purge`."""
    if (item_id is None) == (cube is None):
        raise UsageError("purge one memory (by id) or a whole cube (cube=...), not both")
    if item_id is not None:
        name = item_row(context, item_id)["cube"]
        ids = [item_id]
    else:
        name = cube_name(str(cube))
        if not context.store.query("SELECT 1 FROM cubes WHERE name = ?", [name]):
            raise NotFoundError(f"no cube named {name!r}; see `memos list`", code="unknown_cube")
        ids = [r[0] for r in context.store.query("SELECT id FROM items WHERE cube = ?", [name])]
    context.governor.require(context.principal, name, "admin", "purge")
    installed = [
        r[0]
        for r in context.store.query(
            "SELECT item_id FROM versions WHERE cube = ? AND version = 1 AND op = 'install'",
            [name],
        )
        if r[0] in set(ids)
    ]
    if installed:
        raise UsageError(
            f"{len(installed)} of these memories came from installed cube {name} (e.g. "
            f"{installed[0]}): their text is in its package files too; `memos uninstall {name}` "
            "and `memos cache clean` remove those"
        )
    report = PurgeReport(cube=name)
    files: list[Path] = []
    with _secure_delete(context), context.store.write() as connection:
        for one in ids:
            _purge_item(context, connection, one, report)
        if report.purged:
            _remove_parts(connection, name, report, files)
            # Rewrite the FTS5 segments into one: deleted entries are dropped, not just marked.
            connection.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
        context.store.audit(
            connection,
            context.principal,
            "purge",
            cube=name,
            target=item_id,
            detail=f"{len(report.purged)} memories, {report.versions} versions erased",
        )
    for path in files:
        with contextlib.suppress(OSError):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    # The WAL still holds the pages as they were before: copy the new ones into the database
    # and truncate it (waiting on busy_timeout for other processes' readers).
    context.store.query("PRAGMA wal_checkpoint(TRUNCATE)")
    context.engines.forget_indexes()
    return report


@contextlib.contextmanager
def _secure_delete(context: RuntimeContext) -> Any:
    context.store.query("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        context.store.query("PRAGMA secure_delete = OFF")


def _purge_item(
    context: RuntimeContext, connection: sqlite3.Connection, item_id: str, report: PurgeReport
) -> None:
    row = connection.execute("SELECT rowid, * FROM items WHERE id = ?", (item_id,)).fetchone()
    versions = connection.execute(
        "SELECT text, metadata FROM versions WHERE item_id = ?", (item_id,)
    ).fetchall()
    if State(row["state"]) in INDEXED_STATES:
        connection.execute(
            "INSERT INTO items_fts (items_fts, rowid, search_text) VALUES ('delete', ?, ?)",
            (row["rowid"], row["search_text"]),
        )
    digests = {text_digest(embedding_text(v[0], json.loads(v[1]))) for v in versions}
    connection.execute(
        "UPDATE versions SET text = '', tags = '[]', metadata = '{}', extra = '{}' "
        "WHERE item_id = ?",
        (item_id,),
    )
    now = to_rfc3339(utc_now())
    empty = text_digest(embedding_text("", {}))
    version = int(row["version"]) + 1
    connection.execute(
        "UPDATE items SET text = '', search_text = '', tags = '[]', metadata = '{}', "
        "extra = '{}', state = ?, version = ?, updated = ?, text_digest = ? WHERE rowid = ?",
        (str(State.DELETED), version, now, empty, row["rowid"]),
    )
    connection.execute(
        "INSERT INTO versions (item_id, cube, version, op, state, text, tags, metadata, extra, "
        "expires_at, at, principal) VALUES (?, ?, ?, 'purge', ?, '', '[]', '{}', '{}', NULL, ?, ?)",
        (item_id, row["cube"], version, str(State.DELETED), now, context.principal),
    )
    for digest in digests:
        connection.execute(
            "DELETE FROM embeddings WHERE digest = ? AND NOT EXISTS "
            "(SELECT 1 FROM items WHERE text_digest = ? AND state != 'deleted')",
            (digest, digest),
        )
    connection.execute(
        "INSERT INTO purges (item_id, cube, at, principal, versions) VALUES (?, ?, ?, ?, ?)",
        (item_id, row["cube"], now, context.principal, len(versions)),
    )
    report.purged.append(item_id)
    report.versions += len(versions)


def _remove_parts(
    connection: sqlite3.Connection, cube: str, report: PurgeReport, files: list[Path]
) -> None:
    """Unregister the KV snapshots and adapters built from a purged memory (their tensors were
    computed from its text) and collect their local files for deletion."""
    purged_sources = {
        r[0]
        for r in connection.execute(
            "SELECT source_id FROM items WHERE cube = ? AND id IN "
            "(SELECT item_id FROM purges WHERE cube = ?)",
            (cube, cube),
        )
    }
    for name, info in connection.execute(
        "SELECT name, info FROM cube_parts WHERE cube = ?", (cube,)
    ).fetchall():
        part = json.loads(info)
        sources = {str(s.get("id")) for s in part.get("sources", []) if isinstance(s, dict)}
        if not sources & purged_sources:
            continue
        connection.execute("DELETE FROM cube_parts WHERE cube = ? AND name = ?", (cube, name))
        report.parts_removed.append(name)
        if part.get("origin") == "local" and isinstance(part.get("path"), str):
            files.append(Path(part["path"]))
