"""Reading a cube source directory: ``memcube.toml``, ``memories/``, ``activations/``, ``adapters/``.

Layout (see docs/cube-source.md)::

    memcube.toml                 [cube] name, version, description, license, keywords, authors,
                                        homepage, repository (the card's links)
    README.md                    the cube's card (MIP-1 §5.4), shown on the registry's page
                                 [dependencies] "ns/other" = ">=1.0"
                                 [governance] sensitivity, ttl_seconds, expires_at, [governance.access]
    memories/**/*.jsonl          one memory per line: {"text": ..., "tags": [...], "metadata": {...}}
    memories/**/*.md|.txt|.html|.pdf  documents, cut into chunks (MIP-1 §7.1.1)
    activations/NAME.safetensors KV snapshots (self-describing, MIP-1 §7.2)
    adapters/NAME/               PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors

Every problem found is reported together in one :class:`SourceError`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from memos_client.errors import DocumentError, SourceError
from memos_client.ingest.documents import MEDIA_TYPES, is_document
from mip.limits import MAX_CARD_README_CHARS
from mip.models import url_problem
from mip.records import RECORD_STATES, content_problems

MANIFEST_FILE = "memcube.toml"
README_FILE = "README.md"
_CARD_KEYS = ("homepage", "repository")
_CUBE_KEYS = {"name", "version", "description", "license", "keywords", "authors", "created"}
_CUBE_KEYS |= set(_CARD_KEYS)


class CubeSource(msgspec.Struct):
    """A parsed source directory, ready to pack."""

    root: Path
    cube: dict[str, Any]
    dependencies: dict[str, str]
    governance: dict[str, Any]
    memory_files: list[Path] = msgspec.field(default_factory=list)
    activation_files: list[Path] = msgspec.field(default_factory=list)
    adapter_dirs: list[Path] = msgspec.field(default_factory=list)
    #: The manifest's ``card`` (MIP-1 §5.4): README text and links; ``None`` when there is none.
    card: dict[str, str] | None = None


def load_source(root: Path) -> CubeSource:
    """Parse ``memcube.toml`` and list the payload files; raise :class:`SourceError` on problems."""
    if not root.is_dir():
        raise SourceError(f"{root} is not a directory: pass a cube source directory (memos init)")
    toml_path = root / MANIFEST_FILE
    try:
        document = tomllib.loads(toml_path.read_text("utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{toml_path} is missing: create it with `memos init`") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"{toml_path}: not valid TOML ({exc})") from exc
    problems: list[str] = []
    cube = document.get("cube")
    if not isinstance(cube, dict):
        raise SourceError(f"{toml_path}: the [cube] table is missing")
    for key in sorted(set(cube) - _CUBE_KEYS):
        problems.append(f"[cube] has unknown key {key!r}")
    for key in ("name", "version"):
        if not isinstance(cube.get(key), str):
            problems.append(f"[cube] {key} is required and must be a string")
    for key in _CARD_KEYS:
        value = cube.get(key)
        problem = "must be a string" if not isinstance(value, str) else url_problem(value)
        if key in cube and problem is not None:
            problems.append(f"[cube] {key} {problem}")
    dependencies = document.get("dependencies", {})
    if not isinstance(dependencies, dict) or not all(
        isinstance(v, str) for v in dependencies.values()
    ):
        problems.append('[dependencies] must map "ns/name" to a version specifier string')
        dependencies = {}
    governance = document.get("governance", {})
    if not isinstance(governance, dict):
        problems.append("[governance] must be a table")
        governance = {}
    for key in sorted(set(document) - {"cube", "dependencies", "governance"}):
        problems.append(f"unknown table [{key}]")
    if problems:
        raise SourceError(f"{toml_path}: " + "; ".join(problems))
    memories, activations, adapters = (root / n for n in ("memories", "activations", "adapters"))
    for folder in (memories, activations, adapters):
        if os.path.lexists(folder) and not folder.is_dir():
            problems.append(f"{folder.name} must be a directory")
    memory_candidates = []
    if memories.is_dir():
        for path in sorted(memories.rglob("*")):
            relative = path.relative_to(memories)
            if any(part.startswith(".") for part in relative.parts) or path.is_dir():
                continue  # .gitkeep, .DS_Store, editor swap files: not content
            if path.suffix == ".jsonl" or is_document(path):
                memory_candidates.append(path)
            else:
                problems.append(
                    f"memories/{relative.as_posix()} is not a memory file (use .jsonl, "
                    f"{', '.join(sorted(MEDIA_TYPES))}): move it out of memories/"
                )
    activation_files = sorted(activations.glob("*.safetensors")) if activations.is_dir() else []
    adapter_dirs = sorted(p for p in adapters.iterdir() if p.is_dir()) if adapters.is_dir() else []
    readme = root / README_FILE
    inputs = [*memory_candidates, *activation_files, *([readme] if os.path.lexists(readme) else [])]
    inputs += [p for directory in adapter_dirs for p in sorted(directory.iterdir())]
    inside = root.resolve()
    for path in inputs:
        relative = path.relative_to(root)
        if path.is_symlink() and not path.exists():
            problems.append(f"{relative} is a broken link")
        elif not path.resolve().is_relative_to(inside):
            # Packing follows links, so one pointing outside would publish that file's content.
            problems.append(f"{relative} links outside the cube source: copy the file in instead")
    if problems:
        raise SourceError(f"{root}: " + "; ".join(problems))
    memory_files = [p for p in memory_candidates if p.is_file()]
    card = _card(readme, {key: cube.pop(key) for key in _CARD_KEYS if key in cube})
    return CubeSource(
        root, cube, dependencies, governance, memory_files, activation_files, adapter_dirs, card
    )


def _card(readme: Path, links: dict[str, str]) -> dict[str, str] | None:
    """The manifest's ``card``: ``README.md`` (whole, never cut) and the links of ``[cube]``."""
    if not os.path.lexists(readme):
        return {**links} if links else None
    limit = MAX_CARD_README_CHARS
    # A character is at most 4 UTF-8 bytes: a larger file cannot fit, whatever it holds.
    if not readme.is_file():
        raise SourceError(f"{readme}: must be a file (the cube's card, in Markdown)")
    if readme.stat().st_size > 4 * limit:
        raise SourceError(
            f"{readme}: a cube card holds at most {limit:,} characters "
            f"({readme.stat().st_size:,} bytes): shorten it"
        )
    try:
        text = readme.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{readme}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if len(text) > limit:
        raise SourceError(
            f"{readme}: {len(text):,} characters, over the {limit:,} a cube card holds "
            "(MIP-1 §5.4): shorten it or move the rest into memories/"
        )
    return {"readme": text, **links}


