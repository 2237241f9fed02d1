"""``memos add --file/--dir/--messages``: documents and conversations into a runtime cube.

Every file is read and chunked before anything is written, so a bad file stops the command with
nothing added. Each document is then upserted with its chunks as the scope: adding a changed file
again replaces only the chunks that changed and removes those that are gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from memos_client.errors import UsageError
from memos_client.ingest.documents import is_document

if TYPE_CHECKING:
    from memos_client.ingest.messages import Conversation


class UpsertResult(Protocol):
    """What a runtime's upsert reports (record ids by outcome)."""

    added: list[str]
    changed: list[str]
    unchanged: list[str]
    removed: list[str]


class Upserting(Protocol):
    """The runtime method documents are written with (``MemOS.upsert``)."""

    def upsert(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        cube: str,
        scope: tuple[str, Any] | None = None,
        op: str = "upsert",
        dry_run: bool = False,
    ) -> UpsertResult:
        """Write records with stable ids in one transaction (see ``MemOS.upsert``)."""
        ...


#: The metadata path naming a chunk's document (the scope of a document's upsert).
DOCUMENT_SCOPE = "$.chunk.source"


class DocumentReport(msgspec.Struct):
    """What adding one document did."""

    source: str
    chunks: int
    added: int
    changed: int
    unchanged: int
    removed: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


def source_name(path: Path) -> str:
    """How a document is named in its records: its path relative to the working directory
    when it is below it (so ``--file docs/a.md`` and ``--dir docs`` agree), else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def collect_documents(files: list[Path], dirs: list[Path]) -> tuple[list[Path], list[Path]]:
    """The document files to add, in order, and the files under ``dirs`` that are not documents
    (hidden files are passed over silently)."""
    chosen: list[Path] = []
    skipped: list[Path] = []
    for path in files:
        if path.is_dir():
            raise UsageError(f"{path} is a directory: use --dir for a folder of documents")
        if not path.is_file():
            raise UsageError(f"{path}: no such file: check the path")
        chosen.append(path)
    for directory in dirs:
        if not directory.is_dir():
            raise UsageError(f"{directory} is not a directory: check the path")
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            (chosen if is_document(path) else skipped).append(path)
    if not chosen:
        raise UsageError("no documents to add (.md, .txt, .html, .pdf)")
    return list(dict.fromkeys(chosen)), skipped


def add_documents(
    mem: Upserting, paths: list[Path], *, cube: str, tags: list[str]
) -> list[DocumentReport]:
    """Chunk every document, then upsert each one's chunks (scope: its source name)."""
    from memos_client.ingest.chunk_records import file_records
    from memos_client.ingest.tokens import embedder_tokens

    counter = embedder_tokens()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    batches = []
    for path in paths:
        source = source_name(path)
        records = file_records(path, source, counter, stamp=stamp, tags=tags)
        batches.append((source, records))
    reports = []
    for source, records in batches:
        result = mem.upsert(records, cube=cube, scope=(DOCUMENT_SCOPE, source), op="add")
        reports.append(
            DocumentReport(
                source,
                len(records),
                len(result.added),
                len(result.changed),
                len(result.unchanged),
                len(result.removed),
            )
        )
    return reports


def read_conversation(path: Path, session: str | None) -> Conversation:
    """The turns of a messages file (JSON list of messages, or JSON Lines of sessions)."""
    from memos_client.ingest.messages import conversation_records, parse_sessions

    if not path.is_file():
        raise UsageError(f"{path}: no such file: check the path")
    sessions = parse_sessions(path.read_bytes(), str(path))
    default = session if session is not None else path.stem
    return conversation_records(sessions, default_session=default, where=str(path))
