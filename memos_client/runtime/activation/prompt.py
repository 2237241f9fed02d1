"""How memory text and a question become token ids — one definition for every path.

The memory prefix of a generation is a sequence of *segments*, one per group of memories (one
snapshot's worth); a segment's token ids are the ids of its rendered text, encoded on its own
without special tokens. The prompt is the prefix followed by the question's ids. Injecting a
snapshot and prefilling its text therefore feed the model exactly the same token ids, which is
what makes the two paths comparable token for token (docs/activation-memory.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from memos_client.runtime.activation.model_adapter import CausalLM
from memos_client.runtime.prompt_tokens import render_segment as render_texts


class MemoryText(msgspec.Struct, frozen=True):
    """One plaintext memory at one version, as a snapshot or adapter is computed from it."""

    id: str
    version: int
    text: str


def render_segment(memories: Sequence[MemoryText]) -> str:
    """The text of one memory segment (:func:`prompt_tokens.render_segment`, which counts it)."""
    return render_texts([memory.text for memory in memories])


def render_question(question: str) -> str:
    """The text that follows the memory prefix: the question and the answer cue."""
    return f"Question: {question.strip()}\nAnswer:"


def segment_token_ids(model: CausalLM, memories: Sequence[MemoryText]) -> list[int]:
    """Token ids of one memory segment."""
    return model.encode(render_segment(memories))


def question_token_ids(model: CausalLM, question: str) -> list[int]:
    """Token ids of the question part of a prompt."""
    return model.encode(render_question(question))
