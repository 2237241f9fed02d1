"""Widening a memory plan with the neighbours of the document chunks it chose (issue 18).

A document chunk records the ids of the previous and next chunk of its document
(``metadata.chunk.prev``/``next``, MIP-1 §7.1.1). Once every relevant memory of a plan (every
hit at or above ``min_score``) is placed and budget remains, :func:`widen_plan` adds the chosen
chunks' neighbours, nearest first, so the model reads a passage rather than an isolated piece.

Rules, each one tested in ``tests/runtime/test_widening.py``:

- widening only spends budget no relevant memory wanted: a plan where a relevant memory did not
  fit is not widened, and the budget invariant holds (the widened segment is counted exactly,
  as ``memos generate`` feeds it; should that count exceed the budget, the last neighbours
  added give way, never a chosen memory);
- a neighbour is read only from the chunk's own cube, only if the principal may read that cube,
  and only if it is live and passes the plan's filters (a deleted or expired neighbour is
  skipped, and the plan says so);
- each direction of each chosen chunk is one run, walked outward one chunk per round in rank
  order: a run stops at the first neighbour that is gone, already in the plan or does not fit,
  so widened context never has a hole;
- a neighbour goes next to its chunk in document order (previous ones before it, next ones after)
  and is marked ``neighbour of ID``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.runtime.prompt_tokens import SegmentCounter
from memos_client.runtime.scheduler import MemoryPlan, PlannedMemory, place_prompt_memories
from memos_client.runtime.store.database import item_from_row

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext
    from memos_client.runtime.memory_types import MemoryItem
    from memos_client.runtime.retrieval.filters import Filters

#: How far from a chosen chunk widening walks at most (each step is one lookup).
MAX_DISTANCE = 16

_DIRECTIONS = (("prev", "previous"), ("next", "next"))


def _key(item: MemoryItem) -> tuple[str, str]:
    return item.cube, item.source_id or item.id


def _pointer(item: MemoryItem, field: str) -> str | None:
    chunk = item.metadata.get("chunk") if isinstance(item.metadata, dict) else None
    value = chunk.get(field) if isinstance(chunk, dict) else None
    return value if isinstance(value, str) and value else None


class _Run(msgspec.Struct):
    """One direction of one chosen chunk: where it stands and what it added (nearest first)."""

    anchor: PlannedMemory
    field: str
    word: str
    pointer: str | None
    added: list[PlannedMemory] = msgspec.field(default_factory=list)


def widen_plan(
    context: RuntimeContext,
    plan: MemoryPlan,
    count: SegmentCounter,
    *,
    relevant: Sequence[str],
    filters: Filters | Mapping[str, Any] | None = None,
) -> None:
    """Add the neighbours of ``plan``'s chosen chunks while the budget allows (in place).

    ``relevant`` are the ids of the hits at or above the plan's ``min_score``: unless each of
    them is placed, the plan is left as it is. ``count`` counts the segment as ``make_plan`` did.
    """
    anchors = [m for m in plan.memories if _pointer(m.item, "prev") or _pointer(m.item, "next")]
    if not anchors:
        return
    placed = {memory.item.id for memory in plan.memories}
    if any(item_id not in placed for item_id in relevant):
        plan.skipped.append("context not widened: not every relevant memory fits the budget")
        return
    from memos_client.runtime.retrieval.filters import Filters

    parsed = Filters.parse(filters, False)
    in_plan = {_key(memory.item) for memory in plan.memories}
    carried = _carried(plan)
    runs = [
        _Run(anchor, field, word, _pointer(anchor.item, field))
        for anchor in anchors
        for field, word in _DIRECTIONS
    ]
    readable: dict[str, bool] = {}
    prompt_texts = [memory.item.text for memory in plan.prompt_memories]
    approx = count.approx(prompt_texts)
    order: list[PlannedMemory] = []  # every neighbour added, in the order it was added
    for _ in range(MAX_DISTANCE):
        active = [run for run in runs if run.pointer is not None]
        if not active:
            break
        for run in active:
            cube, source_id = run.anchor.item.cube, run.pointer
            if source_id is None:  # ended earlier in this round (its anchor's cube unreadable)
                continue
            if cube not in readable:
                governance = context.governor.governance(cube)
                readable[cube] = context.governor.allows(context.principal, governance, "read")
            if not readable[cube]:
                plan.skipped.append(
                    f"neighbours of {run.anchor.item.id}: principal {context.principal!r} may "
                    f"not read cube {cube!r}"
                )
                for other in runs:
                    if other.anchor is run.anchor:
                        other.pointer = None
                continue
            if (cube, source_id) in in_plan:
                run.pointer = None
                continue
            item = _live_item(context, cube, source_id, parsed)
            if item is None:
                plan.skipped.append(
                    f"{cube}#{source_id}: neighbour of {run.anchor.item.id} is gone (deleted, "
                    "expired or filtered out)"
                )
                run.pointer = None
                continue
            reason = f"neighbour of {run.anchor.item.id} ({run.word} {len(run.added) + 1})"
            carrier = carried.get(_key(item))
            if carrier is not None:
                added = PlannedMemory(
                    item,
                    0,
                    0.0,
                    f"{reason}, injected with {carrier}",
                    form="snapshot",
                    snapshot=carrier,
                    neighbour_of=run.anchor.item.id,
                )
            else:
                bullet = count.bullet(item.text) + (0 if prompt_texts else count.header)
                if plan.injected_tokens + approx + bullet > plan.budget_tokens:
                    left = plan.budget_tokens - plan.injected_tokens - approx
                    plan.skipped.append(
                        f"{item.id}: neighbour of {run.anchor.item.id}, {bullet} tokens do not "
                        f"fit ({left} left)"
                    )
                    run.pointer = None
                    continue
                approx += bullet
                prompt_texts.append(item.text)
                added = PlannedMemory(item, bullet, 0.0, reason, neighbour_of=run.anchor.item.id)
            run.added.append(added)
            order.append(added)
            in_plan.add(_key(item))
            run.pointer = _pointer(item, run.field)
    if order:
        _place(plan, runs, order, count)


def _carried(plan: MemoryPlan) -> dict[tuple[str, str], str]:
    """Memories (cube, record id) whose KV the plan's injected snapshots already hold."""
    carried: dict[tuple[str, str], str] = {}
    for part in plan.activations:
        for source in part.info.get("sources", []):
            if isinstance(source, dict) and isinstance(source.get("id"), str):
                carried.setdefault((part.cube, source["id"]), part.label)
    return carried


