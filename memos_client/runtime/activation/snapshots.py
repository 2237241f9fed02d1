"""Build, check, inject and combine KV snapshots (activation memory).

*Exactness.* A snapshot is the KV cache of a prefill over its token ids. A causal model's KV at
position ``p`` depends only on tokens ``0..p``, so injecting a snapshot whose token ids are a
prefix of the prompt and running the model over the rest gives the same next-token logits as
prefilling the whole prompt (up to float rounding; tested at <= 1e-4 in float32).

*Combining.* Two snapshots computed independently can NOT be concatenated: the second one's keys
were rotated for positions ``0..n-1`` (RoPE) and its tokens never attended to the first one's.
:func:`combine` therefore injects the one snapshot that is the longest prefix of the wanted
token sequence and prefills the remaining tokens on top (their ids are in the snapshots), which is
exact; with ``allow_recompute=False`` it refuses instead. A snapshot built over several segments
at once (:func:`build_snapshot` with many memories) is a proper combined snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from memos_client.errors import IncompatibleMemoryError
from memos_client.runtime.activation.fingerprint import fingerprint_mismatch
from memos_client.runtime.activation.model_adapter import CausalLM
from memos_client.runtime.activation.prompt import MemoryText, segment_token_ids
from memos_client.runtime.activation.snapshot_file import (
    ActivationHeader,
    SnapshotFile,
    write_snapshot,
)
from mip.models import MemoryRef

CheckStatus = Literal["ok", "foreign", "stale", "too_long"]


class SnapshotCheck(msgspec.Struct, frozen=True):
    """Whether a snapshot can be injected into a model; ``reason`` says why not."""

    status: CheckStatus
    reason: str = ""

    @property
    def usable(self) -> bool:
        """True when the snapshot matches the model and its sources are current."""
        return self.status == "ok"


def build_snapshot(
    model: CausalLM, memories: Sequence[MemoryText], path: Path
) -> tuple[ActivationHeader, list[int]]:
    """Prefill ``model`` over the segment of ``memories`` and write the KV snapshot to ``path``."""
    if not memories:
        raise ValueError("a snapshot needs at least one memory")
    token_ids = segment_token_ids(model, memories)
    limit = model.max_positions
    if limit is not None and len(token_ids) >= limit:
        raise IncompatibleMemoryError(
            f"the memories are {len(token_ids)} tokens, the model's context is {limit}: "
            "activate fewer memories",
            code="too_long",
        )
    result = model.forward(token_ids)
    sources = [MemoryRef(id=memory.id, version=memory.version) for memory in memories]
    header = write_snapshot(
        path, model.cache_layers(result.cache), token_ids, model=model.fingerprint, sources=sources
    )
    return header, token_ids


def check_snapshot(
    header: ActivationHeader,
    model: CausalLM,
    current_versions: Mapping[str, int] | None = None,
) -> SnapshotCheck:
    """Check a snapshot against the loaded model and (optionally) its sources' current versions.

    ``foreign``: computed with another model (the fingerprint fields that differ are named);
    ``too_long``: it leaves no room in the model's context; ``stale``: a source memory changed
    version or is gone since the snapshot was computed.
    """
    differing = fingerprint_mismatch(header.model, model.fingerprint)
    if differing:
        return SnapshotCheck(
            "foreign",
            f"computed with model {header.model.model_id!r}, the loaded model "
            f"{model.fingerprint.model_id!r} differs in {', '.join(differing)}",
        )
    limit = model.max_positions
    if limit is not None and header.num_tokens >= limit:
        return SnapshotCheck(
            "too_long", f"{header.num_tokens} tokens leave no room in a context of {limit}"
        )
    if current_versions is not None:
        changed = []
        for source in header.sources:
            current = current_versions.get(source.id)
            if current is None:
                changed.append(f"{source.id} (gone)")
            elif current != source.version:
                changed.append(f"{source.id} (v{source.version} -> v{current})")
        if changed:
            return SnapshotCheck("stale", "sources changed: " + ", ".join(changed))
    return SnapshotCheck("ok")


def _require_usable(snapshot: SnapshotFile, model: CausalLM) -> None:
    verdict = check_snapshot(snapshot.header, model)
    if not verdict.usable:
        code = "foreign_model" if verdict.status == "foreign" else verdict.status
        raise IncompatibleMemoryError(
            f"snapshot {snapshot.path.name} cannot be used: {verdict.reason}", code=code
        )


def inject(model: CausalLM, snapshot: SnapshotFile) -> Any:
    """A model cache holding the snapshot's KV (memory-mapped), ready to continue generation."""
    _require_usable(snapshot, model)
    return model.cache_from_layers(snapshot.load_layers())


class CombinedPrefix(msgspec.Struct):
    """A cache over the concatenated token ids of several segments, and how it was obtained."""

    cache: Any
    token_ids: list[int]
    injected: list[str] = msgspec.field(default_factory=list)
    recomputed: list[str] = msgspec.field(default_factory=list)
    reasons: list[str] = msgspec.field(default_factory=list)


def combine(
    model: CausalLM, snapshots: Sequence[SnapshotFile], *, allow_recompute: bool = True
) -> CombinedPrefix:
    """A cache exactly equal to prefilling the snapshots' token ids one after another.

    The snapshot whose token ids are the longest prefix of the whole sequence is injected; every
    token after it is prefilled on top (see the module docstring for why nothing else is exact).
    With ``allow_recompute=False`` anything that would need a prefill raises
    :class:`IncompatibleMemoryError` (``not_combinable``) instead.
    """
    if not snapshots:
        raise ValueError("nothing to combine")
    for snapshot in snapshots:
        _require_usable(snapshot, model)
    wanted = [token for snapshot in snapshots for token in snapshot.token_ids]
    limit = model.max_positions
    if limit is not None and len(wanted) >= limit:
        raise IncompatibleMemoryError(
            f"the snapshots hold {len(wanted)} tokens together, the model's context is {limit}",
            code="too_long",
        )
    best = max(
        (s for s in snapshots if wanted[: len(s.token_ids)] == s.token_ids),
        key=lambda s: len(s.token_ids),
    )
    covered = len(best.token_ids)
    result = CombinedPrefix(cache=inject(model, best), token_ids=wanted, injected=[best.path.name])
    if covered == len(wanted):
        return result
    rest = [s.path.name for s in snapshots if s is not best]
    reason = (
        f"{', '.join(rest)}: KV computed on its own is not valid after {best.path.name} "
        "(positions and attention differ); its tokens are prefilled on top instead"
    )
    if not allow_recompute:
        raise IncompatibleMemoryError(
            f"snapshots cannot be combined exactly without recomputing: {reason}",
            code="not_combinable",
        )
    result.cache = model.forward(wanted[covered:], result.cache).cache
    result.recomputed = rest
    result.reasons.append(reason)
    return result
