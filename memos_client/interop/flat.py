"""``memos import`` of flat files: JSON Lines or CSV of ``{text, tags, metadata}``.

JSONL: one object per line with ``text`` (required), ``tags`` (list of strings), ``metadata``
(object), optionally ``id``, ``created`` and ``state``; a ``memos export --format jsonl`` line
(``version``, ``updated``, ``cube``, ``extra`` too) imports as it was. Any other key is kept as a
metadata field of that name.

CSV: a header row; a ``text`` column (required), ``tags`` (a JSON list, or names separated by
``;`` or ``,``), ``metadata`` (a JSON object), ``id``, ``created``; any other column becomes a
metadata field (its cell text).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from memos_client.errors import ImportFormatError
from memos_client.ingest.messages import rfc3339
from memos_client.interop.files import field_error, parse_json, read_bounded, string_list
from memos_client.interop.report import ImportBatch, Ledger, derived_cube_name

_STATES = frozenset({"generated", "activated", "archived"})
_EXPORT_ONLY = {
    "version": "each memory's versions start again in this runtime",
    "updated": "set by this runtime when the memory is written",
    "cube": "memories go into the cube the import names",
}


def _tags(value: Any, where: str, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = parse_json(text.encode(), f"{where}: {field}")
        else:
            separator = ";" if ";" in text else ","
            return [tag.strip() for tag in text.split(separator) if tag.strip()]
    return list(string_list(value, where, field))


def _record(item: dict[str, Any], where: str, ledger: Ledger) -> dict[str, Any] | None:
    text = item.get("text")
    if not isinstance(text, str):
        raise field_error(where, "text", "is required and must be a string")
    if not text.strip():
        ledger.drop("rows with empty text", "nothing to remember")
        return None
    ledger.kept("text", "text")
    metadata = item.get("metadata")
    if isinstance(metadata, str):
        metadata = parse_json(metadata.encode(), f"{where}: metadata") if metadata.strip() else {}
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise field_error(where, "metadata", "must be an object")
    metadata = dict(metadata)
    record: dict[str, Any] = {"text": text, "tags": _tags(item.get("tags"), where, "tags")}
    if record["tags"]:
        ledger.kept("tags", "tags")
    if metadata:
        ledger.kept("metadata", "metadata")
    if item.get("id") not in (None, ""):
        if not isinstance(item["id"], str):
            raise field_error(where, "id", "must be a string")
        record["id"] = item["id"]
        ledger.kept("id", "id")
    if item.get("created") not in (None, ""):
        created = rfc3339(item["created"])
        if created is None:
            raise field_error(where, "created", "must be an RFC 3339 timestamp")
        record["created"] = created
        ledger.kept("created", "created")
    state = item.get("state")
    if state not in (None, ""):
        if not isinstance(state, str) or state not in _STATES:
            raise field_error(where, "state", f"must be one of {', '.join(sorted(_STATES))}")
        record["state"] = state
        ledger.kept("state", "state")
    extra = item.get("extra")
    if isinstance(extra, dict):
        record.update({k: v for k, v in extra.items() if k not in record})
        ledger.kept("extra", "record keys")
    for key, value in item.items():
        if key in ("text", "tags", "metadata", "id", "created", "state", "extra"):
            continue
        if key in _EXPORT_ONLY:
            ledger.lost(key, _EXPORT_ONLY[key])
        elif value not in (None, ""):
            metadata.setdefault(key, value)
            ledger.kept(key, f"metadata.{key}")
    record["metadata"] = metadata
    return record


def read_jsonl(path: Path) -> ImportBatch:
    """Read a JSON Lines file of memories."""
    ledger = Ledger()
    records = []
    lines = 0
    try:
        text = read_bounded(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        lines += 1
        where = f"{path}: line {number}"
        item = parse_json(line.encode(), where)
        if not isinstance(item, dict):
            raise ImportFormatError(f"{where}: expected an object with 'text'")
        record = _record(item, where, ledger)
        if record is not None:
            records.append(record)
    return ImportBatch(
        "jsonl", derived_cube_name("local", path.stem), records, {"lines": lines}, ledger
    )


def read_csv(path: Path) -> ImportBatch:
    """Read a CSV file of memories (a header row naming the columns)."""
    ledger = Ledger()
    try:
        text = read_bounded(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        raise field_error(str(path), "header", "needs a 'text' column")
    records = []
    rows = 0
    try:
        for row in reader:
            rows += 1
            where = f"{path}: row {reader.line_num}"
            if None in row:
                raise field_error(where, "row", "has more cells than the header has columns")
            record = _record(dict(row), where, ledger)
            if record is not None:
                records.append(record)
    except csv.Error as exc:
        raise ImportFormatError(f"{path}: row {reader.line_num}: not valid CSV ({exc})") from exc
    return ImportBatch(
        "csv", derived_cube_name("local", path.stem), records, {"rows": rows}, ledger
    )


def looks_like_jsonl(data: bytes) -> bool:
    """Whether the first non-blank line is a JSON object (JSONL rather than one JSON value)."""
    for line in data.splitlines():
        if line.strip():
            try:
                return isinstance(json.loads(line), dict)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                return False
    return False
