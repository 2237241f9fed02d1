"""``memos import`` of a MemOS (MemTensor) cube directory or textual memory file.

The layout is MemOS's own (``GeneralMemCube.dump``): ``config.json`` (a ``GeneralMemCubeConfig``:
``text_mem``/``act_mem``/``para_mem``/``pref_mem``, each ``{"backend", "config"}`` with a
``memory_filename``) and the textual memory file, ``textual_memory.json`` by default, in the form
its backend dumps it:

- ``naive_text``: a JSON list of ``TextualMemoryItem`` dumps ``{"id", "memory", "metadata"}``;
- ``general_text``: a list of vector-DB items ``{"id", "vector", "payload": {"id", "memory",
  "metadata"}}``;
- ``tree_text``: the graph export ``{"nodes": [{"id", "memory", "metadata"}], "edges":
  [{"source", "target", "type"}]}``.

The shape is recognised from the data, so a file whose config is missing still reads. Each item's
``metadata`` (``TextualMemoryMetadata`` and its tree variant) maps field by field (see
:data:`_FIELDS`). Never done: loading a pickle (``activation_memory.pickle`` and any other -- a
pickle runs code when loaded), copying ``config.json`` (it holds LLM settings and API keys; each
key found is reported as dropped).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from memos_client.errors import ImportFormatError
from memos_client.ingest.messages import rfc3339
from memos_client.interop.files import field_error, parse_json, read_bounded, string_list
from memos_client.interop.report import ImportBatch, Ledger, derived_cube_name

DEFAULT_MEMORY_FILE = "textual_memory.json"
_PICKLE_SUFFIXES = (".pickle", ".pkl", ".pt", ".bin")
#: Config keys that hold credentials (``api_key``, ``backup_api_key``, ``password``...), not
#: settings that merely mention tokens (``max_tokens``).
_SECRET_KEY = re.compile(
    r"(?:^|[_-])(?:api[_-]?key|apikey|secret|password|passwd|authorization|credentials?"
    r"|access[_-]?key|private[_-]?key|token)$",
    re.IGNORECASE,
)
#: MemOS metadata field -> where it goes (``metadata.X`` or a record field).
_FIELDS = {
    "type": "metadata.type",
    "key": "metadata.key",
    "memory_time": "metadata.memory_time",
    "confidence": "metadata.confidence",
    "source": "metadata.source",
    "visibility": "metadata.visibility",
    "user_id": "metadata.user_id",
    "session_id": "metadata.session_id",
    "history": "metadata.history",
    "memory_type": "metadata.memory_type",
    "sources": "metadata.sources",
    "background": "metadata.background",
    "usage": "metadata.usage",
    "file_ids": "metadata.file_ids",
    "evolve_to": "metadata.evolve_to",
    "covered_history": "metadata.covered_history",
    "working_binding": "metadata.working_binding",
    "is_fast": "metadata.is_fast",
    "internal_info": "metadata.internal_info",
    "updated_at": "metadata.updated_at",
    "version": "metadata.memos_version",
    "preference_type": "metadata.preference_type",
    "preference": "metadata.preference",
    "dialog_id": "metadata.dialog_id",
    "original_text": "metadata.original_text",
    "mem_cube_id": "metadata.mem_cube_id",
}
_DROPPED_FIELDS = {
    "embedding": "a vector of MemOS's embedder: memories are embedded again by this runtime",
    "relativity": "a search score, not content",
    "score": "a search score, not content",
}
#: The top level of a tree memory's graph export, besides nodes and edges.
_GRAPH_FIELDS = {
    "total_nodes": "a count: recomputed",
    "total_edges": "a count: recomputed",
}
#: A general_text item (``VecDBItem``), besides its id and payload.
_VECTOR_ITEM_FIELDS = {
    "vector": "a vector of MemOS's embedder: embedded again by this runtime",
    "score": "a search score, not content",
}
#: An edge of a tree memory's graph, besides source, target and type.
_EDGE_FIELDS: dict[str, str] = {}
_STATUS = {"activated": "generated", "resolving": "generated", "archived": "archived"}


def _secrets(value: Any, path: str) -> list[str]:
    """The paths of non-empty secret-looking keys in a config (never their values)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SECRET_KEY.search(key) and inner not in (None, ""):
                found.append(where)
            else:
                found.extend(_secrets(inner, where))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_secrets(inner, f"{path}[{index}]"))
    return found


