"""MemScheduler: turn a query and a budget into a memory plan that the model is held to.

A plan says which plaintext memories go before the question, which of them arrive by injecting a
KV snapshot (activation part) instead of being prefilled, and which LoRA adapters (parameter
parts) are loaded — every entry with the reason it was chosen or left out.

*The budget is an invariant*: the tokens of every injected snapshot plus the tokens of the
plaintext segment that is prefilled are at most ``budget_tokens``, counted exactly as
``memos generate`` feeds them (:func:`~memos_client.runtime.prompt_tokens.render_segment`,
encoded as one text). With a model or a tokenizer the count is exact; without, it is an estimate
(:func:`~memos_client.runtime.prompt_tokens.estimate_tokens`) and the plan says so
(``counted_with``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from memos_client.errors import UsageError
from memos_client.runtime.cost import TTFTCalibration, TTFTOption, choose_injection
from memos_client.runtime.memory_types import Hit, JsonFields, MemoryItem
from memos_client.runtime.prompt_tokens import (
    ESTIMATE,
    SegmentCounter,
    TokenCounter,
    estimate_tokens,
    segment_counter,
)

# Still importable from here: the benchmarks (bench/runtime_ttft.py, scheduler_cost.py) do.

if TYPE_CHECKING:
    from mip.models import ModelFingerprint

#: The default ``min_score`` of a plan: below it a hit is noise, not memory worth budget. Scores
#: are calibrated (``retrieval.hybrid``): a memory that only shares meaning with the query scores
#: ``0.3 x cosine similarity``; MiniLM gives unrelated text a cosine of ~0.2 or less.
PLAN_MIN_SCORE = 0.1


class PlanningModel(Protocol):
    """What planning needs of a loaded model (``activation.model_adapter.CausalLM`` has it):
    its tokenizer, to count exactly, and its fingerprint, to match parts."""

    @property
    def fingerprint(self) -> ModelFingerprint:
        """The MIP fingerprint of the model (MIP-1 §7.2)."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        ...


def check_min_score(min_score: object) -> float:
    """``min_score`` as a float, or a :class:`UsageError` saying what is wrong."""
    if (
        isinstance(min_score, bool)
        or not isinstance(min_score, int | float)
        or not 0 <= min_score <= 1
    ):
        raise UsageError(f"min_score must be a number from 0 to 1, got {min_score!r}")
    return float(min_score)


class PlannedMemory(msgspec.Struct, frozen=True):
    """A plaintext memory chosen for the prompt.

    ``form`` is ``prompt`` (prefilled as text) or ``snapshot`` (its KV arrive with the injected
    snapshot ``snapshot``); ``tokens`` is what adding it to the prefilled segment costs (0 when
    a snapshot carries it: the snapshot's tokens are counted once, on the part).
    ``neighbour_of`` names the chosen document chunk whose context a memory widens (``widening``).
    """

    item: MemoryItem
    tokens: int
    score: float
    reason: str
    form: str = "prompt"
    snapshot: str | None = None
    neighbour_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "item": self.item.to_json(),
            "tokens": self.tokens,
            "score": self.score,
            "reason": self.reason,
            "form": self.form,
            "snapshot": self.snapshot,
            "neighbour_of": self.neighbour_of,
        }


class PlannedPart(msgspec.Struct, JsonFields, frozen=True):
    """An activation (KV snapshot) or parameter (LoRA adapter) part chosen for the plan.

    ``info`` is the manifest's part dict as installed (kind, digest, model fingerprint,
    sources, ...); ``path`` is where its blob lies locally; ``tokens`` is what injecting a
    snapshot costs in the budget (0 for an adapter).
    """

    cube: str
    name: str
    kind: str
    path: str | None
    info: dict[str, Any]
    reason: str
    tokens: int = 0

    @property
    def label(self) -> str:
        """``cube:name``."""
        return f"{self.cube}:{self.name}"


