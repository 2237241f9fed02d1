"""The structural splitter: a document's blocks packed into chunks bounded in embedder tokens.

A chunk never crosses a heading (or a PDF page): blocks under the same heading path are packed
greedily, in order, while the embedded text -- the section label and the chunk's text, as
:func:`memos_client.runtime.retrieval.lexical.embedding_text` joins them -- stays within ``max_tokens``
word pieces of the embedder, special tokens included. A heading line is a block of its own, so it
is part of the first chunk of its section; a section holding only a heading joins the section
below it. A block too long for one chunk is cut at the finest structure that fits: paragraphs,
then lines, then sentences, then whole words (token windows). Every chunk is a contiguous span of
the document's text: nothing is dropped, nothing rewritten.

Why this and not semchunk or chonkie: docs/adr/0015-document-chunking.md (measured).
"""

from __future__ import annotations

import re
from bisect import bisect_left

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


#: A stretch of text: start, end, content tokens, whether that count is exact standalone.
_Piece = tuple[int, int, int, bool]


class _TokenIndex:
    """Where the embedder's tokens of a document fall: a span's count is a lookup, not a call
    to the tokenizer (a WordPiece token never spans whitespace, so the tokens of a slice that
    starts and ends at whitespace or text bounds are exactly those inside it)."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = spans
        self.starts = [start for start, _ in spans]

    def count(self, start: int, end: int) -> int:
        return bisect_left(self.starts, end) - bisect_left(self.starts, start)

    def within(self, start: int, end: int) -> list[tuple[int, int]]:
        return self.spans[bisect_left(self.starts, start) : bisect_left(self.starts, end)]


class StructuralSplitter:
    """Packs a document's blocks into chunks of at most ``max_tokens`` embedder tokens."""

    def __init__(self, counter: TokenCounter, max_tokens: int = EMBEDDER_MAX_TOKENS) -> None:
        self.counter = counter
        self.max_tokens = max_tokens
        self._specials = counter.count("")
        self._labels: dict[tuple[str, ...], int] = {}
        if max_tokens < self._specials + 16:
            raise ValueError(f"max_tokens {max_tokens} leaves no room for text")

    def split(self, document: Document) -> list[Chunk]:
        """The chunks of ``document``, in reading order."""
        text = document.text
        # The document is tokenized once; every count below is a lookup in this index.
        index = _TokenIndex(self.counter.token_spans(text))
        runs = _runs(document.blocks)
        chunks: list[tuple[Chunk, bool]] = []
        carried: list[Block] = []
        for position, run in enumerate(runs):
            following = runs[position + 1] if position + 1 < len(runs) else None
            if (
                following is not None
                and all(block.kind == "heading" for block in run)
                and following[0].headings[: len(run[0].headings)] == run[0].headings
                and following[0].page == run[0].page
            ):
                # A heading with nothing under it but a subsection: it opens that subsection.
                carried.extend(run)
                continue
            blocks = [*carried, *run]
            chunks.extend(self._pack(text, index, blocks, run[-1].headings, run[0].page))
            carried = []
        if carried:
            chunks.extend(self._pack(text, index, carried, carried[-1].headings, carried[0].page))
        return self._checked(text, index, chunks)

    def _budget(self, headings: tuple[str, ...]) -> int:
        """Content tokens a chunk under ``headings`` may hold (the section label's counted)."""
        prefix = self._labels.get(headings)
        if prefix is None:
            label = section_label(headings)
            prefix = 0
            if embedded_text(label, "x") != "x":
                prefix = self.counter.count(label) - self._specials
            self._labels[headings] = prefix
        return max(self.max_tokens - self._specials - prefix, 16)

    def _pack(
        self,
        text: str,
        index: _TokenIndex,
        blocks: list[Block],
        headings: tuple[str, ...],
        page: int | None,
    ) -> list[tuple[Chunk, bool]]:
        budget = self._budget(headings)
        pieces: list[_Piece] = []
        for block in blocks:
            tokens = index.count(block.start, block.end)
            if tokens <= budget:
                pieces.append((block.start, block.end, tokens, True))
            else:
                pieces.extend(self._cut(text, index, block.start, block.end, budget, 0))
        chunks: list[tuple[Chunk, bool]] = []
        current: list[_Piece] = []
        used = 0
        for piece in pieces:
            if current and used + piece[2] > budget:
                chunks.append(_chunk(current, headings, page))
                current, used = [], 0
            current.append(piece)
            used += piece[2]
        if current:
            chunks.append(_chunk(current, headings, page))
        return chunks

    def _checked(
        self, text: str, index: _TokenIndex, chunks: list[tuple[Chunk, bool]]
    ) -> list[Chunk]:
        """Every chunk's embedded token count, exact. A chunk whose ends fall between words
        tokenizes alone as it does inside the document (WordPiece never joins across
        whitespace), so its count is its tokens plus the label's and the specials. A chunk cut
        inside a word is measured by the tokenizer itself, and cut again if it is over."""
        checked: list[Chunk] = []
        inexact = [chunk for chunk, exact in chunks if not exact]
        measured = dict(
            zip(
                [(c.start, c.end) for c in inexact],
                self.counter.counts(
                    [embedded_text(c.section, text[c.start : c.end]) for c in inexact]
                ),
                strict=True,
            )
        )
        for chunk, exact in chunks:
            if exact:
                total = self.max_tokens - self._budget(chunk.headings) + chunk.tokens
            else:
                total = measured[(chunk.start, chunk.end)]
            if total <= self.max_tokens:
                checked.append(msgspec.structs.replace(chunk, tokens=total))
                continue
            budget = self._budget(chunk.headings) - (total - self.max_tokens) - 8
            for start, end, _, _ in self._windows(text, index, chunk.start, chunk.end, budget):
                tokens = self.counter.count(embedded_text(chunk.section, text[start:end]))
                checked.append(Chunk(start, end, chunk.headings, chunk.page, tokens))
        return checked

    def _cut(
        self, text: str, index: _TokenIndex, start: int, end: int, budget: int, level: int
    ) -> list[_Piece]:
        """Pieces of ``text[start:end]`` of at most ``budget`` content tokens each, cut at
        paragraphs (level 0), lines (1), sentences (2), then between words (3)."""
        if level >= 3:
            return self._windows(text, index, start, end, budget)
        finder = (paragraph_spans, _line_spans, _sentence_spans)[level]
        spans = finder(text, start, end)
        if len(spans) <= 1:
            return self._cut(text, index, start, end, budget, level + 1)
        pieces: list[_Piece] = []
        for span_start, span_end in spans:
            tokens = index.count(span_start, span_end)
            if tokens <= budget:
                pieces.append((span_start, span_end, tokens, True))
            else:
                pieces.extend(self._cut(text, index, span_start, span_end, budget, level + 1))
        return pieces

    def _windows(
        self, text: str, index: _TokenIndex, start: int, end: int, budget: int
    ) -> list[_Piece]:
        """Cut between tokens, at most ``budget`` per window, preferring a cut before a word."""
        spans = index.within(start, end)
        pieces: list[_Piece] = []
        first = 0
        while first < len(spans):
            last = min(first + budget, len(spans))
            if last < len(spans):
                # Back off to a token that starts a word (after whitespace), when there is one
                # in the second half of the window: a word is never cut in two unless it is
                # longer than half a chunk.
                cut = last
                while cut > first + budget // 2 and not (
                    spans[cut][0] > 0 and text[spans[cut][0] - 1].isspace()
                ):
                    cut -= 1
                if cut > first + budget // 2:
                    last = cut
            piece_start, piece_end = spans[first][0], spans[last - 1][1]
            # Exact when both ends are between words (whitespace or the slice's own bounds).
            exact = (piece_start == start or text[piece_start - 1].isspace()) and (
                piece_end == end or text[piece_end].isspace()
            )
            pieces.append((piece_start, piece_end, last - first, exact))
            first = last
        return pieces


def _chunk(pieces: list[_Piece], headings: tuple[str, ...], page: int | None) -> tuple[Chunk, bool]:
    """A chunk of ``pieces`` (its ``tokens``: content tokens until checked) and whether its
    count is exact."""
    chunk = Chunk(pieces[0][0], pieces[-1][1], headings, page, sum(p[2] for p in pieces))
    return chunk, all(p[3] for p in pieces)


def _runs(blocks: list[Block]) -> list[list[Block]]:
    """Consecutive blocks under the same heading path and on the same page."""
    runs: list[list[Block]] = []
    for block in blocks:
        if runs and (runs[-1][-1].headings, runs[-1][-1].page) == (block.headings, block.page):
            runs[-1].append(block)
        else:
            runs.append([block])
    return runs