def _config(directory: Path, ledger: Ledger) -> dict[str, Any]:
    path = directory / "config.json"
    if not path.is_file():
        return {}
    config = parse_json(read_bounded(path), str(path))
    if not isinstance(config, dict):
        raise ImportFormatError(f"{path}: expected a JSON object (a MemOS GeneralMemCubeConfig)")
    schema = config.get("model_schema")
    if schema is not None and not (isinstance(schema, str) and schema.endswith("MemCubeConfig")):
        raise field_error(str(path), "model_schema", f"{schema!r} is not a MemOS cube config")
    ledger.drop(
        "config.json",
        "MemOS's LLM, embedder and database settings: this runtime has its own",
        advice="nothing in it is copied",
    )
    for secret in _secrets(config, ""):
        ledger.drop(f"config.json {secret}", "a credential: never copied anywhere")
    return config


def _backend(config: dict[str, Any], which: str) -> tuple[str, str | None]:
    section = config.get(which)
    if not isinstance(section, dict):
        return "uninitialized", None
    backend = section.get("backend")
    inner = section.get("config")
    filename = inner.get("memory_filename") if isinstance(inner, dict) else None
    return (
        backend if isinstance(backend, str) else "uninitialized",
        filename if isinstance(filename, str) else None,
    )


def _items(document: Any, where: str, ledger: Ledger) -> tuple[list[Any], list[Any]]:
    """The memory items and graph edges of a textual memory dump, whatever its backend."""
    if isinstance(document, dict) and "nodes" in document:
        nodes, edges = document.get("nodes"), document.get("edges") or []
        if not isinstance(nodes, list):
            raise field_error(where, "nodes", "must be a list")
        if not isinstance(edges, list):
            raise field_error(where, "edges", "must be a list")
        ledger.rest("", document, ("nodes", "edges"), _GRAPH_FIELDS)
        return nodes, edges
    if not isinstance(document, list):
        raise ImportFormatError(
            f"{where}: expected a list of memories or a tree memory export with 'nodes', "
            f"got {type(document).__name__}"
        )
    items = []
    for index, item in enumerate(document):
        if isinstance(item, dict) and "payload" in item and "memory" not in item:
            payload = item["payload"]
            if not isinstance(payload, dict):
                raise field_error(where, f"[{index}].payload", "must be an object")
            ledger.rest("", item, ("id", "payload"), _VECTOR_ITEM_FIELDS)
            items.append({"id": item.get("id"), **payload})
        else:
            items.append(item)
    return items, []


def _record(item: Any, index: int, where: str, ledger: Ledger) -> dict[str, Any] | None:
    at = f"[{index}]"
    if not isinstance(item, dict):
        raise field_error(where, at, f"expected an object, got {type(item).__name__}")
    memory_id, text, metadata = item.get("id"), item.get("memory"), item.get("metadata", {})
    if memory_id is not None and (not isinstance(memory_id, str) or not memory_id.strip()):
        raise field_error(where, f"{at}.id", "must be a non-empty string")
    if not isinstance(text, str):
        raise field_error(where, f"{at}.memory", "must be a string")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise field_error(where, f"{at}.metadata", "must be an object")
    if not text.strip():
        ledger.drop("memories with empty text", "nothing to remember")
        return None
    ledger.rest("", item, ("id", "memory", "metadata"), {})
    status = metadata.get("status") or "activated"
    if not isinstance(status, str):
        raise field_error(where, f"{at}.metadata.status", "must be a string")
    if status == "deleted":
        ledger.drop("memories with status 'deleted'", "deleted in MemOS")
        return None
    if status not in _STATUS:
        raise field_error(where, f"{at}.metadata.status", f"unknown status {status!r}")
    if memory_id is not None:
        ledger.kept("id", "id")
    ledger.kept("memory", "text")
    ledger.kept("metadata.status", "state")
    # No id (MemOS makes one up when it loads such an item): the runtime names it by content.
    record: dict[str, Any] = {"text": text, "state": _STATUS[status]}
    if memory_id is not None:
        record["id"] = memory_id
    out: dict[str, Any] = {}
    tags = metadata.get("tags")
    if tags is not None and string_list(tags, where, f"{at}.metadata.tags"):
        record["tags"] = list(dict.fromkeys(tags))
        ledger.kept("metadata.tags", "tags")
    created = rfc3339(metadata.get("created_at"))
    if created is not None:
        record["created"] = created
        ledger.kept("metadata.created_at", "created")
    elif metadata.get("created_at") not in (None, ""):
        ledger.lost("metadata.created_at", "not a timestamp this importer can read")
    info = metadata.get("info")
    if isinstance(info, dict) and isinstance(info.get("memstore_id"), str):
        # Written by `memos export --format memos`: `info` holds the original id and the whole
        # metadata (MemOS's own fields were copies of it).
        info = dict(info)
        record["id"] = info.pop("memstore_id")
        record["metadata"] = info
        ledger.kept("metadata.info (a MemStore export)", "id and metadata")
        return record
    if info not in (None, {}):
        out["info"] = info
        ledger.kept("metadata.info", "metadata.info")
    for key, value in metadata.items():
        if key in ("tags", "status", "created_at", "info") or value in (None, [], "", {}):
            continue
        if key in _DROPPED_FIELDS:
            ledger.lost(f"metadata.{key}", _DROPPED_FIELDS[key])
            continue
        target = _FIELDS.get(key, f"metadata.{key}")
        if key == "sources" and isinstance(value, list):
            value, decoded = _sources(value)
            if decoded:
                target += " (JSON text decoded)"
        out.setdefault(target.split(" ")[0].removeprefix("metadata."), value)
        ledger.kept(f"metadata.{key}", target)
    record["metadata"] = out
    return record