class MemoryPlan(msgspec.Struct):
    """What to put in front of the model for one query.

    ``used_tokens`` = ``injected_tokens`` (every chosen snapshot's tokens) + ``prefill_tokens``
    (the plaintext segment of the memories no snapshot carries) <= ``budget_tokens``.
    """

    query: str
    budget_tokens: int
    used_tokens: int = 0
    injected_tokens: int = 0
    prefill_tokens: int = 0
    counted_with: str = ESTIMATE
    min_score: float = 0.0
    memories: list[PlannedMemory] = msgspec.field(default_factory=list)
    activations: list[PlannedPart] = msgspec.field(default_factory=list)
    adapters: list[PlannedPart] = msgspec.field(default_factory=list)
    skipped: list[str] = msgspec.field(default_factory=list)
    ttft_options: list[TTFTOption] = msgspec.field(default_factory=list)
    decision: str = ""

    @property
    def prompt_memories(self) -> list[PlannedMemory]:
        """The chosen memories that are prefilled as text (no snapshot carries them), in order."""
        return [memory for memory in self.memories if memory.form == "prompt"]

    def prompt_context(self) -> str:
        """The chosen memories as prompt lines, best first."""
        return "\n".join(f"- {memory.item.text}" for memory in self.memories)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        # The plain fields as they are; the nested ones by their own JSON form.
        return {
            **msgspec.structs.asdict(self),
            "memories": [memory.to_json() for memory in self.memories],
            "activations": [part.to_json() for part in self.activations],
            "adapters": [part.to_json() for part in self.adapters],
            "skipped": list(self.skipped),
            "ttft_options": [option.to_json() for option in self.ttft_options],
        }


def select_memories(
    hits: list[Hit], budget_tokens: int, count: TokenCounter, min_score: float = 0.0
) -> tuple[list[PlannedMemory], list[str], int]:
    """Take hits best first while the prefilled segment fits the budget.

    Selection is by value: once the next-best memory does not fit, no lower-ranked one is taken
    in its place merely because it is shorter; hits scored below ``min_score`` are never taken.
    Returns ``(chosen, reasons for the others, tokens of the chosen segment)``.
    """
    segments = segment_counter(count)
    chosen: list[PlannedMemory] = []
    skipped: list[str] = []
    used = 0
    blocker: str | None = None
    for rank, hit in enumerate(hits, start=1):
        if hit.score < min_score:
            skipped.append(f"{hit.item.id}: score {hit.score:.4f} is below min_score {min_score}")
            continue
        if blocker is not None:
            skipped.append(f"{hit.item.id}: ranked below {blocker}, which did not fit")
            continue
        tokens = segments.bullet(hit.item.text) + (0 if chosen else segments.header)
        total = used + tokens
        if total > budget_tokens:
            skipped.append(
                f"{hit.item.id}: {tokens} tokens do not fit ({budget_tokens - used} left)"
            )
            blocker = hit.item.id
            continue
        used = total
        found_by = ", ".join(f"{name} #{r}" for name, r in sorted(hit.ranks.items()))
        chosen.append(
            PlannedMemory(
                item=hit.item,
                tokens=tokens,
                score=hit.score,
                reason=f"retrieval rank {rank} (score {hit.score:.4f}; {found_by})",
            )
        )
    return chosen, skipped, used


def _memory_key(item: MemoryItem) -> tuple[str, str]:
    return item.cube, item.source_id or item.id


class PartChoice(msgspec.Struct):
    """What :func:`select_parts` decided: memories with their form, parts, and the token split."""

    memories: list[PlannedMemory]
    activations: list[PlannedPart]
    adapters: list[PlannedPart]
    skipped: list[str]
    injected_tokens: int
    prefill_tokens: int
    options: list[TTFTOption] = msgspec.field(default_factory=list)
    decision: str = ""


