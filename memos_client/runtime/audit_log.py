"""Reading the audit log: every read, write and refusal, newest first.

The owner (``local``) reads the whole log; a cube's admins read the entries of that cube. Reading
the log is itself a read of the log, so a refused read is recorded like any other refusal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from memos_client.errors import UsageError
from memos_client.runtime.context import RuntimeContext, cube_name
from memos_client.runtime.governance import OWNER
from memos_client.runtime.memory_types import to_rfc3339


def read_audit(
    context: RuntimeContext, cube: str | None, *, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """See :meth:`MemOS.audit`."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1_000_000:
        raise UsageError(f"limit must be an integer from 1 to 1000000, got {limit!r}")
    if since is not None and (not isinstance(since, datetime) or since.tzinfo is None):
        raise UsageError("since must be a timezone-aware datetime")
    clauses: list[str] = []
    parameters: list[Any] = []
    if cube is None:
        if context.principal != OWNER:
            context.governor.refuse(
                context.principal,
                "audit.read",
                None,
                f"only {OWNER!r} may read the whole audit log; a cube's admins read its entries "
                "with `memos audit CUBE`",
            )
    else:
        name = cube_name(cube)
        context.governor.require(context.principal, name, "admin", "audit.read")
        clauses.append("cube = ?")
        parameters.append(name)
    if since is not None:
        clauses.append("at >= ?")
        parameters.append(to_rfc3339(since))
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = context.store.query(
        f"SELECT * FROM audit {where}ORDER BY seq DESC LIMIT ?",  # noqa: S608
        [*parameters, limit],
    )
    return [dict(row) for row in rows]