def iter_source_records(source: CubeSource, timestamp: datetime) -> Iterator[dict[str, Any]]:
    """The memory records of the source, in a stable order, with stable ids.

    A JSONL line may give its own ``id``; otherwise the id is ``PATH:LINE`` (``PATH`` relative to
    ``memories/``). A document's chunks have ids ``PATH#HASH`` (MIP-1 §7.1.1).
    """
    stamp = timestamp.isoformat().replace("+00:00", "Z")
    memories = source.root / "memories"
    problems: list[str] = []
    for path in source.memory_files:
        relative = path.relative_to(memories).as_posix()
        if path.suffix != ".jsonl":
            try:
                yield from document_records(path, relative, stamp)
            except DocumentError as exc:
                problems.append(str(exc))
            continue
        with open(path, encoding="utf-8", errors="strict") as handle:
            try:
                lines = list(handle)
            except UnicodeDecodeError:
                problems.append(f"{relative}: not UTF-8 text")
                continue
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{relative}:{number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: not valid JSON ({exc.msg})")
                continue
            except RecursionError:
                problems.append(f"{where}: JSON nested too deeply")
                continue
            try:
                json.dumps(item, ensure_ascii=False).encode("utf-8")
            except (UnicodeEncodeError, RecursionError):
                problems.append(f"{where}: not valid Unicode text (an unpaired surrogate escape)")
                continue
            record = _jsonl_record(item, where, stamp, problems)
            if record is not None:
                yield record
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise SourceError(f"invalid memories: {shown}")


def document_records(path: Path, relative: str, stamp: str) -> list[dict[str, Any]]:
    """The chunk records of the document ``memories/<relative>`` (empty for an empty file)."""
    from memos_client.ingest.chunk_records import file_records
    from memos_client.ingest.tokens import embedder_tokens

    if not path.read_bytes().strip():
        return []
    return file_records(path, relative, embedder_tokens(), stamp=stamp)


def _jsonl_record(item: Any, where: str, stamp: str, problems: list[str]) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: expected a JSON object")
        return None
    text, tags, metadata = item.get("text"), item.get("tags", []), item.get("metadata", {})
    unknown = sorted(set(item) - _JSONL_KEYS)
    bad = []
    if not isinstance(text, str) or not text.strip():
        bad.append("'text' must be a non-empty string")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        bad.append("'tags' must be a list of strings")
    if not isinstance(metadata, dict):
        bad.append("'metadata' must be an object")
    if unknown:
        bad.append(f"unknown keys {', '.join(unknown)}")
    memory_id = item.get("id", where)
    if not isinstance(memory_id, str) or not 0 < len(memory_id) <= 256:
        bad.append("'id' must be a string of 1 to 256 characters")
    version = item.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        bad.append("'version' must be an integer >= 1")
    times = {key: item.get(key, stamp) for key in ("created", "updated")}
    for key, value in times.items():
        if not isinstance(value, str) or not _is_rfc3339(value):
            bad.append(f"'{key}' must be an RFC 3339 timestamp")
    state = item.get("state")
    if state is not None and state not in RECORD_STATES:
        bad.append("'state' must be generated, activated or archived")
    # The protocol's content rules (MIP-1 §9): what an install would refuse is refused here,
    # with the file and line, not after a publish and a download.
    bad.extend(
        problem
        for problem in content_problems(item)
        if not problem.startswith(("'state'", "'text' must not be empty"))
    )
    extra = item.get("extra", {})
    if not isinstance(extra, dict) or set(extra) & _JSONL_KEYS:
        bad.append("'extra' must be an object of keys other than the record's own")
    if bad:
        problems.append(f"{where}: " + "; ".join(bad))
        return None
    assert isinstance(text, str)  # checked above; narrows the type for mypy
    record = _record(memory_id, text, tags, metadata, stamp, version)
    record.update(times)
    # Unknown record keys travel through a source as `extra` (MIP-1 §7.1: preserved).
    record.update(extra)
    if state is not None:
        record["state"] = state
    return record


#: The keys of a JSONL memory line (docs/tutorial.md, "cube sources").
_JSONL_KEYS = frozenset(
    {"id", "text", "tags", "metadata", "version", "created", "updated", "state", "extra"}
)


def _is_rfc3339(value: str) -> bool:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment.tzinfo is not None


def _record(
    memory_id: str, text: str, tags: list[str], metadata: dict[str, Any], stamp: str, version: int
) -> dict[str, Any]:
    return {
        "id": memory_id,
        "text": text,
        "tags": tags,
        "metadata": metadata,
        "created": stamp,
        "updated": stamp,
        "version": version,
    }