def _sources(sources: list[Any]) -> tuple[list[Any], bool]:
    """A tree memory's ``sources``, each JSON text decoded to its object (graph databases store
    them as JSON strings, at times encoded twice); whether any was. Text that is not a JSON
    object is kept as it is, as MemOS's own ``coerce_sources`` does."""
    out: list[Any] = []
    decoded = False
    for source in sources:
        value = source
        for _ in range(2):
            if not isinstance(value, str):
                break
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                break
        if isinstance(value, dict):
            out.append(value)
            decoded = decoded or value is not source
        else:
            out.append(source)
    return out, decoded


def read_memos(path: Path) -> ImportBatch:
    """Read a MemOS cube directory (or a textual memory JSON file) into records."""
    ledger = Ledger()
    if path.is_file():
        directory, memory_file, config = path.parent, path, {}
    else:
        directory = path
        config = _config(directory, ledger)
        backend, filename = _backend(config, "text_mem")
        if backend not in ("naive_text", "general_text", "tree_text", "simple_tree_text",
                           "uninitialized"):  # fmt: skip
            raise field_error(
                str(directory / "config.json"), "text_mem.backend", f"unknown backend {backend!r}"
            )
        memory_file = directory / (filename or DEFAULT_MEMORY_FILE)
        _other_files(directory, config, memory_file, ledger)
    if not memory_file.is_file():
        raise ImportFormatError(
            f"{memory_file}: missing: a MemOS cube directory holds its textual memory there "
            "(config.json text_mem.config.memory_filename)"
        )
    where = str(memory_file)
    items, edges = _items(parse_json(read_bounded(memory_file), where), where, ledger)
    records: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        record = _record(item, index, where, ledger)
        if record is not None:
            records.append(record)
            by_id[str(item.get("id"))] = record
    for index, edge in enumerate(edges):
        if not isinstance(edge, dict) or not all(
            isinstance(edge.get(key), str) for key in ("source", "target", "type")
        ):
            raise field_error(where, f"edges[{index}]", "needs string source, target and type")
        ledger.rest("edges[]", edge, ("source", "target", "type"), _EDGE_FIELDS)
        source = by_id.get(edge["source"])
        if source is None:
            ledger.drop("graph edges", "their source memory was not imported")
            continue
        source["metadata"].setdefault("relations", []).append(
            {"type": edge["type"], "target": edge["target"]}
        )
        ledger.kept("edges", "metadata.relations of the source memory")
    cube_id = config.get("cube_id")
    name = cube_id if isinstance(cube_id, str) and cube_id else directory.name
    found = {"memories": len(items)}
    if edges:
        found["edges"] = len(edges)
    return ImportBatch("memos", derived_cube_name("memos", name), records, found, ledger)


def _other_files(
    directory: Path, config: dict[str, Any], memory_file: Path, ledger: Ledger
) -> None:
    """Report every other file of the cube directory; pickles are named, never opened."""
    _, act_file = _backend(config, "act_mem")
    _, para_file = _backend(config, "para_mem")
    pref_backend, pref_file = _backend(config, "pref_mem")
    for entry in sorted(directory.iterdir()):
        if entry == memory_file or entry.name == "config.json":
            continue
        if entry.suffix in _PICKLE_SUFFIXES or entry.name == (
            act_file or "activation_memory.pickle"
        ):
            ledger.drop(
                entry.name,
                "MemOS activation memory is a Python pickle: never loaded (unpickling runs code)",
                advice="build KV snapshots from the imported memories with `memos activate`",
            )
        elif entry.name == (para_file or "parametric_memory.adapter"):
            ledger.drop(
                entry.name,
                "MemOS parametric memory: not a PEFT adapter this runtime can verify",
                advice="train an adapter from the imported memories with `memos consolidate`",
            )
        elif pref_backend != "uninitialized" and entry.name == pref_file:
            ledger.drop(entry.name, "MemOS preference memory: not imported by this version")
        else:
            ledger.drop(entry.name, "not a MemOS memory file")
