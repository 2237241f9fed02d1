"""What text the indexes see: the lexical index's text of a memory and the embedder's.

The store writes both when it writes a memory (the FTS5 table and the embedding digest), and
retrieval reads them back, so they live with the store, below retrieval.
"""

from __future__ import annotations

from typing import Any

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
