"""``memos import`` of a mem0 OpenMemory export (the zip of ``POST /api/v1/backup/export``).

The format is the one ``openmemory/api/app/routers/backup.py`` (mem0ai/mem0) writes: a zip with

- ``memories.json``: the relational dump -- ``user``, ``apps``, ``categories``, ``memories``
  (``id``, ``user_id``, ``app_id``, ``content``, ``metadata``, ``state``, ``created_at``,
  ``updated_at``, ``archived_at``, ``deleted_at``, ``category_ids``), ``memory_categories``,
  ``status_history``, ``access_controls``, ``export_meta``;
- ``memories.jsonl.gz``: one JSON object per memory (``id``, ``content``, ``metadata``,
  ``created_at``, ``updated_at``, ``state``, ``app`` name, ``categories`` names), for re-embedding.

As mem0's own import does, the members are found by file name in any folder of the zip and
``memories.json`` is required; the gzip file fills in app and category names the JSON lacks.
Each memory keeps its state (``active`` and ``paused`` are live, ``paused`` archived here;
``deleted`` ones are left out), categories (as tags and ``metadata.categories``), app, timestamps
and its status history. The account's name and e-mail and OpenMemory's app access rules are
not memory and are left out (reported).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path
from typing import Any

from memos_client.errors import ImportFormatError
from memos_client.ingest.messages import rfc3339
from memos_client.interop.files import (
    field_error,
    parse_json,
    read_member,
    read_stream_bounded,
    string_list,
    zip_member,
)
from memos_client.interop.report import ImportBatch, Ledger, derived_cube_name

_STATES = {"active": "generated", "paused": "archived", "archived": "archived"}
#: Fields of ``memories.json`` read whole elsewhere, and those left out (and why).
_TOP_HANDLED = ("memories", "apps", "categories", "status_history", "user", "access_controls")
_TOP_FIELDS = {
    "memory_categories": "the same links as each memory's category_ids: read from there",
    "export_meta": "the export's own settings (filters, version, time)",
}
_USER_HANDLED = ("user_id", "name", "email")
_USER_FIELDS = {
    "id": "OpenMemory's internal id of the account (user.user_id is kept)",
    "metadata": "the account's settings, not memory",
    "created_at": "when the account was made, not a memory's time",
    "updated_at": "when the account last changed, not a memory's time",
}
_MEMORY_HANDLED = (
    "id", "content", "state", "category_ids", "app_id", "metadata", "created_at", "updated_at",
    "archived_at", "deleted_at",
)  # fmt: skip
_MEMORY_FIELDS = {"user_id": "OpenMemory's internal id of the owner (user.user_id is kept)"}
_LOGICAL_FIELDS = (
    "id", "content", "metadata", "created_at", "updated_at", "state", "app", "categories",
)  # fmt: skip


def _named(rows: Any, where: str, field: str, key: str = "name") -> dict[str, str]:
    if rows is None:
        return {}
    if not isinstance(rows, list):
        raise field_error(where, field, "must be a list")
    names: dict[str, str] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise field_error(where, f"{field}[{index}]", "needs a string 'id'")
        if isinstance(row.get(key), str):
            names[row["id"]] = row[key]
    return names


def _logical(archive: zipfile.ZipFile, where: str) -> dict[str, dict[str, Any]]:
    """``memories.jsonl.gz`` by memory id (empty when the zip has none)."""
    member = zip_member(archive, "memories.jsonl.gz")
    if member is None:
        return {}
    compressed = read_member(archive, member, where)
    at = f"{where}: {member}"
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
            data = read_stream_bounded(stream, at)
    except (OSError, EOFError) as exc:
        raise ImportFormatError(f"{at}: not a gzip file ({exc})") from exc
    rows: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        row = parse_json(line, f"{at}: line {number}")
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise field_error(at, f"line {number}", "expected an object with a string 'id'")
        rows[row["id"]] = row
    return rows


def _account_logical(rows: dict[str, dict[str, Any]], ledger: Ledger) -> None:
    """``memories.jsonl.gz`` repeats ``memories.json`` with names for ids: only fields it does not
    repeat are reported (a newer OpenMemory may add some)."""
    for row in rows.values():
        ledger.rest("memories.jsonl.gz", row, _LOGICAL_FIELDS, {})


def read_mem0(path: Path) -> ImportBatch:
    """Read an OpenMemory export zip into records."""
    where = str(path)
    ledger = Ledger()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFormatError(f"{where}: not a zip file ({exc})") from exc
    with archive:
        member = zip_member(archive, "memories.json")
        if member is None:
            raise ImportFormatError(
                f"{where}: memories.json is missing: not an OpenMemory export "
                "(POST /api/v1/backup/export)"
            )
        at = f"{where}: {member}"
        dump = parse_json(read_member(archive, member, where), at)
        logical = _logical(archive, where)
        for info in archive.infolist():
            if (
                not info.is_dir()
                and info.filename not in (member,)
                and not info.filename.endswith("memories.jsonl.gz")
            ):
                ledger.drop(info.filename, "not part of an OpenMemory export")
    if not isinstance(dump, dict):
        raise ImportFormatError(f"{at}: expected a JSON object")
    memories = dump.get("memories")
    if not isinstance(memories, list):
        raise field_error(at, "memories", "must be a list")
    apps = _named(dump.get("apps"), at, "apps")
    categories = _named(dump.get("categories"), at, "categories")
    history: dict[str, list[dict[str, Any]]] = {}
    status_history = dump.get("status_history") or []
    if not isinstance(status_history, list):
        raise field_error(at, "status_history", "must be a list")
    for index, entry in enumerate(status_history):
        if not isinstance(entry, dict) or not isinstance(entry.get("memory_id"), str):
            raise field_error(at, f"status_history[{index}]", "needs a string 'memory_id'")
        history.setdefault(entry["memory_id"], []).append(
            {k: entry.get(k) for k in ("old_state", "new_state", "changed_at")}
        )
    raw_user = dump.get("user")
    user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
    records = [
        record
        for index, row in enumerate(memories)
        if (record := _record(row, index, at, apps, categories, logical, history, user, ledger))
        is not None
    ]
    if user.get("email") or user.get("name"):
        ledger.drop("user name and e-mail", "account data, not memory")
    if apps:
        ledger.kept("apps", "metadata.app (the app's name)")
    if categories:
        ledger.kept("categories", "tags + metadata.categories (the names)")
    ledger.rest("user", user, _USER_HANDLED, _USER_FIELDS)
    ledger.rest("", dump, _TOP_HANDLED, _TOP_FIELDS)
    _account_logical(logical, ledger)
    if dump.get("access_controls"):
        ledger.drop(
            "access_controls",
            "OpenMemory's per-app access rules",
            advice="set who may read the cube with `memos access`",
        )
    owner = str(user["user_id"]) if isinstance(user.get("user_id"), str) else path.stem
    return ImportBatch(
        "mem0", derived_cube_name("mem0", owner), records, {"memories": len(memories)}, ledger
    )


def _record(
    row: Any,
    index: int,
    at: str,
    apps: dict[str, str],
    categories: dict[str, str],
    logical: dict[str, dict[str, Any]],
    history: dict[str, list[dict[str, Any]]],
    user: dict[str, Any],
    ledger: Ledger,
) -> dict[str, Any] | None:
    field = f"memories[{index}]"
    if not isinstance(row, dict):
        raise field_error(at, field, "must be an object")
    memory_id, content = row.get("id"), row.get("content")
    if not isinstance(memory_id, str) or not memory_id:
        raise field_error(at, f"{field}.id", "must be a non-empty string")
    if content is None:
        content = ""  # as mem0's own import reads it
    if not isinstance(content, str):
        raise field_error(at, f"{field}.content", "must be a string")
    state = row.get("state") or "active"
    if not isinstance(state, str):
        raise field_error(at, f"{field}.state", "must be a string")
    if state == "deleted":
        ledger.drop("memories in state 'deleted'", "deleted in OpenMemory")
        return None
    if state not in _STATES:
        raise field_error(at, f"{field}.state", f"unknown state {state!r}")
    if not content.strip():
        ledger.drop("memories with empty content", "nothing to remember")
        return None
    ledger.kept("memory.id", "id")
    ledger.kept("memory.content", "text")
    ledger.kept("memory.state", "state (active: generated; paused, archived: archived)")
    extra = logical.get(memory_id, {})
    metadata: dict[str, Any] = {}
    category_ids = string_list(row.get("category_ids") or [], at, f"{field}.category_ids")
    names = [categories[c] for c in category_ids if c in categories]
    if not names and isinstance(extra.get("categories"), list):
        names = [c for c in extra["categories"] if isinstance(c, str)]
    if names:
        metadata["categories"] = names
        ledger.kept("memory.category_ids", "tags + metadata.categories (their names)")
    app = apps.get(str(row.get("app_id"))) or extra.get("app")
    if isinstance(app, str):
        metadata["app"] = app
        ledger.kept("memory.app_id", "metadata.app (its name)")
    for key in ("updated_at", "archived_at", "deleted_at"):
        if row.get(key):
            metadata[key] = row[key]
            ledger.kept(f"memory.{key}", f"metadata.{key}")
    mem0_metadata = row.get("metadata") or extra.get("metadata")
    if isinstance(mem0_metadata, dict) and mem0_metadata:
        metadata["mem0_metadata"] = mem0_metadata
        ledger.kept("memory.metadata", "metadata.mem0_metadata")
    if isinstance(user.get("user_id"), str):
        metadata["user_id"] = user["user_id"]
        ledger.kept("user.user_id", "metadata.user_id")
    if memory_id in history:
        metadata["status_history"] = history[memory_id]
        ledger.kept("status_history", "metadata.status_history")
    metadata["mem0_state"] = state
    record: dict[str, Any] = {
        "id": memory_id,
        "text": content,
        "tags": list(dict.fromkeys(names)),
        "metadata": metadata,
        "state": _STATES[state],
    }
    created = rfc3339(row.get("created_at"))
    if created is not None:
        record["created"] = created
        ledger.kept("memory.created_at", "created")
    elif row.get("created_at") not in (None, ""):
        ledger.lost("memory.created_at", "not a timestamp this importer can read")
    ledger.rest("memory", row, _MEMORY_HANDLED, _MEMORY_FIELDS)
    return record