def _live_item(
    context: RuntimeContext, cube: str, source_id: str, filters: Filters
) -> MemoryItem | None:
    """The live memory with record id ``source_id`` in ``cube`` passing ``filters``, if any."""
    where, parameters = filters.sql({cube})
    select = f"SELECT i.* FROM items AS i WHERE {where}"  # noqa: S608
    # Runtimes name a record's memory ``CUBE#ID``: a primary-key lookup, not a scan of the cube.
    rows = context.store.query(
        f"{select} AND i.id = ? AND i.source_id = ?",
        [*parameters, f"{cube}#{source_id}", source_id],
    )
    if not rows:
        rows = context.store.query(
            f"{select} AND i.source_id = ? LIMIT 1", [*parameters, source_id]
        )
    return item_from_row(rows[0]) if rows else None


def _arrange(
    memories: list[PlannedMemory], runs: list[_Run], keep: set[int]
) -> list[PlannedMemory]:
    """The plan's memories with each kept neighbour next to its chunk, in document order."""
    around: dict[int, tuple[list[PlannedMemory], list[PlannedMemory]]] = {}
    for run in runs:
        before, after = around.setdefault(id(run.anchor), ([], []))
        kept = [memory for memory in run.added if id(memory) in keep]
        if run.field == "prev":
            before.extend(reversed(kept))
        else:
            after.extend(kept)
    arranged: list[PlannedMemory] = []
    for memory in memories:
        before, after = around.get(id(memory), ([], []))
        arranged.extend([*before, memory, *after])
    return arranged


def _place(
    plan: MemoryPlan, runs: list[_Run], order: list[PlannedMemory], count: SegmentCounter
) -> None:
    """Put the neighbours into the plan, counted exactly; the last added give way if need be."""
    keep = {id(memory) for memory in order}
    while True:
        arranged = _arrange(plan.memories, runs, keep)
        texts = [memory.item.text for memory in arranged if memory.form == "prompt"]
        prefill = count.exact(texts)
        if plan.injected_tokens + prefill <= plan.budget_tokens or not keep:
            break
        dropped = next(memory for memory in reversed(order) if id(memory) in keep)
        keep.discard(id(dropped))
        plan.skipped.append(
            f"{dropped.item.id}: neighbour of {dropped.neighbour_of} does not fit once the "
            "segment is counted exactly"
        )
    placed = place_prompt_memories(arranged, count, prefill)
    # A neighbour scored below min_score is placed after all: the plan no longer says it was left.
    widened = tuple(f"{memory.item.id}: score " for memory in order if id(memory) in keep)
    plan.skipped = [line for line in plan.skipped if not line.startswith(widened)]
    plan.memories = placed
    plan.prefill_tokens = prefill
    plan.used_tokens = plan.injected_tokens + prefill
