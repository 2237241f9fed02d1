"""What text the indexes see, and how a query becomes an FTS5 MATCH expression.

The FTS5 table uses the Porter stemmer over ``unicode61`` tokens, so ``adopting`` matches
``adoption``'s stem family. Queries are free text: they are split into words, stop words are
dropped (they only add noise to BM25 over conversational text) and the rest are ORed as quoted
terms, so no user input is ever parsed as FTS5 syntax.
"""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

#: Short English function words plus question words: they carry no topic.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "might",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "shall",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "o",
        "re",
        "ve",
        "y",
        "also",
        "ever",
        "get",
        "got",
        "go",
        "going",
        "gone",
        "kind",
        "lot",
        "lots",
        "really",
        "thing",
        "things",
    ]
)

#: Metadata values longer than this are not indexed lexically (they are documents, not labels).
MAX_INDEXED_VALUE = 120


def search_text(text: str, tags: list[str], metadata: dict[str, Any]) -> str:
    """The text the lexical index sees: the memory, its tags and its short string metadata.

    Short metadata values (a speaker, a title, a date) are what a question often names while the
    memory text does not ("What did Caroline say ..." about a turn spoken by Caroline).
    """
    parts = [text, *tags]
    for value in metadata.values():
        if isinstance(value, str) and len(value) <= MAX_INDEXED_VALUE:
            parts.append(value)
    return "\n".join(parts)


def query_terms(query: str) -> list[str]:
    """The distinct content words of a query, lower-cased, in order of appearance."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        word = word.split("'")[0] if word.endswith(("'s", "'t")) else word
        if word in STOP_WORDS or word in terms:
            continue
        terms.append(word)
    return terms


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression ORing the query's content words; ``None`` when it has none."""
    terms = query_terms(query)
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


#: Metadata keys naming who wrote or said a memory; the embedding sees that name with the text.
SPEAKER_KEYS = ("speaker", "author")


def embedding_text(text: str, metadata: dict[str, Any]) -> str:
    """The text the embedder sees: ``"<speaker>: <text>"`` when metadata names a speaker, else
    ``"<section>\n<text>"`` when it names a short document section (a chunk, MIP-1 §7.1.1).

    Who said something is part of its meaning in conversational memory ("what did Caroline
    say about ..."), and a name in front of the text is how such lines are written anyway. A
    chunk's heading path is its context ("Install > Linux"); the chunker counts it within the
    embedder's token bound (``memos_client.ingest.chunking.embedded_text``).
    """
    for key in SPEAKER_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return f"{value.strip()}: {text}"
    section = metadata.get("section")
    if isinstance(section, str) and section and len(section) <= MAX_INDEXED_VALUE:
        return f"{section}\n{text}"
    return text
