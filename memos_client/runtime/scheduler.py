"""MemScheduler: turn a query and a budget into a memory plan.

A plan says which plaintext memories go into the prompt (greedily by fused retrieval score while
they fit the token budget), which KV snapshots (activation parts) to inject and which LoRA
adapters (parameter parts) to load — every entry with the reason it was chosen. Tokens are
counted with the configured model's tokenizer; without one, with a documented estimate
(:func:`estimate_tokens`). Part selection lives in :func:`select_parts`, the one place to extend
when a runtime can execute more kinds of part (fingerprint checks against a loaded model, cost
models for prefill vs. injection).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import msgspec

from memos_client.errors import UsageError
from memos_client.runtime.memory_types import Hit, MemoryItem


class TokenCounter(Protocol):
    """Counts the tokens a text costs in the prompt of the model in use."""

    def __call__(self, text: str) -> int:
        """Tokens of ``text``."""
        ...


def estimate_tokens(text: str) -> int:
    """Without a tokenizer: 1 token per 4 UTF-8 bytes, rounded up (English BPE averages ~4)."""
    return max(1, math.ceil(len(text.encode("utf-8")) / 4))


def tokenizer_counter(path: str) -> TokenCounter:
    """A counter from a Hugging Face ``tokenizer.json`` (or a model directory holding one)."""
    from pathlib import Path

    from tokenizers import Tokenizer

    location = Path(path)
    if location.is_dir():
        location = location / "tokenizer.json"
    if not location.is_file():
        raise UsageError(f"no tokenizer at {location}: pass a tokenizer.json or a model directory")
    try:
        tokenizer = Tokenizer.from_file(str(location))
    except Exception as exc:  # the tokenizers library raises bare Exception
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{location} is not a tokenizer.json ({reason})") from exc
    # A tokenizer.json may carry padding/truncation settings for training; counting needs neither.
    tokenizer.no_padding()
    tokenizer.no_truncation()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


class PlannedMemory(msgspec.Struct, frozen=True):
    """A plaintext memory chosen for the prompt."""

    item: MemoryItem
    tokens: int
    score: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "item": self.item.to_json(),
            "tokens": self.tokens,
            "score": self.score,
            "reason": self.reason,
        }


class PlannedPart(msgspec.Struct, frozen=True):
    """An activation (KV snapshot) or parameter (LoRA adapter) part chosen for the plan.

    ``info`` is the manifest's part dict as installed (kind, digest, model fingerprint,
    sources, ...); ``path`` is where its blob lies locally.
    """

    cube: str
    name: str
    kind: str
    path: str | None
    info: dict[str, Any]
    reason: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "cube": self.cube,
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "info": self.info,
            "reason": self.reason,
        }


class MemoryPlan(msgspec.Struct):
    """What to put in front of the model for one query."""

    query: str
    budget_tokens: int
    used_tokens: int = 0
    memories: list[PlannedMemory] = msgspec.field(default_factory=list)
    activations: list[PlannedPart] = msgspec.field(default_factory=list)
    adapters: list[PlannedPart] = msgspec.field(default_factory=list)
    skipped: list[str] = msgspec.field(default_factory=list)

    def prompt_context(self) -> str:
        """The chosen memories as prompt lines, best first."""
        return "\n".join(f"- {memory.item.text}" for memory in self.memories)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "query": self.query,
            "budget_tokens": self.budget_tokens,
            "used_tokens": self.used_tokens,
            "memories": [memory.to_json() for memory in self.memories],
            "activations": [part.to_json() for part in self.activations],
            "adapters": [part.to_json() for part in self.adapters],
            "skipped": list(self.skipped),
        }


def select_memories(
    hits: list[Hit], budget_tokens: int, count: TokenCounter
) -> tuple[list[PlannedMemory], list[str], int]:
    """Greedy by fused score: take each hit that still fits; say why the others were left out."""
    chosen: list[PlannedMemory] = []
    skipped: list[str] = []
    used = 0
    for rank, hit in enumerate(hits, start=1):
        tokens = count(hit.item.text)
        if used + tokens > budget_tokens:
            skipped.append(
                f"{hit.item.id}: {tokens} tokens do not fit ({budget_tokens - used} left)"
            )
            continue
        used += tokens
        found_by = ", ".join(f"{name} #{r}" for name, r in sorted(hit.ranks.items()))
        chosen.append(
            PlannedMemory(
                item=hit.item,
                tokens=tokens,
                score=hit.score,
                reason=f"retrieval rank {rank} (score {hit.score:.4f}; {found_by}), "
                f"{tokens} tokens",
            )
        )
    return chosen, skipped, used


def select_parts(
    memories: list[PlannedMemory],
    parts: list[dict[str, Any]],
    current_versions: dict[tuple[str, str], int],
    model_digest: str | None = None,
) -> tuple[list[PlannedPart], list[PlannedPart], list[str]]:
    """Choose activation and parameter parts for the chosen memories.

    ``parts`` are installed part dicts with ``cube`` and ``path`` added. ``current_versions`` maps
    ``(cube, record id)`` to the installed version of each memory, to tell a stale snapshot.
    ``model_digest`` is :attr:`mip.models.ModelFingerprint.digest` of the loaded model, if any.

    Rules: a KV snapshot is injected when it covers at least one chosen memory, every memory it
    was computed from is still at the version it names, and its model matches the loaded one.
    An adapter is loaded when a chosen memory comes from its cube and its base model matches.
    Returns ``(activations, adapters, reasons for parts left out)``.
    """
    chosen_by_cube: dict[str, set[str]] = {}
    for memory in memories:
        chosen_by_cube.setdefault(memory.item.cube, set()).add(
            memory.item.source_id or memory.item.id
        )
    activations: list[PlannedPart] = []
    adapters: list[PlannedPart] = []
    skipped: list[str] = []
    for part in parts:
        cube, name, kind = part["cube"], part.get("name", "?"), part.get("kind")
        label = f"{cube}:{name}"
        if kind not in ("activation", "parameter"):
            continue
        fingerprint = part.get("model") if kind == "activation" else part.get("base_model")
        if (
            model_digest is not None
            and isinstance(fingerprint, dict)
            and _fingerprint_digest(fingerprint) != model_digest
        ):
            skipped.append(f"{label}: built for another model")
            continue
        chosen = chosen_by_cube.get(cube, set())
        if kind == "activation":
            sources = [s for s in part.get("sources", []) if isinstance(s, dict)]
            covered = [s for s in sources if s.get("id") in chosen]
            if not covered:
                continue
            stale = [
                s["id"]
                for s in sources
                if current_versions.get((cube, s.get("id", ""))) != s.get("version")
            ]
            if stale:
                skipped.append(f"{label}: stale (memories changed since: {', '.join(stale[:3])})")
                continue
            activations.append(
                PlannedPart(
                    cube,
                    name,
                    kind,
                    part.get("path"),
                    _info(part),
                    f"KV snapshot covers {len(covered)} chosen memories of {cube}; "
                    "injecting it skips their prefill",
                )
            )
        elif chosen:
            adapters.append(
                PlannedPart(
                    cube,
                    name,
                    kind,
                    part.get("path"),
                    _info(part),
                    f"{len(chosen)} chosen memories come from {cube}, whose knowledge this "
                    "adapter carries",
                )
            )
    return activations, adapters, skipped


def _info(part: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in part.items() if key not in ("cube", "path")}


def _fingerprint_digest(fingerprint: dict[str, Any]) -> str | None:
    import msgspec

    from mip.models import ModelFingerprint, from_document

    try:
        return from_document(fingerprint, ModelFingerprint).digest
    except msgspec.ValidationError:
        return None
