"""``memos import`` of mem0's own memory list, as ``Memory.get_all()`` returns it, saved as JSON.

The shape is mem0's (mem0ai/mem0): ``mem0/memory/main.py`` returns ``{"results": [...]}`` (with
``"relations"`` when a graph store is on; versions before 1.1 returned the bare list), each item
a ``MemoryItem`` (``mem0/configs/base.py``: ``id``, ``memory``, ``hash``, ``metadata``,
``score``, ``created_at``, ``updated_at``) with the session keys taken out of its payload
(``user_id``, ``agent_id``, ``run_id``, ``actor_id``, ``role``); mem0's hosted API adds
``categories``. Each item becomes one memory; every other field is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memos_client.errors import ImportFormatError
from memos_client.ingest.messages import rfc3339
from memos_client.interop.files import field_error, parse_json, read_bounded, string_list
from memos_client.interop.report import ImportBatch, Ledger, derived_cube_name

#: Keys mem0 promotes out of a memory's payload: who and which session it belongs to.
SESSION_KEYS = ("user_id", "agent_id", "run_id", "actor_id", "role")
#: Top-level keys of a MemoryItem that only mem0 writes (MemOS items have none of them).
MEM0_ONLY_KEYS = ("hash", "created_at", "updated_at", "score", "categories", *SESSION_KEYS)
_HANDLED = ("id", "memory", "metadata", "created_at", "updated_at", "categories", *SESSION_KEYS)
_FIELDS = {
    "hash": "a hash of the text: recomputed here",
    "score": "a search score, not content",
}


def is_mem0_memories(document: Any) -> bool:
    """Whether ``document`` is mem0's ``get_all`` result (rather than a MemOS dump)."""
    if isinstance(document, dict):
        return isinstance(document.get("results"), list) and set(document) <= {
            "results",
            "relations",
        }
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(item, dict) and "memory" in item for item in document)
        and any(key in item for item in document for key in MEM0_ONLY_KEYS)
    )


def _record(item: Any, where: str, field: str, ledger: Ledger) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        raise field_error(where, field, "must be an object")
    memory_id, text = item.get("id"), item.get("memory")
    if not isinstance(memory_id, str) or not memory_id:
        raise field_error(where, f"{field}.id", "must be a non-empty string")
    if text is not None and not isinstance(text, str):
        raise field_error(where, f"{field}.memory", "must be a string")
    if not text or not text.strip():
        ledger.drop("memories with empty text", "nothing to remember")
        return None
    ledger.kept("id", "id")
    ledger.kept("memory", "text")
    metadata: dict[str, Any] = {}
    extra = item.get("metadata")
    if extra is not None and not isinstance(extra, dict):
        raise field_error(where, f"{field}.metadata", "must be an object")
    if extra:
        metadata["mem0_metadata"] = extra
        ledger.kept("metadata", "metadata.mem0_metadata")
    for key in SESSION_KEYS:
        if item.get(key) not in (None, ""):
            metadata[key] = item[key]
            ledger.kept(key, f"metadata.{key}")
    categories = string_list(item.get("categories") or [], where, f"{field}.categories")
    if categories:
        metadata["categories"] = categories
        ledger.kept("categories", "tags + metadata.categories")
    record: dict[str, Any] = {
        "id": memory_id,
        "text": text,
        "tags": list(dict.fromkeys(categories)),
        "metadata": metadata,
    }
    for key, target in (("created_at", "created"), ("updated_at", "metadata.updated_at")):
        value = item.get(key)
        moment = rfc3339(value)
        if moment is not None:
            if key == "created_at":
                record["created"] = moment
            else:
                metadata["updated_at"] = moment
            ledger.kept(key, target)
        elif value not in (None, ""):
            ledger.lost(key, "not a timestamp this importer can read")
    ledger.rest("", item, _HANDLED, _FIELDS)
    return record


def read_mem0_memories(path: Path) -> ImportBatch:
    """Read a JSON file of mem0's ``get_all`` result into records."""
    where = str(path)
    document = parse_json(read_bounded(path), where)
    if not is_mem0_memories(document):
        raise ImportFormatError(f'{where}: expected mem0\'s memory list ({{"results": [...]}})')
    ledger = Ledger()
    items = document["results"] if isinstance(document, dict) else document
    field = "results" if isinstance(document, dict) else ""
    if isinstance(document, dict) and document.get("relations"):
        ledger.lost("relations", "mem0's graph relations: not imported by this version")
    records = [
        record
        for index, item in enumerate(items)
        if (record := _record(item, where, f"{field}[{index}]", ledger)) is not None
    ]
    owners = [item.get("user_id") for item in items if isinstance(item, dict)]
    owner = next((o for o in owners if isinstance(o, str) and o), path.stem)
    return ImportBatch(
        "mem0", derived_cube_name("mem0", owner), records, {"memories": len(items)}, ledger
    )
