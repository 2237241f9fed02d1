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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.runtime.activation.generation import Generation, generate
from memos_client.runtime.activation.lifecycle_policy import mark_used
from memos_client.runtime.activation.local_parts import adapter_dir, cube_parts
from memos_client.runtime.activation.lora import activate_adapters
from memos_client.runtime.activation.model_adapter import TransformersCausalLM
from memos_client.runtime.activation.prompt import (
    MemoryText,
    question_token_ids,
    segment_token_ids,
)
from memos_client.runtime.activation.snapshot_file import SnapshotFile, open_snapshot
from memos_client.runtime.activation.snapshots import check_snapshot
from mip.errors import TensorError

if TYPE_CHECKING:
    from memos_client.runtime.memos import MemOS
    from memos_client.runtime.scheduler import MemoryPlan


@dataclass
class PreparedMemory:
    """The memory side of a prompt: snapshots to inject, plain memories to prefill, and why."""

    snapshots: list[SnapshotFile] = field(default_factory=list)
    snapshot_labels: list[str] = field(default_factory=list)
    plain: list[MemoryText] = field(default_factory=list)
    adapters: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _current_versions(memos: MemOS, cube: str) -> dict[str, int]:
    rows = memos.store.query(
        "SELECT source_id, id, version FROM items WHERE cube = ? AND state IN "
        "('generated', 'activated')",
        [cube],
    )
    return {row["source_id"] or row["id"]: row["version"] for row in rows}


def prepare_memory(memos: MemOS, model: TransformersCausalLM, plan: MemoryPlan) -> PreparedMemory:
    """Check the plan's snapshots against ``model`` and split its memories into injected/plain."""
    prepared = PreparedMemory(skipped=list(plan.skipped))
    covered: set[tuple[str, str]] = set()
    versions: dict[str, dict[str, int]] = {}
    for part in plan.activations:
        label = f"{part.cube}:{part.name}"
        if part.path is None:
            prepared.skipped.append(f"{label}: no local file")
            continue
        try:
            snapshot = open_snapshot(part.path)  # type: ignore[arg-type]
        except (TensorError, OSError) as exc:
            prepared.skipped.append(f"{label}: unusable file ({exc})")
            continue
        current = versions.setdefault(part.cube, _current_versions(memos, part.cube))
        verdict = check_snapshot(snapshot.header, model, current)
        if not verdict.usable:
            prepared.skipped.append(f"{label}: {verdict.status}: {verdict.reason}")
            continue
        prepared.snapshots.append(snapshot)
        prepared.snapshot_labels.append(label)
        covered.update((part.cube, source.id) for source in snapshot.header.sources)
    for memory in plan.memories:
        item = memory.item
        key = (item.cube, item.source_id or item.id)
        if key not in covered:
            prepared.plain.append(MemoryText(key[1], item.version, item.text))
    for part in plan.adapters:
        try:
            prepared.adapters.append(adapter_dir(memos, part.to_json() | part.info))
        except (OSError, ValueError) as exc:
            prepared.skipped.append(f"{part.cube}:{part.name}: {exc}")
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
) -> Generation:
    """Plan, inject or prefill, activate adapters, and generate greedily; TTFT covers all of it."""
    started = time.perf_counter()
    plan = memos.plan(question, budget, cube=cube, model_digest=model.fingerprint.digest)
    prepared = prepare_memory(memos, model, plan)
    adapter_names = activate_adapters(model, prepared.adapters) if prepared.adapters else []
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
            "adapters": [f"{p.cube}:{p.name}" for p in plan.adapters] if adapter_names else [],
            "skipped": prepared.skipped,
        }
    )
    result.used = used
    if use_activation:
        for label in prepared.snapshot_labels:
            cube_name, _, part_name = label.rpartition(":")
            mark_used(memos, cube_name, part_name)
    return result


def all_snapshot_parts(memos: MemOS, cube: str) -> list[dict[str, Any]]:
    """Every registered activation part of ``cube`` (for inspection and the lifecycle)."""
    return cube_parts(memos, cube, "activation")