def select_parts(
    memories: list[PlannedMemory],
    parts: list[dict[str, Any]],
    fresh: Callable[[str, list[dict[str, Any]]], list[str]],
    model_digest: str | None = None,
    *,
    budget_tokens: int | None = None,
    count: TokenCounter = estimate_tokens,
    costs: TTFTCalibration | None = None,
) -> PartChoice:
    """Choose activation and parameter parts for the chosen memories, within the budget.

    ``parts`` are installed part dicts with ``cube`` and ``path`` added. ``fresh(cube, sources)``
    returns the source ids whose content changed or that are gone (a snapshot or adapter over them
    is stale). ``model_digest`` is :attr:`mip.models.ModelFingerprint.digest` of the loaded model.

    Rules: an adapter is loaded when a chosen memory comes from its cube, its base model matches
    and it is not stale. A KV snapshot is injected when it carries at least one chosen memory not
    carried yet, it is not stale, its model matches, it was computed under exactly the adapters
    loaded for its cube (none for a base snapshot: LoRA changes the keys and values; the part's
    ``adapters`` name them and their digests) and the budget still holds with its tokens counted in full
    and the memories it carries taken out of the prefilled segment. Of those snapshots, the plan
    injects as many (in that order) as make the estimated time to first token lowest under the
    calibration ``costs`` (:func:`cost.choose_injection`; without one, all of them).
    """
    budget = budget_tokens if budget_tokens is not None else math.inf
    segments = segment_counter(count)
    chosen_by_cube: dict[str, set[str]] = {}
    for memory in memories:
        cube, key = _memory_key(memory.item)
        chosen_by_cube.setdefault(cube, set()).add(key)
    activations: list[PlannedPart] = []
    adapters: list[PlannedPart] = []
    skipped: list[str] = []
    snapshot_parts: list[dict[str, Any]] = []
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
        sources = [s for s in part.get("sources", []) if isinstance(s, dict)]
        if kind == "activation":
            if any(s.get("id") in chosen for s in sources):
                snapshot_parts.append(part)
            continue
        if not chosen:
            continue
        stale = fresh(cube, sources)
        if stale:
            skipped.append(f"{label}: stale (memories changed since: {', '.join(stale[:3])})")
            continue
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
    adapted: dict[str, set[tuple[str, str]]] = {}
    for adapter in adapters:
        adapted.setdefault(adapter.cube, set()).add((adapter.name, str(adapter.info.get("digest"))))
    plain = list(memories)
    injected = 0
    carried_lists: list[list[PlannedMemory]] = []
    # Most chosen memories carried first (the biggest saving of prefill), then the fewest tokens
    # (the least budget spent on memories not chosen), then by name (a stable plan).
    snapshot_parts.sort(
        key=lambda p: (
            -sum(
                s.get("id") in chosen_by_cube.get(p["cube"], set())
                for s in p.get("sources", [])
                if isinstance(s, dict)
            ),
            p["num_tokens"] if isinstance(p.get("num_tokens"), int) else 1 << 30,
            str(p.get("name")),
        )
    )
    for part in snapshot_parts:
        cube, name = part["cube"], part.get("name", "?")
        label = f"{cube}:{name}"
        sources = [s for s in part.get("sources", []) if isinstance(s, dict)]
        ids = {s.get("id") for s in sources}
        stale = fresh(cube, sources)
        if stale:
            skipped.append(f"{label}: stale (memories changed since: {', '.join(stale[:3])})")
            continue
        carried = [m for m in plain if m.item.cube == cube and _memory_key(m.item)[1] in ids]
        if not carried:
            continue
        built_with = {
            (str(a.get("name")), str(a.get("digest")))
            for a in part.get("adapters", [])
            if isinstance(a, dict)
        }
        if built_with != adapted.get(cube, set()):
            if not built_with:
                skipped.append(
                    f"{label}: an adapter of {cube} is loaded and changes the keys and values; "
                    "its memories are prefilled instead"
                )
            else:
                names = ", ".join(sorted(name for name, _ in built_with))
                skipped.append(
                    f"{label}: computed under adapter(s) {names}, which are not loaded as they "
                    "were; its memories are prefilled instead"
                )
            continue
        tokens = part.get("num_tokens")
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
            skipped.append(f"{label}: the part does not say how many tokens it holds")
            continue
        rest = [m for m in plain if m not in carried]
        rest_tokens = segments.approx([m.item.text for m in rest])
        if injected + tokens + rest_tokens > budget:
            skipped.append(
                f"{label}: injecting its {tokens} tokens would exceed the budget "
                f"({injected + tokens + rest_tokens} > {budget_tokens}); its memories are "
                "prefilled instead"
            )
            continue
        others = len(sources) - len(carried)
        extra = f" and {others} other memories" if others > 0 else ""
        activations.append(
            PlannedPart(
                cube,
                name,
                "activation",
                part.get("path"),
                _info(part),
                f"KV snapshot covers {len(carried)} chosen memories{extra} of {cube} in "
                f"{tokens} tokens; injecting it skips their prefill",
                tokens,
            )
        )
        carried_lists.append(carried)
        plain, injected = rest, injected + tokens
    keep, options, decision = choose_injection(
        costs,
        [part.label for part in activations],
        [part.tokens for part in activations],
        lambda k: segments.approx(
            [m.item.text for m in memories if not any(m in c for c in carried_lists[:k])]
        ),
        budget,
    )
    chosen_form = options[keep]
    for dropped_part in activations[keep:]:
        skipped.append(
            f"{dropped_part.label}: fresh and within the budget, but {chosen_form.name} is estimated "
            "faster; its memories are prefilled instead"
        )
    activations = activations[:keep]
    carried_by: dict[tuple[str, str], str] = {}
    for planned, carried in zip(activations, carried_lists, strict=False):
        for memory in carried:
            carried_by[_memory_key(memory.item)] = planned.label
    plain = [m for m in memories if _memory_key(m.item) not in carried_by]
    injected = sum(part.tokens for part in activations)
    # The one exact count: the prefilled segment as the model will be fed it. Should the bullet
    # counts have been short of it, the lowest-ranked prefilled memories give way.
    prefill = segments.exact([m.item.text for m in plain])
    while plain and injected + prefill > budget:
        dropped = plain.pop()
        skipped.append(f"{dropped.item.id}: does not fit once the segment is counted exactly")
        memories = [m for m in memories if m is not dropped]
        prefill = segments.exact([m.item.text for m in plain])
    # A memory an injected snapshot carries costs no prefill; the others are counted in order.
    placed = place_prompt_memories(
        [
            msgspec.structs.replace(
                memory,
                tokens=0,
                form="snapshot",
                snapshot=carrier,
                reason=f"{memory.reason}, injected with {carrier}",
            )
            if (carrier := carried_by.get(_memory_key(memory.item))) is not None
            else memory
            for memory in memories
        ],
        segments,
        prefill,
    )
    return PartChoice(placed, activations, adapters, skipped, injected, prefill, options, decision)


