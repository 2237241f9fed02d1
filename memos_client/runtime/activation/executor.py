"""Run a memory plan with a model: retrieve, inject, activate, generate (``memos generate``).

The scheduler (``planning.make_plan`` with the loaded model) chooses the plaintext memories, the
snapshots that carry some of them and the adapters, within the budget counted with the model's
tokenizer; here the model is fed exactly that plan. Every chosen snapshot is opened and checked
again against the loaded model (its file may be damaged; the plan only saw the manifest); a part
that fails is excluded and the plan made again, so the budget is never exceeded. Every part left
out is reported with its reason. ``use_activation=False`` prefills exactly the same token ids
instead of injecting them (and loads no adapter), so only the time to first token differs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import UsageError
from memos_client.runtime.activation.calibration import calibration_for
from memos_client.runtime.activation.generation import Generation, generate
from memos_client.runtime.activation.lifecycle_policy import maintain, mark_used
from memos_client.runtime.activation.local_parts import (
    adapter_dir,
    cube_parts,
    register_part,
    remove_part,
)
from memos_client.runtime.activation.lora import activate_adapters
from memos_client.runtime.activation.model_adapter import TransformersCausalLM
from memos_client.runtime.activation.prompt import (
    MemoryText,
    question_token_ids,
    segment_token_ids,
)
from memos_client.runtime.activation.snapshot_file import SnapshotFile, open_snapshot
from memos_client.runtime.activation.snapshots import build_snapshot, check_snapshot
from mip.digests import digest_file
from mip.errors import TensorError
from mip.models import to_document

#: How ``run_generation`` chooses between injecting and prefilling a snapshot's memories.
FORMS = ("cost", "inject")

if TYPE_CHECKING:
    from memos_client.runtime.memos import MemOS
    from memos_client.runtime.scheduler import MemoryPlan


class PreparedMemory(msgspec.Struct):
    """The memory side of a prompt: snapshots to inject, plain memories to prefill, and why."""

    snapshots: list[SnapshotFile] = msgspec.field(default_factory=list)
    snapshot_labels: list[str] = msgspec.field(default_factory=list)
    plain: list[MemoryText] = msgspec.field(default_factory=list)
    adapters: list[Path] = msgspec.field(default_factory=list)
    adapter_labels: list[str] = msgspec.field(default_factory=list)
    skipped: list[str] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)


class UnusablePartError(Exception):
    """A part the plan chose cannot be used after all (its file); the plan is made again."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(f"{label}: {reason}")
        self.label = label
        self.reason = reason


def _rebuild(
    memos: MemOS, model: TransformersCausalLM, cube: str, part: dict[str, Any], why: str
) -> str | None:
    """Recompute a stale local snapshot from its sources' current texts (gone ones dropped);
    returns a note, or None when none of its memories is left (the part is then removed)."""
    rows = memos.store.query(
        "SELECT source_id, id, version, text FROM items WHERE cube = ? AND state IN "
        "('generated', 'activated')",
        [cube],
    )
    current = {row["source_id"] or row["id"]: (row["version"], row["text"]) for row in rows}
    ids = [str(s.get("id")) for s in part.get("sources", []) if isinstance(s, dict)]
    memories = [MemoryText(i, current[i][0], current[i][1]) for i in ids if i in current]
    path = Path(str(part["path"]))
    if not memories:
        path.unlink(missing_ok=True)
        remove_part(memos, cube, str(part["name"]))
        return None
    header, _ = build_snapshot(model, memories, path)
    digest, size = digest_file(path)
    updated = {key: value for key, value in part.items() if key != "cube"}
    updated.update(to_document(header, omit_none=False), digest=digest, size=size)
    register_part(memos, cube, updated)
    return f"{cube}:{part['name']}: rebuilt ({why})"


def rebuild_stale_parts(memos: MemOS, model: TransformersCausalLM, plan: MemoryPlan) -> list[str]:
    """Rebuild the locally built snapshots the plan left out as stale; returns notes."""
    notes: list[str] = []
    for cube in sorted({memory.item.cube for memory in plan.memories}):
        for part in cube_parts(memos, cube, "activation"):
            label = f"{cube}:{part['name']}"
            prefix = f"{label}: stale ("
            stale = [r[len(prefix) : -1] for r in plan.skipped if r.startswith(prefix)]
            if stale and part.get("origin") == "local":
                note = _rebuild(memos, model, cube, part, stale[0])
                notes.append(note or f"{label}: stale, and none of its memories is left")
    return notes


def prepare_memory(memos: MemOS, model: TransformersCausalLM, plan: MemoryPlan) -> PreparedMemory:
    """Open the plan's snapshots and adapters, exactly as planned.

    The plan already matched fingerprints from the manifest and checked freshness; here each
    file is opened and checked against the loaded model (a file may be damaged, or hold other
    tokens than its part says). Such a part raises :class:`UnusablePartError`: the caller plans again
    without it, so the budget holds whatever happens.
    """
    prepared = PreparedMemory(skipped=list(plan.skipped))
    for part in plan.activations:
        if not part.path:
            raise UnusablePartError(part.label, "no local file")
        try:
            snapshot = open_snapshot(Path(part.path))
        except (TensorError, OSError) as exc:
            raise UnusablePartError(part.label, f"unusable file ({exc})") from exc
        verdict = check_snapshot(snapshot.header, model)
        if not verdict.usable:
            raise UnusablePartError(part.label, f"{verdict.status}: {verdict.reason}")
        if len(snapshot.token_ids) != part.tokens:
            raise UnusablePartError(
                part.label,
                f"its file holds {len(snapshot.token_ids)} tokens, the part says {part.tokens}",
            )
        prepared.snapshots.append(snapshot)
        prepared.snapshot_labels.append(part.label)
    for memory in plan.prompt_memories:
        item = memory.item
        prepared.plain.append(MemoryText(item.source_id or item.id, item.version, item.text))
    for planned in plan.adapters:
        try:
            prepared.adapters.append(adapter_dir(memos, planned.to_json() | planned.info))
        except (OSError, ValueError) as exc:
            raise UnusablePartError(planned.label, str(exc)) from exc
        prepared.adapter_labels.append(planned.label)
    return prepared


