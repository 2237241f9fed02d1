"""Document chunks as MIP v1 plaintext records (MIP-1 §7.1.1).

Each chunk is one record. Its ``id`` is ``SOURCE#HASH``: the first 16 hex digits of the SHA-256
of the source name, the section label and the chunk's text, so a chunk keeps its id for as long as
its text and place do, and re-adding (or re-packing) a changed file replaces only the chunks that
changed. Provenance goes in ``metadata``: ``source`` and ``section`` at the top (short labels,
indexed with the text) and the rest under ``metadata.chunk``: media type, heading path, character
offsets, PDF page, position and the ids of the previous and next chunk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from memos_client.ingest.chunking import Chunk, StructuralSplitter
from memos_client.ingest.documents import Document, read_document
from memos_client.ingest.tokens import TokenCounter

#: Record ids are at most 256 characters (MIP-1 §7.1); a longer source name is hashed instead.
_MAX_SOURCE_IN_ID = 200


def chunk_id(source: str, section: str, text: str) -> str:
    """``SOURCE#HASH``: stable while the chunk's source, section and text are."""
    digest = hashlib.sha256(f"{source}\n{section}\n{text}".encode()).hexdigest()[:16]
    prefix = source
    if len(source) > _MAX_SOURCE_IN_ID:
        prefix = "sha256-" + hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{prefix}#{digest}"


def chunk_records(
    document: Document,
    chunks: list[Chunk],
    *,
    stamp: str,
    tags: list[str] | None = None,
    tokenizer: str | None = None,
) -> list[dict[str, Any]]:
    """The records of ``document``'s chunks, in reading order, neighbours linked."""
    ids: list[str] = []
    seen: dict[str, int] = {}
    for chunk in chunks:
        base = chunk_id(document.source, chunk.section, document.text[chunk.start : chunk.end])
        # The same text twice under the same heading (a repeated notice): the 2nd is #HASH-2.
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    records = []
    for index, chunk in enumerate(chunks):
        provenance: dict[str, Any] = {
            "source": document.source,
            "media_type": document.media_type,
            "headings": list(chunk.headings),
            "start": chunk.start,
            "end": chunk.end,
            "index": index,
            "count": len(chunks),
            "prev": ids[index - 1] if index > 0 else None,
            "next": ids[index + 1] if index + 1 < len(chunks) else None,
            "tokens": chunk.tokens,
        }
        if chunk.page is not None:
            provenance["page"] = chunk.page
        if document.title:
            provenance["title"] = document.title
        if tokenizer:
            provenance["tokenizer"] = tokenizer
        metadata: dict[str, Any] = {"source": document.source}
        if chunk.section:
            metadata["section"] = chunk.section
        metadata["chunk"] = provenance
        records.append(
            {
                "id": ids[index],
                "text": document.text[chunk.start : chunk.end],
                "tags": list(tags or []),
                "metadata": metadata,
                "created": stamp,
                "updated": stamp,
                "version": 1,
            }
        )
    return records


def file_records(
    path: Path,
    source: str,
    counter: TokenCounter,
    *,
    stamp: str,
    tags: list[str] | None = None,
    max_tokens: int | None = None,
) -> list[dict[str, Any]]:
    """Read, chunk and record one document file (``source`` names it in the records)."""
    document = read_document(path, source)
    splitter = (
        StructuralSplitter(counter)
        if max_tokens is None
        else StructuralSplitter(counter, max_tokens)
    )
    return chunk_records(
        document, splitter.split(document), stamp=stamp, tags=tags, tokenizer=counter.name
    )
