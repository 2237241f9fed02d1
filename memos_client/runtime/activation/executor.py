"""Run a memory plan with a model: retrieve, inject, activate, generate (``memos generate``).

The scheduler (``MemOS.plan``) chooses the plaintext memories and the parts that match the model;
here every chosen snapshot is opened and checked again against the loaded model (its file may be
damaged or built for another model; the plan only saw the manifest), the memories it covers are
taken out of the plaintext prefix, and the rest are prefilled after it. Every part left out is
reported with its reason. ``use_activation=False`` prefills exactly the same token ids instead of
injecting them, so the generated text is the same and only the time to first token differs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.runtime.activation.generation import Generation, generate
from memos_client.runtime.activation.lifecycle_policy import mark_used
from memos_client.runtime.activation.local_parts import adapter_dir, cube_parts, register_part
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


def _current_items(memos: MemOS, cube: str) -> dict[str, tuple[int, str]]:
    rows = memos.store.query(
        "SELECT source_id, id, version, text FROM items WHERE cube = ? AND state IN "
        "('generated', 'activated')",
        [cube],
    )
    return {row["source_id"] or row["id"]: (row["version"], row["text"]) for row in rows}


def _content_unchanged(
    model: TransformersCausalLM, snapshot: SnapshotFile, current: dict[str, tuple[int, str]]
) -> bool:
    """True when the sources' current texts tokenize to exactly the snapshot's token ids.

    Runtime versions also move on state changes (promotion, restore) that leave the text alone;
    a snapshot is only truly stale when the tokens it was computed from differ.
    """
    sources = snapshot.header.sources
    if not all(source.id in current for source in sources):
        return False
    memories = [MemoryText(s.id, current[s.id][0], current[s.id][1]) for s in sources]
    return segment_token_ids(model, memories) == snapshot.token_ids


def _candidate_parts(memos: MemOS, plan: MemoryPlan) -> list[tuple[str, dict[str, Any]]]:
    """The plan's snapshots, then the cubes' snapshots the scheduler left out as stale."""
    candidates = [(part.cube, part.to_json() | part.info) for part in plan.activations]
    planned = {(part.cube, part.name) for part in plan.activations}
    for cube in sorted({memory.item.cube for memory in plan.memories}):
        for part in cube_parts(memos, cube, "activation"):
            label = f"{cube}:{part['name']}"
            stale = any(reason.startswith(f"{label}: stale") for reason in plan.skipped)
            if (cube, part["name"]) not in planned and stale:
                candidates.append((cube, part))
    return candidates


def _rebuild(
    memos: MemOS,
    model: TransformersCausalLM,
    cube: str,
    part: dict[str, Any],
    snapshot: SnapshotFile,
    current: dict[str, tuple[int, str]],
) -> SnapshotFile | None:
    """Recompute a stale local snapshot from its sources' current texts (gone ones dropped)."""
    sources = [source for source in snapshot.header.sources if source.id in current]
    if not sources:
        return None
    memories = [MemoryText(s.id, current[s.id][0], current[s.id][1]) for s in sources]
    path = Path(str(part["path"]))
    header, _ = build_snapshot(model, memories, path)
    digest, size = digest_file(path)
    updated = {key: value for key, value in part.items() if key != "cube"}
    updated.update(to_document(header, omit_none=False), digest=digest, size=size)
    register_part(memos, cube, updated)
    return open_snapshot(path)


