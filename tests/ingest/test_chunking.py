"""The structural splitter: every chunk fits the embedder, nothing is lost, ids are stable."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memos_client.ingest.chunk_records import chunk_id, chunk_records
from memos_client.ingest.chunking import StructuralSplitter, embedded_text
from memos_client.ingest.documents import Document, parse_document
from memos_client.ingest.tokens import EMBEDDER_MAX_TOKENS, WordPieceCounter
from memos_client.runtime.store.indexed_text import embedding_text

WORDS = [
    "memory",
    "cube",
    "registry",
    "snapshot",
    "adapter",
    "lifecycle",
    "governance",
    "retrieval",
    "budget",
]


def long_markdown(paragraphs: int, seed: int = 0) -> str:
    """A Markdown document of sections with paragraphs of various lengths."""
    rng = random.Random(seed)
    parts = ["# Handbook\n"]
    for index in range(paragraphs):
        if index % 7 == 0:
            parts.append(f"## Part {index // 7}\n")
        if index % 11 == 5:
            parts.append(f"### Detail {index}\n")
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 400))]
        parts.append(" ".join(words).capitalize() + ".\n")
    return "\n".join(parts)


def chunks_of(
    text: str, counter: WordPieceCounter, media: str = "text/markdown"
) -> tuple[Document, list]:  # type: ignore[type-arg]
    document = parse_document(text.encode(), "doc.md", media)
    return document, StructuralSplitter(counter).split(document)


def assert_fits_and_covers(document: Document, chunks: list, counter: WordPieceCounter) -> None:  # type: ignore[type-arg]
    """Every chunk within 256 embedder tokens as the runtime embeds it; chunks in order, not
    overlapping, and together holding every non-space character of the document."""
    for chunk in chunks:
        text = document.text[chunk.start : chunk.end]
        embedded = embedding_text(text, {"section": chunk.section} if chunk.section else {})
        assert counter.count(embedded) <= EMBEDDER_MAX_TOKENS
        assert chunk.tokens == counter.count(embedded)
    spans = [(chunk.start, chunk.end) for chunk in chunks]
    assert spans == sorted(spans)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    inside = "".join(document.text[s:e] for s, e in spans)
    assert "".join(inside.split()) == "".join(document.text.split())


def test_a_50k_character_document_fits_the_embedder_and_loses_nothing(
    counter: WordPieceCounter,
) -> None:
    text = long_markdown(120)
    assert len(text) > 50_000
    document, chunks = chunks_of(text, counter)
    assert_fits_and_covers(document, chunks, counter)
    # Packed, not one chunk per paragraph: most chunks use most of the budget.
    assert sum(chunk.tokens for chunk in chunks) / len(chunks) > 120


def test_chunks_never_cross_a_heading(counter: WordPieceCounter) -> None:
    document, chunks = chunks_of(long_markdown(60, seed=3), counter)
    for chunk in chunks:
        body = document.text[chunk.start : chunk.end]
        # Headings may only open a chunk (a heading-only section opens its subsection):
        # after the first line of prose, none.
        lines = [line for line in body.split("\n") if line.strip()]
        prose = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
        assert not any(line.startswith("#") for line in lines[prose:]), body[:80]


def test_a_heading_with_only_a_subsection_opens_it(counter: WordPieceCounter) -> None:
    document, chunks = chunks_of("# Guide\n\n## Install\n\nRun the installer.\n", counter)
    assert len(chunks) == 1
    assert document.text[chunks[0].start : chunks[0].end].startswith("# Guide")
    assert chunks[0].section == "Guide > Install"


@pytest.mark.parametrize(
    "body",
    [
        " ".join(["unpunctuated"] * 3000),  # one paragraph, one line, one sentence
        "-".join(random.Random(1).choice(WORDS) for _ in range(3000)),  # no space at all
        "\n".join(f"line {i} " + "x" * 30 for i in range(800)),  # many short lines
        "日本語の文章です。" * 2000,  # CJK: a token per character
    ],
    ids=["one-sentence", "one-word", "lines", "cjk"],
)
def test_text_without_structure_is_cut_within_the_bound(
    counter: WordPieceCounter, body: str
) -> None:
    document, chunks = chunks_of(body, counter, "text/plain")
    assert len(chunks) > 1
    assert_fits_and_covers(document, chunks, counter)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(
                alphabet=st.characters(
                    codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"
                ),
                max_size=400,
            ),
            st.sampled_from(["# Title", "## Sub", "", "- item", "```", "> quote"]),
        ),
        max_size=40,
    )
)
def test_any_markdown_fits_and_covers(lines: list[str]) -> None:
    from memos_client.ingest.tokens import embedder_tokens

    counter = embedder_tokens()
    document, chunks = chunks_of("\n".join(lines), counter)
    assert_fits_and_covers(document, chunks, counter)


def test_the_chunker_measures_what_the_runtime_embeds() -> None:
    for section in ["", "Guide > Install", "x" * 121]:
        metadata = {"section": section} if section else {}
        assert embedded_text(section, "body") == embedding_text("body", metadata)


def test_ids_are_stable_and_a_change_replaces_only_its_chunk(counter: WordPieceCounter) -> None:
    text = long_markdown(40, seed=7)
    document, chunks = chunks_of(text, counter)
    first = chunk_records(document, chunks, stamp="2026-01-01T00:00:00Z")
    again = chunk_records(*chunks_of(text, counter), stamp="2026-02-01T00:00:00Z")
    assert [r["id"] for r in first] == [r["id"] for r in again]
    # A word added to a chunk with room for it: that chunk alone gets a new id.
    target = next(r for r in first[len(first) // 2 :] if r["metadata"]["chunk"]["tokens"] < 240)
    at = target["metadata"]["chunk"]["start"] + target["text"].index(" ")
    edited = chunk_records(
        *chunks_of(text[:at] + " edited" + text[at:], counter), stamp="2026-02-01T00:00:00Z"
    )
    before, after = {r["id"] for r in first}, {r["id"] for r in edited}
    assert before - after == {target["id"]}
    assert len(after - before) == 1


def test_a_longer_change_stays_within_its_section(counter: WordPieceCounter) -> None:
    text = long_markdown(40, seed=7)
    first = chunk_records(*chunks_of(text, counter), stamp="2026-01-01T00:00:00Z")
    target = first[len(first) // 2]
    at = target["metadata"]["chunk"]["start"] + target["text"].index(" ")
    edited = chunk_records(
        *chunks_of(text[:at] + " more words" * 60 + text[at:], counter),
        stamp="2026-02-01T00:00:00Z",
    )
    after = {r["id"] for r in edited}
    gone = [r for r in first if r["id"] not in after]
    assert gone
    assert {r["metadata"].get("section") for r in gone} == {target["metadata"].get("section")}


def test_records_carry_provenance_and_neighbours(counter: WordPieceCounter) -> None:
    document, chunks = chunks_of(long_markdown(30, seed=2), counter)
    records = chunk_records(document, chunks, stamp="2026-01-01T00:00:00Z", tags=["kb"])
    ids = [record["id"] for record in records]
    for index, record in enumerate(records):
        provenance = record["metadata"]["chunk"]
        assert record["text"] == document.text[provenance["start"] : provenance["end"]]
        assert provenance["index"] == index
        assert provenance["count"] == len(records)
        assert provenance["prev"] == (ids[index - 1] if index else None)
        assert provenance["next"] == (ids[index + 1] if index + 1 < len(ids) else None)
        assert record["metadata"]["source"] == "doc.md"
        assert record["id"].startswith("doc.md#")
        assert record["tags"] == ["kb"]
    assert records[-1]["metadata"]["section"].startswith("Handbook > Part")


def test_a_repeated_paragraph_gets_its_own_id(counter: WordPieceCounter) -> None:
    text = "# Notice\n\n" + ("Read the notice. " * 200 + "\n\n") * 3
    document, chunks = chunks_of(text, counter)
    ids = [record["id"] for record in chunk_records(document, chunks, stamp="2026-01-01T00:00:00Z")]
    assert len(ids) == len(set(ids))
    assert any(identifier.endswith("-2") for identifier in ids)


def test_long_source_names_are_hashed_in_ids() -> None:
    identifier = chunk_id("d/" * 150 + "x.md", "", "text")
    assert len(identifier) <= 256
    assert identifier.startswith("sha256-")
