"""``memos import PATH``: recognise the format, read it, write it in one transaction, report.

Formats, recognised from the path and its content: a MemOS cube directory (or its textual memory
JSON file), a Letta agent file (``.af``), a mem0 OpenMemory export zip or mem0's memory list
(``get_all``) as JSON, JSON Lines or CSV. The
records are written with :meth:`MemOS.upsert` -- one transaction, so a failed import leaves the
store as it was; the principal must be allowed to write the cube; importing the same file again
updates rather than duplicates. A memory too long for the embedder is cut into chunks like a
document (MIP-1 §7.1.1), so none is partly invisible to semantic search.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.errors import ImportFormatError, UsageError
from memos_client.interop.files import parse_json, read_bounded
from memos_client.interop.report import ImportBatch, ImportReport

if TYPE_CHECKING:
    from memos_client.runtime import MemOS


def detect_format(path: Path) -> str:
    """``memos``, ``letta``, ``mem0`` (an OpenMemory export), ``mem0-memories`` (mem0's
    ``get_all`` result as JSON), ``jsonl`` or ``csv`` for ``path``."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory: check the path")
    if path.is_dir():
        return "memos"
    suffix = path.suffix.lower()
    if suffix == ".af":
        return "letta"
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".zip" or zipfile.is_zipfile(path):
        return "mem0"
    if suffix == ".json":
        from memos_client.interop.mem0_memories import is_mem0_memories

        document = parse_json(read_bounded(path), str(path))
        if is_mem0_memories(document):
            return "mem0-memories"
        if isinstance(document, str) or (
            isinstance(document, dict) and ("agents" in document or "core_memory" in document)
        ):
            return "letta"
        if (isinstance(document, dict) and "nodes" in document) or (
            isinstance(document, list)
            and all(isinstance(i, dict) and ("memory" in i or "payload" in i) for i in document)
        ):
            return "memos"
    from memos_client.interop.flat import looks_like_jsonl

    if looks_like_jsonl(read_bounded(path)[: 1 << 20]):
        return "jsonl"
    raise UsageError(
        f"{path}: cannot tell its format: give a MemOS cube directory, a Letta .af file, a mem0 "
        "OpenMemory export .zip, or a .jsonl/.csv file of {text, tags, metadata}"
    )


def read_batch(path: Path, format: str, *, messages: bool) -> ImportBatch:
    """Read ``path`` in ``format`` (see :func:`detect_format`)."""
    if format == "memos":
        from memos_client.interop.memos_reader import read_memos

        return read_memos(path)
    if format == "letta":
        from memos_client.interop.letta import read_letta

        return read_letta(path, messages=messages)
    if format == "mem0":
        from memos_client.interop.mem0 import read_mem0

        return read_mem0(path)
    if format == "mem0-memories":
        from memos_client.interop.mem0_memories import read_mem0_memories

        return read_mem0_memories(path)
    from memos_client.interop.flat import read_csv, read_jsonl

    return read_csv(path) if format == "csv" else read_jsonl(path)


def split_long_records(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Records whose text is longer than the embedder reads, cut into chunk records (their
    metadata, tags and state kept, provenance under ``metadata.chunk``); and how many were cut."""
    from memos_client.ingest.chunk_records import chunk_records
    from memos_client.ingest.chunking import StructuralSplitter
    from memos_client.ingest.documents import Block, Document, paragraph_spans
    from memos_client.ingest.tokens import EMBEDDER_MAX_TOKENS, embedder_tokens
    from memos_client.runtime.record_checks import MAX_TEXT_CHARS, content_id
    from memos_client.runtime.store.indexed_text import embedding_text

    try:
        counter = embedder_tokens()
    except UsageError:
        # No tokenizer installed: only what the store cannot take at all has to be cut.
        if any(len(str(r.get("text", ""))) > MAX_TEXT_CHARS for r in records):
            raise
        return records, 0
    texts = [embedding_text(str(r["text"]), r.get("metadata") or {}) for r in records]
    counts = counter.counts(texts)
    splitter = StructuralSplitter(counter)
    out: list[dict[str, Any]] = []
    cut = 0
    for record, count in zip(records, counts, strict=True):
        if count <= EMBEDDER_MAX_TOKENS and len(record["text"]) <= MAX_TEXT_CHARS:
            out.append(record)
            continue
        cut += 1
        text = str(record["text"])
        source = str(record.get("id") or content_id(text))
        document = Document(
            source, "text/plain", text, [Block(s, e) for s, e in paragraph_spans(text)]
        )
        for chunk in chunk_records(
            document, splitter.split(document), stamp="", tokenizer=counter.name
        ):
            piece = {k: v for k, v in record.items() if k not in ("id", "text", "metadata")}
            piece["id"] = chunk["id"]
            piece["text"] = chunk["text"]
            piece["metadata"] = {
                **(record.get("metadata") or {}),
                "chunk": chunk["metadata"]["chunk"],
            }
            out.append(piece)
    return out, cut


def import_path(
    mem: MemOS, path: Path, *, cube: str | None, dry_run: bool, messages: bool
) -> ImportReport:
    """Import ``path`` into ``cube`` (default: named after the source) and report."""
    format = detect_format(path)
    batch = read_batch(path, format, messages=messages)
    records, cut = split_long_records(batch.records)
    if cut:
        batch.ledger.kept("texts longer than the embedder reads", f"{cut} memories cut into chunks")
    target = cube or batch.cube
    try:
        result = mem.upsert(records, cube=target, op="import", dry_run=dry_run)
    except UsageError as exc:
        if type(exc) is UsageError:  # a record the runtime refuses: say which file
            raise ImportFormatError(f"{path}: {exc}") from exc
        raise
    return ImportReport(
        source=str(path),
        format=batch.format,
        cube=result.cube,
        dry_run=dry_run,
        found=batch.found,
        imported=len(records),
        added=len(result.added),
        changed=len(result.changed),
        unchanged=len(result.unchanged),
        fields=batch.ledger.fields,
        dropped=batch.ledger.dropped,
    )
