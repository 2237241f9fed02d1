"""Gather what the scheduler plans from: hits, installed parts and the freshness of their sources.

:func:`make_plan` is ``MemOS.plan``: search (without counting an access), read the parts of the
cubes the chosen memories come from, and let ``scheduler`` decide within the budget. Only the
memories the plan places before the question count as accessed.

*Freshness without tokenising.* A snapshot or adapter names the memories it was computed from
(id and version). A source is still current when its memory is live and either at that version
or at a later one whose text is the same (lifecycle promotions and restores move versions but
not text): one lookup in ``versions``, no tokenizer, no hashing of the KV file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from memos_client.errors import UsageError
from memos_client.runtime.prompt_tokens import (
    ESTIMATE,
    SegmentCounter,
    TokenCounter,
    estimate_tokens,
)
from memos_client.runtime.reads import audit_cube, record_use, search
from memos_client.runtime.scheduler import (
    PLAN_MIN_SCORE,
    MemoryPlan,
    PlanningModel,
    check_min_score,
    select_memories,
    select_parts,
)

if TYPE_CHECKING:
    from memos_client.runtime.context import RuntimeContext
    from memos_client.runtime.cost import TTFTCalibration
    from memos_client.runtime.retrieval.filters import Filters
    from memos_client.runtime.store.database import Store


class _HasStore(Protocol):
    @property
    def store(self) -> Store: ...


class SourceFreshness:
    """Tells which sources of a part changed or are gone, one cube read at a time.

    ``context`` is a runtime context or a ``MemOS`` (anything with the ``store``).
    """

    def __init__(self, context: _HasStore) -> None:
        self._context = context
        self._live: dict[str, dict[str, tuple[str, int, str]]] = {}

    def _cube(self, cube: str) -> dict[str, tuple[str, int, str]]:
        live = self._live.get(cube)
        if live is None:
            rows = self._context.store.query(
                "SELECT id, source_id, version, text FROM items WHERE cube = ? AND state IN "
                "('generated', 'activated')",
                [cube],
            )
            live = {
                row["source_id"] or row["id"]: (row["id"], row["version"], row["text"])
                for row in rows
            }
            self._live[cube] = live
        return live

    def __call__(self, cube: str, sources: list[dict[str, Any]]) -> list[str]:
        """The ids among ``sources`` (``{"id", "version"}``) that are gone or changed text."""
        live = self._cube(cube)
        changed: list[str] = []
        for source in sources:
            source_id, version = str(source.get("id", "")), source.get("version")
            current = live.get(source_id)
            if current is None:
                changed.append(f"{source_id} (gone)")
                continue
            item_id, current_version, text = current
            if current_version == version:
                continue
            rows = self._context.store.query(
                "SELECT text FROM versions WHERE item_id = ? AND version = ?", [item_id, version]
            )
            if not rows or rows[0][0] != text:
                changed.append(f"{source_id} (v{version} -> v{current_version})")
        return changed


def make_plan(
    context: RuntimeContext,
    query: str,
    budget: int,
    *,
    cube: str | Sequence[str] | None,
    filters: Filters | Mapping[str, Any] | None,
    k: int,
    model_digest: str | None = None,
    model: PlanningModel | None = None,
    min_score: float = PLAN_MIN_SCORE,
    exclude: Mapping[str, str] | None = None,
    use_adapters: bool = True,
    costs: TTFTCalibration | None = None,
    widen: bool = True,
) -> MemoryPlan:
    """A memory plan for ``query`` within ``budget`` tokens (see ``scheduler``).

    With ``model`` tokens are counted with its tokenizer and parts are matched to its
    fingerprint; ``exclude`` maps parts (``cube:name``) not to use to why (a file found unusable);
    ``use_adapters=False`` leaves every parameter part out; ``costs`` (the model's TTFT
    calibration) lets the scheduler choose between injecting and prefilling by estimated cost;
    ``widen=False`` keeps the chosen document chunks without their neighbours (``widening``).
    """
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise UsageError(f"budget must be a positive number of tokens, got {budget!r}")
    min_score = check_min_score(min_score)
    count: TokenCounter
    if model is not None:
        encode = model.encode

        def count(text: str) -> int:
            return len(encode(text))

        counted_with = f"tokenizer of {model.fingerprint.model_id}"
        model_digest = model.fingerprint.digest
    else:
        count = context.count_tokens
        counted_with = ESTIMATE if count is estimate_tokens else "the configured tokenizer"
    count = SegmentCounter(count)
    hits = search(context, query, k, cube, filters, include_archived=False, touch=False)
    plan = MemoryPlan(
        query=query, budget_tokens=budget, counted_with=counted_with, min_score=min_score
    )
    chosen, plan.skipped, _ = select_memories(hits, budget, count, min_score)
    parts: list[dict[str, Any]] = []
    for name in sorted({memory.item.cube for memory in chosen}):
        for row in context.store.query("SELECT info FROM cube_parts WHERE cube = ?", [name]):
            part = json.loads(row[0])
            label = f"{name}:{part.get('name')}"
            if exclude and label in exclude:
                plan.skipped.append(f"{label}: {exclude[label]}")
                continue
            if part.get("kind") == "parameter" and not use_adapters:
                plan.skipped.append(f"{label}: adapters are switched off")
                continue
            parts.append(part)
    choice = select_parts(
        chosen,
        parts,
        SourceFreshness(context),
        model_digest,
        budget_tokens=budget,
        count=count,
        costs=costs,
    )
    plan.memories, plan.activations, plan.adapters = (
        choice.memories,
        choice.activations,
        choice.adapters,
    )
    plan.skipped.extend(choice.skipped)
    plan.ttft_options, plan.decision = choice.options, choice.decision
    plan.injected_tokens, plan.prefill_tokens = choice.injected_tokens, choice.prefill_tokens
    plan.used_tokens = choice.injected_tokens + choice.prefill_tokens
    if widen:
        from memos_client.runtime.widening import widen_plan

        relevant = [hit.item.id for hit in hits if hit.score >= min_score]
        widen_plan(context, plan, count, relevant=relevant, filters=filters)
    return plan


def record_placed(
    context: RuntimeContext, plan: MemoryPlan, cube: str | Sequence[str] | None, action: str
) -> None:
    """Count one access of each memory the plan places before the question (and audit it)."""
    placed = [memory.item.id for memory in plan.memories]
    record_use(context, action, audit_cube(cube), placed, plan.query, touch=True)
