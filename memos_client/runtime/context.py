"""What the runtime's modules work with: the store, its governor, the engines and who is acting.

:class:`~memos_client.runtime.memos.MemOS` is the public facade; the modules behind it (writes,
reads, cubes, upserts, the lifecycle) take a :class:`RuntimeContext` instead, so none of them
reaches back into the facade. :meth:`MemOS.acting_as` is the same context with another principal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime.governance import OWNER, Governor
from memos_client.runtime.memory_types import to_rfc3339, utc_now
from memos_client.runtime.store.database import Store

if TYPE_CHECKING:
    from memos_client.runtime.prompt_tokens import TokenCounter
    from memos_client.runtime.retrieval.engines import Engines

#: The access policy of a cube created locally (``memos add --cube``): anyone may read and write.
LOCAL_GOVERNANCE = {"access": {"read": ["*"], "write": ["*"]}}


class RuntimeContext(msgspec.Struct, frozen=True):
    """One runtime's store, governor and engines, seen by one principal."""

    store: Store
    governor: Governor
    engines: Engines
    principal: str
    #: Prompt tokens of a text (the scheduler's budgets are counted with it).
    count_tokens: TokenCounter

    def acting_as(self, principal: str) -> RuntimeContext:
        """The same store and engines acting as ``principal`` (checked by the caller)."""
        return msgspec.structs.replace(self, principal=principal)


def cube_name(cube: str) -> str:
    """A cube name, normalized (MIP-1 §3); :class:`UsageError` for an invalid one."""
    from mip.errors import InvalidNameError
    from mip.names import normalize_cube_name

    try:
        return str(normalize_cube_name(cube))
    except InvalidNameError as exc:
        raise UsageError(str(exc)) from exc


def ensure_cube(context: RuntimeContext, cube: str, action: str) -> None:
    """Create a local cube the first time something is written to it (its creator administers
    it), then check the acting principal may write it."""
    rows = context.store.query("SELECT 1 FROM cubes WHERE name = ?", [cube])
    if not rows:
        governance: dict[str, Any] = {"access": dict(LOCAL_GOVERNANCE["access"])}
        if context.principal != OWNER:
            governance["access"]["admin"] = [context.principal]
        with context.store.write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO cubes (name, origin, governance, created) "
                "VALUES (?, 'local', ?, ?)",
                (cube, json.dumps(governance), to_rfc3339(utc_now())),
            )
    context.governor.require(context.principal, cube, "write", action)


def item_row(context: RuntimeContext, item_id: str) -> Any:
    """The store row of a memory by id; :class:`NotFoundError` for an unknown one."""
    if not isinstance(item_id, str):
        raise UsageError(f"a memory id is a string, got {type(item_id).__name__}")
    rows = context.store.query("SELECT rowid, * FROM items WHERE id = ?", [item_id])
    if not rows:
        raise NotFoundError(f"unknown memory {item_id!r}", code="unknown_memory")
    return rows[0]
