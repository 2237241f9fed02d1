"""``memos export --format memos``: a MemOS (MemTensor) ``GeneralMemCube`` directory.

What ``GeneralMemCube.init_from_dir`` reads (MemOS ``src/memos/mem_cube/general.py``):

- ``config.json``: a ``GeneralMemCubeConfig`` (``model_schema``
  ``memos.configs.mem_cube.GeneralMemCubeConfig``) whose textual memory is ``naive_text``,
  ``memory_filename`` ``textual_memory.json``. MemOS validates configs strictly and needs an
  extractor LLM configured: the export names a local Ollama model (no API key) that the user
  changes to theirs; the other memories are ``uninitialized``.
- ``textual_memory.json``: what ``NaiveTextMemory.dump`` writes, a JSON list of
  ``TextualMemoryItem`` dumps (MemOS validates each one with pydantic when it loads, and one it
  refuses makes it load none: a field is filled only with a value of the type MemOS wants) ``{"id": UUID, "memory": text, "metadata": {...}}``. MemOS requires
  UUID ids: each is a UUID 5 of ``<cube>#<record id>``, so exporting again gives the same ids.
  MemOS's metadata fields (type, key, confidence, source, tags, visibility, status, history,
  user and session ids, timestamps) are filled from the memory's metadata where they hold values
  MemOS accepts; ``metadata.info`` keeps the whole metadata and the MemStore id, so importing the
  directory again gives back exactly what was exported.

KV snapshots and LoRA adapters are not written: MemOS keeps activation memory as a pickle, and
MemStore writes no pickles.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from memos_client.interop.export import ExportReport, _staged_dir, cube_name, live_items

if TYPE_CHECKING:
    from pathlib import Path

    from memos_client.runtime import MemOS
    from memos_client.runtime.memory_types import MemoryItem

#: Namespace of the UUID 5 ids of exported memories.
EXPORT_NAMESPACE = uuid.UUID("6c3f0f4e-7a51-5c2e-9a0b-6d656d73746f")
CONFIG_SCHEMA = "memos.configs.mem_cube.GeneralMemCubeConfig"
MEMORY_FILE = "textual_memory.json"
#: Values MemOS's ``TextualMemoryMetadata`` accepts for its Literal fields.
MEMOS_SOURCES = frozenset({"conversation", "retrieved", "web", "file", "system"})
MEMOS_VISIBILITY = frozenset({"private", "public", "session"})
#: Our metadata keys that become MemOS metadata fields of the same name.
_SAME_NAME = ("user_id", "session_id", "type", "key", "memory_time", "evolve_to")
#: MemOS's ``ArchivedTextualMemory``: each field's JSON types (None: null allowed).
_HISTORY_FIELDS: dict[str, tuple[type | None, ...]] = {
    "version": (int,),
    "is_fast": (bool,),
    "memory": (str, None),
    "update_type": (str,),
    "archived_memory_id": (str, None),
    "created_at": (str, None),
}
_UPDATE_TYPES = frozenset({"conflict", "duplicate", "extract", "unrelated", "feedback"})


def memos_config(cube: str, user: str) -> dict[str, Any]:
    """A ``GeneralMemCubeConfig`` with naive textual memory and nothing else."""
    uninitialized = {"backend": "uninitialized", "config": {}}
    return {
        "model_schema": CONFIG_SCHEMA,
        "config_filename": "config.json",
        "user_id": user,
        "cube_id": cube,
        "text_mem": {
            "backend": "naive_text",
            "config": {
                "memory_filename": MEMORY_FILE,
                # MemOS needs an extractor LLM to build the memory object; loading never calls
                # it. A local model needs no key: set your own before using MemOS's extraction.
                "extractor_llm": {
                    "backend": "ollama",
                    "config": {"model_name_or_path": "qwen3:0.6b"},
                },
            },
        },
        "act_mem": dict(uninitialized),
        "para_mem": dict(uninitialized),
        "pref_mem": dict(uninitialized),
    }


def _fits(value: Any, types: tuple[type | None, ...]) -> bool:
    if value is None:
        return None in types
    if isinstance(value, bool):  # JSON true is not a version number
        return bool in types
    return any(t is not None and isinstance(value, t) for t in types)


def _history(value: Any) -> list[dict[str, Any]] | None:
    """``value`` if MemOS reads it as a list of ``ArchivedTextualMemory``: one entry it refuses
    would make MemOS load none of the cube's memories."""
    if not isinstance(value, list):
        return None
    for entry in value:
        if not isinstance(entry, dict) or not set(entry) <= set(_HISTORY_FIELDS):
            return None
        if not all(_fits(entry[key], _HISTORY_FIELDS[key]) for key in entry):
            return None
        if "update_type" in entry and entry["update_type"] not in _UPDATE_TYPES:
            return None
    return value


def memos_item(item: MemoryItem) -> dict[str, Any]:
    """One memory as a MemOS ``TextualMemoryItem`` dump."""
    record_id = item.source_id or item.id
    metadata = dict(item.metadata)
    out: dict[str, Any] = {
        "user_id": None,
        "session_id": None,
        "status": "archived" if str(item.state) == "archived" else "activated",
        "is_fast": None,
        "evolve_to": [],
        "version": item.version,
        "history": [],
        "working_binding": None,
        "type": None,
        "key": None,
        "confidence": None,
        "source": None,
        "tags": list(item.tags),
        "visibility": None,
        "updated_at": item.updated,
        "info": None,
        "covered_history": None,
        "created_at": item.created,
    }
    # MemOS's own fields are filled from the metadata (copies); `info` keeps the metadata whole,
    # so `memos import` of this directory gives back exactly what was exported.
    for key in _SAME_NAME:
        value = metadata.get(key)
        if key == "evolve_to":
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[key] = value
        elif isinstance(value, str):
            out[key] = value
    if out["session_id"] is None and isinstance(metadata.get("session"), str | int):
        out["session_id"] = str(metadata["session"])
    if out["key"] is None and isinstance(metadata.get("section"), str):
        out["key"] = metadata["section"]
    confidence = metadata.get("confidence")
    if isinstance(confidence, int | float) and not isinstance(confidence, bool):
        out["confidence"] = float(confidence)
    source = metadata.get("source")
    if source in MEMOS_SOURCES:
        out["source"] = source
    elif "chunk" in metadata:
        out["source"] = "file"
    elif "speaker" in metadata and "session" in metadata:
        out["source"] = "conversation"
    if metadata.get("visibility") in MEMOS_VISIBILITY:
        out["visibility"] = metadata["visibility"]
    history = _history(metadata.get("history"))
    if history is not None:
        out["history"] = history
    out["info"] = {**metadata, "memstore_id": record_id}
    memos_id = str(uuid.uuid5(EXPORT_NAMESPACE, f"{item.cube}#{record_id}"))
    return {"id": memos_id, "memory": item.text, "metadata": out}


def export_memos(mem: MemOS, cube: str, destination: Path) -> ExportReport:
    """Write ``cube`` as a MemOS cube directory (``config.json`` + ``textual_memory.json``)."""
    name = cube_name(cube)
    items, skipped = live_items(mem, name)
    report = ExportReport(name, "memos", str(destination), len(items), skipped=skipped)
    with _staged_dir(destination) as root:
        (root / "config.json").write_text(
            json.dumps(memos_config(name, mem.principal), indent=2), "utf-8"
        )
        (root / MEMORY_FILE).write_text(
            json.dumps([memos_item(item) for item in items], indent=4, ensure_ascii=False),
            "utf-8",
        )
    return report
