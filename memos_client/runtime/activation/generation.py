"""Greedy generation after a memory prefix that is either injected (snapshots) or prefilled.

Both paths feed the model the same token ids (``prompt``), so their text is the same; only the
time to first token differs. TTFT is measured from the moment the caller starts preparing the
prefix (opening snapshots, or nothing) to the moment the first new token is known.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from memos_client.runtime.activation.model_adapter import CausalLM
from memos_client.runtime.activation.snapshot_file import SnapshotFile
from memos_client.runtime.activation.snapshots import combine


class Generation(msgspec.Struct):
    """The generated text and ids, the time to first token, and what memory was used how."""

    text: str
    token_ids: list[int]
    ttft_ms: float
    used: dict[str, Any] = msgspec.field(default_factory=dict)


def greedy_continue(
    model: CausalLM,
    cache: Any,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    started: float,
) -> tuple[list[int], float]:
    """Greedy-decode after ``prompt_ids`` on top of ``cache``; return new ids and TTFT in ms."""
    if not prompt_ids:
        raise ValueError("the prompt is empty: there is nothing to continue from")
    eos = model.eos_token_id
    step = model.forward(prompt_ids, cache)
    token = int(step.logits.argmax())
    ttft_ms = (time.perf_counter() - started) * 1000
    generated = [token]
    while len(generated) < max_new_tokens and token != eos:
        step = model.forward([token], step.cache)
        token = int(step.logits.argmax())
        generated.append(token)
    return generated, ttft_ms


def generate(
    model: CausalLM,
    question_ids: Sequence[int],
    *,
    snapshots: Sequence[SnapshotFile] = (),
    prefix_ids: Sequence[int] = (),
    max_new_tokens: int = 32,
    use_activation: bool = True,
    started: float | None = None,
) -> Generation:
    """Generate an answer to ``question_ids`` after the memory prefix.

    The prefix is ``snapshots``' token ids followed by ``prefix_ids`` (plain memory text no
    snapshot covers). With ``use_activation`` the snapshots are injected (combined exactly,
    see :func:`combine`) and only the rest is run through the model; without it, the whole
    prefix is prefilled together with the question — same ids, same text.
    """
    started = time.perf_counter() if started is None else started
    used: dict[str, Any] = {"activation": use_activation, "snapshots": [], "recomputed": []}
    cache = None
    tail = [*prefix_ids, *question_ids]
    if snapshots and use_activation:
        combined = combine(model, snapshots)
        cache = combined.cache
        used["snapshots"] = combined.injected
        used["recomputed"] = combined.recomputed
        used["reasons"] = combined.reasons
    elif snapshots:
        tail = [token for snapshot in snapshots for token in snapshot.token_ids] + tail
    used["prefilled_tokens"] = len(tail)
    limit = model.max_positions
    total = len(tail) + max_new_tokens + (cache.get_seq_length() if cache is not None else 0)
    if limit is not None and total > limit:
        from memos_client.errors import IncompatibleMemoryError

        raise IncompatibleMemoryError(
            f"prompt and answer need {total} positions, the model's context is {limit}: "
            "lower --max-new-tokens or use fewer memories",
            code="too_long",
        )
    token_ids, ttft_ms = greedy_continue(model, cache, tail, max_new_tokens, started)
    return Generation(text=model.decode(token_ids), token_ids=token_ids, ttft_ms=ttft_ms, used=used)
