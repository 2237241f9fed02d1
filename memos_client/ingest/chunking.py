"""The structural splitter: a document's blocks packed into chunks bounded in embedder tokens.

A chunk never crosses a heading (or a PDF page): blocks under the same heading path are packed
greedily, in order, while the embedded text -- the section label and the chunk's text, as
:func:`memos_client.runtime.retrieval.lexical.embedding_text` joins them -- stays within ``max_tokens``
word pieces of the embedder, special tokens included. A heading line is a block of its own, so it
is part of the first chunk of its section; a section holding only a heading joins the section
below it. A block too long for one chunk is cut at the finest structure that fits: paragraphs,
then lines, then sentences, then whole words (token windows). Every chunk is a contiguous span of
the document's text: nothing is dropped, nothing rewritten.

Why this and not semchunk or chonkie: docs/adr/0013-document-chunking.md (measured).
"""

from __future__ import annotations

import re

import msgspec

from memos_client.ingest.documents import Block, Document, paragraph_spans
from memos_client.ingest.tokens import EMBEDDER_MAX_TOKENS, TokenCounter

#: The separator of the heading names in a section label ("Guide > Install > Linux").
SECTION_SEPARATOR = " > "
#: A section label longer than this is not embedded with its chunks (MIP-1 §7.1.1); the
#: heading itself is still in the text of its section's first chunk.
MAX_SECTION_CHARS = 120


class Chunk(msgspec.Struct, frozen=True):
    """``document.text[start:end]``: one chunk, under ``headings`` (on ``page`` of a PDF)."""

    start: int
    end: int
    headings: tuple[str, ...]
    page: int | None
    tokens: int

    @property
    def section(self) -> str:
        """The heading path as one label (empty at the top of a document)."""
        return section_label(self.headings)


def section_label(headings: tuple[str, ...]) -> str:
    """``"A > B > C"`` for the heading path ``(A, B, C)``."""
    return SECTION_SEPARATOR.join(headings)


def embedded_text(section: str, text: str) -> str:
    """What the embedder reads for a chunk (mirrors the runtime's ``embedding_text``)."""
    if section and len(section) <= MAX_SECTION_CHARS:
        return f"{section}\n{text}"
    return text


_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+")


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    position = start
    while position < end:
        newline = text.find("\n", position, end)
        stop = end if newline < 0 else newline
        first, last = position, stop
        while first < last and text[first].isspace():
            first += 1
        while last > first and text[last - 1].isspace():
            last -= 1
        if first < last:
            spans.append((first, last))
        position = stop + 1
    return spans


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    position = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if match.start() > position:
            spans.append((position, match.start()))
        position = match.end()
    if position < end:
        spans.append((position, end))
    return spans