def run_generation(
    memos: MemOS,
    model: TransformersCausalLM,
    question: str,
    *,
    cube: str | None = None,
    budget: int = 1024,
    max_new_tokens: int = 32,
    use_activation: bool = True,
    use_adapters: bool = True,
    rebuild_stale: bool = False,
    min_score: float | None = None,
    maintenance_tokens: int = 0,
    form: str = "cost",
    widen: bool = True,
) -> Generation:
    """Plan, inject or prefill, activate adapters, and generate greedily; TTFT covers all of it.

    The model sees exactly the plan: the injected snapshots' tokens plus the prefilled segment,
    at most ``budget`` tokens. ``use_activation=False`` prefills the planned snapshots' token ids
    instead of injecting them and loads no adapter (plaintext only; without adapters the text is
    the same). ``rebuild_stale`` recomputes stale locally built snapshots first (this request pays
    the prefill, later ones do not). ``maintenance_tokens`` > 0 first lets the lifecycle run
    itself (:func:`lifecycle_policy.maintain`: the tick when due, a stale hot snapshot rebuilt
    when its prefill is at most that many tokens); its time is reported apart from the TTFT.
    ``form="cost"`` injects a snapshot only where the model's TTFT calibration
    (:func:`calibration.calibration_for`, measured once per fingerprint) says it is faster than
    prefilling its memories; ``form="inject"`` injects every fresh snapshot that fits. The plan
    does not depend on ``use_activation``: without it the same plan is prefilled.
    ``widen=False`` plans without the neighbours of chosen document chunks.
    """
    from memos_client.runtime.scheduler import PLAN_MIN_SCORE

    maintenance: list[str] = []
    maintenance_ms = 0.0
    if maintenance_tokens > 0 and use_activation:
        began = time.perf_counter()
        report = maintain(memos, model, max_tokens=maintenance_tokens)
        if report is not None:
            maintenance = [*report.promoted, *report.dropped, *report.deferred]
        maintenance_ms = (time.perf_counter() - began) * 1000
    # Measured once per model fingerprint and cached: a new model's first request pays it,
    # outside its TTFT (the plan needs it before the clock starts).
    if form not in FORMS:
        raise UsageError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    costs = calibration_for(memos.home, model) if form == "cost" else None
    started = time.perf_counter()
    excluded: dict[str, str] = {}
    notes: list[str] = []
    rebuilt = False
    while True:
        plan = memos.plan(
            question,
            budget,
            cube=cube,
            model=model,
            min_score=PLAN_MIN_SCORE if min_score is None else min_score,
            exclude=excluded,
            use_adapters=use_adapters and use_activation,
            count_access=False,
            costs=costs,
            widen=widen,
        )
        if rebuild_stale and use_activation and not rebuilt:
            rebuilt = True
            rebuild_notes = rebuild_stale_parts(memos, model, plan)
            if rebuild_notes:
                notes.extend(rebuild_notes)
                continue
        try:
            prepared = prepare_memory(memos, model, plan)
        except UnusablePartError as exc:
            excluded[exc.label] = exc.reason
            continue
        break
    prepared.notes.extend(notes)
    if prepared.adapters:
        activate_adapters(model, prepared.adapters)
    prefix = segment_token_ids(model, prepared.plain) if prepared.plain else []
    result = generate(
        model,
        question_token_ids(model, question),
        snapshots=prepared.snapshots,
        prefix_ids=prefix,
        max_new_tokens=max_new_tokens,
        use_activation=use_activation,
        started=started,
    )
    # After the first token: counting the accesses is bookkeeping, not part of answering.
    memos.count_placed(plan, cube, "generate")
    used: dict[str, Any] = dict(result.used)
    injected = sum(len(snapshot.token_ids) for snapshot in prepared.snapshots)
    used.update(
        {
            "memories": [memory.item.id for memory in plan.memories],
            "prefilled_memories": [memory.id for memory in prepared.plain],
            "snapshots": prepared.snapshot_labels if use_activation else [],
            "available_snapshots": prepared.snapshot_labels,
            "adapters": prepared.adapter_labels,
            "skipped": prepared.skipped,
            "notes": prepared.notes,
            "budget_tokens": budget,
            "memory_tokens": injected + len(prefix),
            "planned_tokens": plan.used_tokens,
            "decision": plan.decision,
            "estimated_ttft_ms": next(
                (option.ttft_ms for option in plan.ttft_options if option.chosen), None
            ),
            "maintenance": maintenance,
            "maintenance_ms": round(maintenance_ms, 3),
        }
    )
    result.used = used
    if use_activation:
        for label in prepared.snapshot_labels:
            cube_name, _, part_name = label.rpartition(":")
            mark_used(memos, cube_name, part_name)
    return result
