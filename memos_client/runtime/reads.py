"""Reading memories as one principal: get, export and search (memory plans: ``planning``).

Every read checks the cube's access policy first and leaves an audit entry; search also counts
the accesses of what it returns (the lifecycle promotes memories used often).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime.context import RuntimeContext, cube_name, item_row
from memos_client.runtime.memory_types import Hit, MemoryItem, State, to_rfc3339, utc_now
from memos_client.runtime.scheduler import check_min_score
from memos_client.runtime.store.database import item_from_row
from memos_client.runtime.store.items import touch_items

if TYPE_CHECKING:
    from memos_client.runtime.retrieval.filters import Filters


def get(context: RuntimeContext, item_id: str, *, touch: bool, audit: bool = True) -> MemoryItem:
    """See :meth:`MemOS.get`; ``audit=False`` only for the facade reading back what it just
    wrote (that write is audited)."""
    row = item_row(context, item_id)
    context.governor.require(context.principal, row["cube"], "read", "get")
    item = item_from_row(row)
    expired = item.expires_at is not None and item.expires_at <= to_rfc3339(utc_now())
    if item.state in (State.DELETED, State.EXPIRED) or expired:
        state = State.EXPIRED if expired else item.state
        raise NotFoundError(
            f"memory {item_id!r} is {state}",
            code="unknown_memory",
            details={"memory": item_id, "situation": "gone"},
        )
    if touch or audit:
        with context.store.write() as connection:
            if touch:
                touch_items(connection, [item_id])
            context.store.audit(
                connection, context.principal, "get", cube=item.cube, target=item_id
            )
    return item


def memories(context: RuntimeContext, cube: str, *, include_deleted: bool) -> list[MemoryItem]:
    """See :meth:`MemOS.memories`."""
    name = cube_name(cube)
    if not context.store.query("SELECT 1 FROM cubes WHERE name = ?", [name]):
        raise NotFoundError(f"no cube named {name!r}", code="unknown_cube")
    context.governor.require(context.principal, name, "read", "export")
    where = "" if include_deleted else " AND state != 'deleted'"
    rows = context.store.query(
        f"SELECT rowid, * FROM items WHERE cube = ?{where} ORDER BY rowid",  # noqa: S608
        [name],
    )
    with context.store.write() as connection:
        context.store.audit(
            connection, context.principal, "export", cube=name, detail=f"{len(rows)} memories"
        )
    return [item_from_row(row) for row in rows]


def _scope(context: RuntimeContext, cube: str | Sequence[str] | None, action: str) -> set[str]:
    """The cubes a read covers: every readable one, or those named (each must be readable)."""
    if cube is None:
        return context.governor.cubes_allowing(context.principal, "read")
    names = [cube] if isinstance(cube, str) else list(cube)
    if not names or not all(isinstance(name, str) for name in names):
        raise UsageError("cube must be a cube name or a non-empty list of cube names")
    scope = {cube_name(name) for name in names}
    for name in sorted(scope):
        context.governor.require(context.principal, name, "read", action)
    return scope


def audit_cube(cube: str | Sequence[str] | None) -> str | None:
    """The audit entry's cube: the one cube a read covered (None: several or every one)."""
    if isinstance(cube, str):
        return cube_name(cube)
    names = sorted({cube_name(name) for name in cube or []})
    return names[0] if len(names) == 1 else None


def search(
    context: RuntimeContext,
    query: str,
    k: int,
    cube: str | Sequence[str] | None,
    filters: Filters | Mapping[str, Any] | None,
    *,
    include_archived: bool,
    touch: bool,
    min_score: float = 0.0,
) -> list[Hit]:
    """See :meth:`MemOS.search`."""
    if not isinstance(query, str) or not query.strip():
        raise UsageError("the query must be a non-empty string")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
        raise UsageError(f"k must be an integer from 1 to 1000, got {k!r}")
    check_min_score(min_score)
    from memos_client.runtime.retrieval.filters import Filters

    parsed = Filters.parse(filters, include_archived)
    cubes = _scope(context, cube, "search")
    hits = context.engines.retriever.search(query, k, cubes, parsed)
    hits = [hit for hit in hits if hit.score >= min_score]
    ids = [hit.item.id for hit in hits]
    record_use(context, "search", audit_cube(cube), ids, query, touch, cubes)
    return hits


def record_use(
    context: RuntimeContext,
    action: str,
    cube: str | None,
    ids: list[str],
    query: str,
    touch: bool,
    cubes: set[str] | None = None,
) -> None:
    """Count an access of every memory read (with ``touch``) and write the audit entry of the
    read (what was asked, of which cubes when several, what was returned), in one short
    transaction."""
    detail: dict[str, Any] = {"query": query[:200], "results": ids}
    if cube is None and cubes is not None and len(cubes) > 1:
        detail["cubes"] = sorted(cubes)
    with context.store.write() as connection:
        if touch:
            touch_items(connection, ids)
        context.store.audit(
            connection, context.principal, action, cube=cube, detail=json.dumps(detail)
        )
