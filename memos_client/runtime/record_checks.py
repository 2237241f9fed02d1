"""Validation of incoming memory records (cube source format / MIP v1 plaintext records)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from memos_client.errors import UsageError

# The protocol's limits, one source of truth: what install accepts is what pack and the registry
# accept (MIP-1 §9).
from mip.records import MAX_ID_LENGTH, MAX_TAGS, MAX_TEXT_CHARS, RECORD_STATES

__all__ = ["MAX_ID_LENGTH", "MAX_TAGS", "MAX_TEXT_CHARS", "RECORD_STATES"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Record keys the runtime stores in their own columns; any other key is kept as-is.
KNOWN_KEYS = frozenset({"id", "text", "tags", "metadata", "created", "updated", "version", "state"})


class Record(msgspec.Struct, frozen=True):
    """A validated record, ready to store."""

    source_id: str | None
    text: str
    tags: list[str]
    metadata: dict[str, Any]
    extra: dict[str, Any]
    created: str | None = None
    state: str | None = None


def check_unicode(value: str, where: str, what: str) -> str:
    """``value``, if it is Unicode text UTF-8 can encode (no lone surrogates: a command line's
    undecodable bytes, or a JSON ``\\ud800`` escape, arrive as those)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"{where}: {what} is not valid Unicode text (an undecodable byte or unpaired "
            f"surrogate at character {exc.start}): use UTF-8"
        ) from None
    return value


def check_text(text: Any, where: str) -> str:
    """A memory text: a non-empty string under :data:`MAX_TEXT_CHARS`."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{where}: 'text' must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(f"{where}: text is {len(text)} characters, over {MAX_TEXT_CHARS}")
    return check_unicode(text, where, "the text")


def check_tags(tags: Any, where: str) -> list[str]:
    """Tags: a list of up to 64 strings (duplicates dropped, order kept)."""
    if tags is None:
        return []
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise UsageError(f"{where}: 'tags' must be a list of strings")
    if len(tags) > MAX_TAGS:
        raise UsageError(f"{where}: {len(tags)} tags, the limit is {MAX_TAGS}")
    for tag in tags:
        check_unicode(tag, where, "a tag")
    return list(dict.fromkeys(tags))


def check_metadata(metadata: Any, where: str) -> dict[str, Any]:
    """Metadata: a JSON object with string keys."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise UsageError(f"{where}: 'metadata' must be an object with string keys")
    import json

    try:
        # NaN and infinities are not JSON (SQLite's json functions refuse them).
        encoded = json.dumps(metadata, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{where}: metadata is not JSON-serialisable ({exc})") from exc
    check_unicode(encoded, where, "the metadata")
    return dict(metadata)


def check_id(value: Any, where: str) -> str:
    """A record id: 1-256 characters, no control characters (MIP v1 allows any such string)."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_ID_LENGTH
        or _CONTROL.search(value)
        or value != value.strip()
    ):
        raise UsageError(
            f"{where}: invalid id {value!r}: use 1-{MAX_ID_LENGTH} printable characters "
            "without leading or trailing spaces"
        )
    return value


def validate_records(records: Iterable[Any]) -> list[Record]:
    """Validate every record; all problems are reported together (the first 10)."""
    valid: list[Record] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(records):
        where = f"record {index}"
        try:
            if not isinstance(raw, dict):
                raise UsageError(
                    f"{where}: expected an object with 'text', got {type(raw).__name__}"
                )
            text = check_text(raw.get("text"), where)
            source_id = check_id(raw["id"], where) if raw.get("id") is not None else None
            if source_id is not None:
                if source_id in seen:
                    raise UsageError(f"{where}: id {source_id!r} appears twice")
                seen.add(source_id)
            created = raw.get("created")
            if created is not None:
                from memos_client.runtime.memory_types import from_rfc3339, to_rfc3339

                try:
                    created = to_rfc3339(from_rfc3339(str(created)))
                except ValueError as exc:
                    raise UsageError(f"{where}: 'created' is not RFC 3339 ({exc})") from exc
            state = raw.get("state")
            if state is not None and (not isinstance(state, str) or state not in RECORD_STATES):
                raise UsageError(
                    f"{where}: 'state' must be one of {', '.join(sorted(RECORD_STATES))}, "
                    f"got {state!r}"
                )
            extra = {k: v for k, v in raw.items() if k not in KNOWN_KEYS}
            check_metadata(extra, where)
            valid.append(
                Record(
                    source_id=source_id,
                    text=text,
                    tags=check_tags(raw.get("tags"), where),
                    metadata=check_metadata(raw.get("metadata"), where),
                    extra=extra,
                    created=created,
                    state=state,
                )
            )
        except UsageError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise UsageError("invalid records: " + "; ".join(problems[:10]) + more)
    return valid


def content_id(text: str) -> str:
    """A stable id for a cube record that has none: the first 16 hex of its text's SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
