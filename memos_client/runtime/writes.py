"""Writing memories as one principal: add and update. Each call is one transaction with its
audit entry; embeddings are computed before the write lock is taken, so the transaction itself
is only SQL. State changes (delete, archive, restore) are :mod:`.transitions`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from memos_client.errors import UsageError
from memos_client.runtime.context import RuntimeContext, cube_name, ensure_cube, item_row
from memos_client.runtime.memory_types import State, to_rfc3339, utc_now
from memos_client.runtime.record_checks import (
    check_metadata,
    check_tags,
    check_text,
    validate_records,
)
from memos_client.runtime.record_writes import cube_writer
from memos_client.runtime.store.indexed_text import embedding_text
from memos_client.runtime.store.items import change_item


def add_many(context: RuntimeContext, records: Iterable[Mapping[str, Any]], cube: str) -> list[str]:
    """See :meth:`MemOS.add_many`."""
    cube = cube_name(cube)
    valid = validate_records([dict(r) if isinstance(r, Mapping) else r for r in records])
    ensure_cube(context, cube, "add")
    context.engines.cache.vectors([embedding_text(r.text, r.metadata) for r in valid])
    ids: list[str] = []
    with context.store.write() as connection:
        now = to_rfc3339(utc_now())
        writer = cube_writer(connection, context.principal, cube, op="add", at=now)
        for record in valid:
            item_id = record.source_id or uuid.uuid4().hex
            clash = connection.execute("SELECT cube FROM items WHERE id = ?", (item_id,)).fetchone()
            if clash is not None:
                raise UsageError(
                    f"memory id {item_id!r} already exists (in {clash[0]}); "
                    "use update() to change it or leave the id out"
                )
            writer.insert(record, item_id, item_id=item_id, state=State.GENERATED)
            ids.append(item_id)
        context.store.audit(
            connection,
            context.principal,
            "add",
            cube=cube,
            target=ids[0] if len(ids) == 1 else None,
            detail=f"{len(ids)} memories",
        )
    return ids


def update(
    context: RuntimeContext,
    item_id: str,
    *,
    text: str | None,
    tags: list[str] | None,
    metadata: dict[str, Any] | None,
) -> None:
    """See :meth:`MemOS.update`."""
    where = f"memory {item_id!r}"
    if text is not None:
        check_text(text, where)
    new_tags = check_tags(tags, where) if tags is not None else None
    new_metadata = check_metadata(metadata, where) if metadata is not None else None
    row = item_row(context, item_id)
    context.governor.require(context.principal, row["cube"], "write", "update")
    if State(row["state"]) in (State.DELETED, State.EXPIRED):
        raise UsageError(f"memory {item_id!r} is {row['state']}; roll its cube back to revive it")
    if text is not None or new_metadata is not None:
        context.engines.cache.vectors(
            [
                embedding_text(
                    text or row["text"],
                    new_metadata if new_metadata is not None else json.loads(row["metadata"]),
                )
            ]
        )
    with context.store.write() as connection:
        current = connection.execute(
            "SELECT rowid, * FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        change_item(
            connection,
            current,
            principal=context.principal,
            op="update",
            text=text,
            tags=new_tags,
            metadata=new_metadata,
        )
        context.store.audit(
            connection, context.principal, "update", cube=row["cube"], target=item_id
        )