def prepare_memory(
    memos: MemOS, model: TransformersCausalLM, plan: MemoryPlan, *, rebuild_stale: bool = False
) -> PreparedMemory:
    """Check the plan's snapshots against ``model`` and split its memories into injected/plain.

    A snapshot the scheduler called stale because a version moved is taken after all when its
    sources' current text still gives exactly its token ids (the reason is reported); a truly
    stale one built locally is recomputed when ``rebuild_stale``; one whose sources are all
    covered by a snapshot taken before it is left out (no memory twice). When the plan activates
    adapters no snapshot is injected: snapshots hold the base model's keys and values, and
    LoRA on the attention projections changes them, so the memory text is prefilled instead.
    """
    prepared = PreparedMemory(skipped=list(plan.skipped))
    covered: set[tuple[str, str]] = set()
    current_items: dict[str, dict[str, tuple[int, str]]] = {}
    for cube, part in _candidate_parts(memos, plan):
        label = f"{cube}:{part['name']}"
        if plan.adapters:
            prepared.skipped.append(
                f"{label}: adapters are active and change the keys and values; prefilled instead"
            )
            continue
        if not part.get("path"):
            prepared.skipped.append(f"{label}: no local file")
            continue
        try:
            snapshot = open_snapshot(Path(str(part["path"])))
        except (TensorError, OSError) as exc:
            prepared.skipped.append(f"{label}: unusable file ({exc})")
            continue
        current = current_items.setdefault(cube, _current_items(memos, cube))
        versions = {key: value[0] for key, value in current.items()}
        verdict = check_snapshot(snapshot.header, model, versions)
        stale_note = f"{label}: stale"
        if verdict.status == "stale" and _content_unchanged(model, snapshot, current):
            prepared.skipped = [r for r in prepared.skipped if not r.startswith(stale_note)]
            prepared.notes.append(
                f"{label}: versions moved but the text is unchanged (same tokens)"
            )
        elif verdict.status == "stale" and rebuild_stale and part.get("origin") == "local":
            rebuilt = _rebuild(memos, model, cube, part, snapshot, current)
            if rebuilt is None:
                prepared.skipped.append(f"{label}: stale, and none of its memories is left")
                continue
            snapshot = rebuilt
            prepared.skipped = [r for r in prepared.skipped if not r.startswith(stale_note)]
            prepared.notes.append(f"{label}: rebuilt ({verdict.reason})")
        elif not verdict.usable:
            reason = f"{label}: {verdict.status}: {verdict.reason}"
            if not any(r.startswith(f"{label}: {verdict.status}") for r in prepared.skipped):
                prepared.skipped.append(reason)
            continue
        keys = {(cube, source.id) for source in snapshot.header.sources}
        if keys <= covered:
            prepared.skipped.append(f"{label}: its memories are covered by a snapshot already used")
            continue
        prepared.snapshots.append(snapshot)
        prepared.snapshot_labels.append(label)
        covered.update(keys)
    for memory in plan.memories:
        item = memory.item
        key = (item.cube, item.source_id or item.id)
        if key not in covered:
            prepared.plain.append(MemoryText(key[1], item.version, item.text))
    for planned in plan.adapters:
        try:
            prepared.adapters.append(adapter_dir(memos, planned.to_json() | planned.info))
            prepared.adapter_labels.append(f"{planned.cube}:{planned.name}")
        except (OSError, ValueError) as exc:
            prepared.skipped.append(f"{planned.cube}:{planned.name}: {exc}")
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
    rebuild_stale: bool = False,
) -> Generation:
    """Plan, inject or prefill, activate adapters, and generate greedily; TTFT covers all of it.

    ``rebuild_stale`` recomputes stale locally built snapshots (this request pays the prefill,
    later ones do not).
    """
    started = time.perf_counter()
    plan = memos.plan(question, budget, cube=cube, model_digest=model.fingerprint.digest)
    prepared = prepare_memory(memos, model, plan, rebuild_stale=rebuild_stale and use_activation)
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
    used: dict[str, Any] = dict(result.used)
    used.update(
        {
            "memories": [memory.item.id for memory in plan.memories],
            "prefilled_memories": [memory.id for memory in prepared.plain],
            "snapshots": prepared.snapshot_labels if use_activation else [],
            "available_snapshots": prepared.snapshot_labels,
            "adapters": prepared.adapter_labels,
            "skipped": prepared.skipped,
            "notes": prepared.notes,
        }
    )
    result.used = used
    if use_activation:
        for label in prepared.snapshot_labels:
            cube_name, _, part_name = label.rpartition(":")
            mark_used(memos, cube_name, part_name)
    memos.record_read("generate", question, used["memories"], cube=cube)
    return result