def place_prompt_memories(
    memories: list[PlannedMemory], count: SegmentCounter, prefill: int
) -> list[PlannedMemory]:
    """``memories`` with the tokens of each prefilled one (form ``prompt``) counted: its bullet,
    and the header for the first. They add up to ``prefill``, the segment counted exactly as one
    text: the last prefilled memory absorbs any difference."""
    placed: list[PlannedMemory] = []
    counted = 0
    last_prompt: int | None = None
    for memory in memories:
        if memory.form != "prompt":
            placed.append(memory)
            continue
        tokens = count.bullet(memory.item.text) + (0 if counted else count.header)
        counted += tokens
        last_prompt = len(placed)
        placed.append(msgspec.structs.replace(memory, tokens=tokens))
    if last_prompt is not None and counted != prefill:
        last = placed[last_prompt]
        placed[last_prompt] = msgspec.structs.replace(last, tokens=last.tokens + prefill - counted)
    return placed


def _info(part: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in part.items() if key not in ("cube", "path")}


#: Digests of the fingerprints seen in parts (validating one costs milliseconds; a runtime
#: sees the same few models over and over).
_DIGESTS: dict[str, str | None] = {}


def _fingerprint_digest(fingerprint: dict[str, Any]) -> str | None:
    from mip.models import ModelFingerprint, from_document

    key = msgspec.json.encode(fingerprint, order="sorted").decode()
    if key in _DIGESTS:
        return _DIGESTS[key]
    try:
        digest: str | None = from_document(fingerprint, ModelFingerprint).digest
    except msgspec.ValidationError:
        digest = None
    if len(_DIGESTS) >= 64:
        _DIGESTS.pop(next(iter(_DIGESTS)))
    _DIGESTS[key] = digest
    return digest
