"""How a query becomes an FTS5 MATCH expression (what text the indexes see is
:mod:`memos_client.runtime.store.indexed_text`).

The FTS5 table uses the Porter stemmer over ``unicode61`` tokens, so ``adopting`` matches
``adoption``'s stem family. Queries are free text: they are split into words, stop words are
dropped (they only add noise to BM25 over conversational text) and the rest are ORed as quoted
terms, so no user input is ever parsed as FTS5 syntax.
"""

from __future__ import annotations

import re

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
