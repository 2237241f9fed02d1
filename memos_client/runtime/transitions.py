"""State changes of one memory (delete, archive, restore): a new version in the new state."""

from __future__ import annotations

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime.context import RuntimeContext, item_row
from memos_client.runtime.memory_types import State
from memos_client.runtime.store.items import change_item


def set_state(
    context: RuntimeContext,
    item_id: str,
    state: State,
    action: str,
    allowed_from: set[State] | None,
) -> int:
    """Move a memory to ``state`` as a new version (``allowed_from``: the states it may leave);
    returns the new version number."""
    row = item_row(context, item_id)
    context.governor.require(context.principal, row["cube"], "write", action)
    current_state = State(row["state"])
    if allowed_from is not None and current_state not in allowed_from:
        raise UsageError(f"cannot {action} memory {item_id!r}: it is {current_state}")
    if current_state == State.DELETED and state == State.DELETED:
        raise NotFoundError(f"memory {item_id!r} is already deleted", code="unknown_memory")
    with context.store.write() as connection:
        current = connection.execute(
            "SELECT rowid, * FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        change_item(connection, current, principal=context.principal, op=action, state=state)
        context.store.audit(connection, context.principal, action, cube=row["cube"], target=item_id)
    return int(current["version"]) + 1