class StructuralSplitter:
    """Packs a document's blocks into chunks of at most ``max_tokens`` embedder tokens."""

    def __init__(self, counter: TokenCounter, max_tokens: int = EMBEDDER_MAX_TOKENS) -> None:
        self.counter = counter
        self.max_tokens = max_tokens
        self._specials = counter.count("")
        if max_tokens < self._specials + 16:
            raise ValueError(f"max_tokens {max_tokens} leaves no room for text")

    def _content_tokens(self, texts: list[str]) -> list[int]:
        return [count - self._specials for count in self.counter.counts(texts)]

    def split(self, document: Document) -> list[Chunk]:
        """The chunks of ``document``, in reading order."""
        text = document.text
        runs = _runs(document.blocks)
        chunks: list[Chunk] = []
        carried: list[Block] = []
        for index, run in enumerate(runs):
            following = runs[index + 1] if index + 1 < len(runs) else None
            if (
                following is not None
                and all(block.kind == "heading" for block in run)
                and following[0].headings[: len(run[0].headings)] == run[0].headings
                and following[0].page == run[0].page
            ):
                # A heading with nothing under it but a subsection: it opens that subsection.
                carried.extend(run)
                continue
            chunks.extend(self._pack(text, [*carried, *run], run[-1].headings, run[0].page))
            carried = []
        if carried:
            chunks.extend(self._pack(text, carried, carried[-1].headings, carried[0].page))
        return chunks

    def _budget(self, headings: tuple[str, ...]) -> int:
        """Content tokens a chunk under ``headings`` may hold."""
        label = section_label(headings)
        prefix = self._content_tokens([label])[0] if embedded_text(label, "x") != "x" else 0
        return max(self.max_tokens - self._specials - prefix, 16)

    def _pack(
        self, text: str, blocks: list[Block], headings: tuple[str, ...], page: int | None
    ) -> list[Chunk]:
        budget = self._budget(headings)
        spans = [(block.start, block.end) for block in blocks]
        pieces: list[tuple[int, int, int]] = []  # start, end, content tokens
        for (start, end), tokens in zip(
            spans, self._content_tokens([text[s:e] for s, e in spans]), strict=True
        ):
            if tokens <= budget:
                pieces.append((start, end, tokens))
            else:
                pieces.extend(self._cut(text, start, end, budget, 0))
        chunks: list[Chunk] = []
        current: list[tuple[int, int, int]] = []
        used = 0
        for piece in pieces:
            if current and used + piece[2] > budget:
                chunks.append(self._chunk(text, current, headings, page))
                current, used = [], 0
            current.append(piece)
            used += piece[2]
        if current:
            chunks.append(self._chunk(text, current, headings, page))
        return self._checked(text, chunks, budget)

    def _chunk(
        self,
        text: str,
        pieces: list[tuple[int, int, int]],
        headings: tuple[str, ...],
        page: int | None,
    ) -> Chunk:
        return Chunk(pieces[0][0], pieces[-1][1], headings, page, sum(p[2] for p in pieces))

    def _checked(self, text: str, chunks: list[Chunk], budget: int) -> list[Chunk]:
        """Measure every chunk as the embedder will read it; cut any over the bound again (the
        sum of its pieces' tokens is exact for WordPiece, but other tokenizers may merge)."""
        embedded = [embedded_text(c.section, text[c.start : c.end]) for c in chunks]
        checked: list[Chunk] = []
        for chunk, total in zip(chunks, self.counter.counts(embedded), strict=True):
            if total <= self.max_tokens:
                checked.append(msgspec.structs.replace(chunk, tokens=total))
                continue
            for start, end, _ in self._cut(text, chunk.start, chunk.end, budget - 8, 0):
                tokens = self.counter.count(embedded_text(chunk.section, text[start:end]))
                checked.append(Chunk(start, end, chunk.headings, chunk.page, tokens))
        return checked

    def _cut(
        self, text: str, start: int, end: int, budget: int, level: int
    ) -> list[tuple[int, int, int]]:
        """Pieces of ``text[start:end]`` of at most ``budget`` content tokens each, cut at
        paragraphs (level 0), lines (1), sentences (2), then between words (3)."""
        if level >= 3:
            return self._windows(text, start, end, budget)
        finder = (paragraph_spans, _line_spans, _sentence_spans)[level]
        spans = finder(text, start, end)
        if len(spans) <= 1:
            return self._cut(text, start, end, budget, level + 1)
        pieces: list[tuple[int, int, int]] = []
        counts = self._content_tokens([text[s:e] for s, e in spans])
        for (span_start, span_end), tokens in zip(spans, counts, strict=True):
            if tokens <= budget:
                pieces.append((span_start, span_end, tokens))
            else:
                pieces.extend(self._cut(text, span_start, span_end, budget, level + 1))
        return pieces

    def _windows(self, text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
        """Cut between tokens, at most ``budget`` per window, preferring a cut before a word."""
        spans = self.counter.token_spans(text[start:end])
        pieces: list[tuple[int, int, int]] = []
        first = 0
        while first < len(spans):
            last = min(first + budget, len(spans))
            if last < len(spans):
                # Back off to a token that starts a word (after whitespace), when there is one
                # in the second half of the window: a word is never cut in two unless it is
                # longer than half a chunk.
                cut = last
                while cut > first + budget // 2 and not (
                    spans[cut][0] > 0 and text[start + spans[cut][0] - 1].isspace()
                ):
                    cut -= 1
                if cut > first + budget // 2:
                    last = cut
            piece_start = start + spans[first][0]
            piece_end = start + spans[last - 1][1]
            pieces.append((piece_start, piece_end, last - first))
            first = last
        return pieces


def _runs(blocks: list[Block]) -> list[list[Block]]:
    """Consecutive blocks under the same heading path and on the same page."""
    runs: list[list[Block]] = []
    for block in blocks:
        if runs and (runs[-1][-1].headings, runs[-1][-1].page) == (block.headings, block.page):
            runs[-1].append(block)
        else:
            runs.append([block])
    return runs
