"""Chat messages as conversation memories: one record per turn (MIP-1 §7.1.2).

Accepted input, as written by chat tools and datasets:

- a JSON list of messages: one session;
- a JSON object with ``messages`` (and optionally ``session``/``session_id``/``id`` and
  ``timestamp``/``date``): one session;
- a JSON list of such objects, or JSON Lines with one session per line (a list of messages or an
  object as above).

A message is ``{"role", "content", "name"?, "timestamp"?, "id"?}``; ``content`` is a string or a
list of parts in the OpenAI style (``{"type": "text", "text": ...}``; other parts, such as
images, are counted and left out). Each turn becomes a record whose metadata says who spoke
(``speaker``: the ``name``, else the role), ``role``, ``session``, ``turn`` (0-based position in
the session, counting the turns kept) and ``time`` (the message's timestamp, else its session's),
the layout the retrieval context step and the LoCoMo benchmark use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from memos_client.errors import UsageError

_SESSION_KEYS = ("session", "session_id", "id")
_TIME_KEYS = ("timestamp", "date", "time", "created_at")
_MESSAGE_KEYS = frozenset({"role", "content", "name", "timestamp", "id"})


class Conversation(msgspec.Struct):
    """The records of some chat sessions, with what was left out."""

    records: list[dict[str, Any]]
    sessions: int = 0
    skipped: int = 0
    ignored_keys: list[str] = msgspec.field(default_factory=list)
    dropped_parts: int = 0


def rfc3339(value: Any) -> str | None:
    """``value`` as an RFC 3339 UTC timestamp when it is one (or epoch seconds), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # a bare date or local time is read as UTC
    else:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_sessions(data: bytes, where: str) -> list[Mapping[str, Any]]:
    """The sessions of a messages file (JSON or JSON Lines), each ``{"messages": [...], ...}``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return _json_lines(text, where)
    except RecursionError:
        raise UsageError(f"{where}: JSON nested too deeply") from None
    if (
        isinstance(document, list)
        and document
        and all(isinstance(item, Mapping) and "messages" in item for item in document)
    ):
        return [_session(item, f"{where}: session {n}", n) for n, item in enumerate(document, 1)]
    return [_session(document, where, None)]


def _json_lines(text: str, where: str) -> list[Mapping[str, Any]]:
    sessions: list[Mapping[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{where}:{number}: not JSON ({exc.msg}); give a JSON list of messages or "
                "JSON Lines with one session per line"
            ) from None
        except RecursionError:
            raise UsageError(f"{where}:{number}: JSON nested too deeply") from None
        sessions.append(_session(item, f"{where}:{number}", number))
    if not sessions:
        raise UsageError(f"{where}: no messages")
    return sessions


def _session(item: Any, where: str, number: int | None) -> Mapping[str, Any]:
    if isinstance(item, list):
        return {"messages": item, "session": number}
    if isinstance(item, Mapping) and isinstance(item.get("messages"), list):
        session = dict(item)
        if not any(session.get(key) is not None for key in _SESSION_KEYS):
            session["session"] = number
        return session
    raise UsageError(
        f"{where}: expected a list of messages or an object with 'messages', "
        f"got {type(item).__name__}"
    )


def _content(value: Any, where: str) -> tuple[str, int]:
    """The text of a message's content and how many non-text parts it had."""
    if value is None:
        return "", 0
    if isinstance(value, str):
        return value, 0
    if isinstance(value, list):
        texts, dropped = [], 0
        for part in value:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                dropped += 1
        return "\n".join(texts), dropped
    raise UsageError(f"{where}: 'content' must be a string or a list of text parts")


def conversation_records(
    sessions: Iterable[Mapping[str, Any]], *, default_session: str | int | None, where: str
) -> Conversation:
    """One record per message with text; every problem is reported together (the first 10)."""
    result = Conversation(records=[])
    problems: list[str] = []
    ignored: set[str] = set()
    for number, session in enumerate(sessions, start=1):
        session_id = next(
            (session[key] for key in _SESSION_KEYS if session.get(key) is not None), None
        )
        if session_id is None:
            session_id = default_session if default_session is not None else number
        if not isinstance(session_id, str | int) or isinstance(session_id, bool):
            problems.append(f"{where}: session {number}: its id must be a string or an integer")
            continue
        session_time = next(
            (session[key] for key in _TIME_KEYS if session.get(key) is not None), None
        )
        result.sessions += 1
        turn = 0
        for index, message in enumerate(session["messages"]):
            at = f"{where}: session {session_id!r}, message {index}"
            if not isinstance(message, Mapping):
                problems.append(f"{at}: expected an object with 'role' and 'content'")
                continue
            role = message.get("role")
            if not isinstance(role, str) or not role.strip():
                problems.append(f"{at}: 'role' must be a non-empty string")
                continue
            try:
                text, dropped = _content(message.get("content"), at)
            except UsageError as exc:
                problems.append(str(exc))
                continue
            result.dropped_parts += dropped
            ignored.update(key for key in message if key not in _MESSAGE_KEYS)
            if not text.strip():
                result.skipped += 1  # a tool call, an image alone: no words to remember
                continue
            name = message.get("name")
            metadata: dict[str, Any] = {
                "speaker": name if isinstance(name, str) and name.strip() else role,
                "role": role,
                "session": session_id,
                "turn": turn,
            }
            moment = message.get("timestamp", session_time)
            if moment is not None:
                metadata["time"] = moment
            if message.get("id") is not None:
                metadata["message_id"] = message["id"]
            record: dict[str, Any] = {"text": text, "tags": [], "metadata": metadata}
            created = rfc3339(moment)
            if created is not None:
                record["created"] = created
            result.records.append(record)
            turn += 1
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise UsageError("invalid messages: " + "; ".join(problems[:10]) + more)
    result.ignored_keys = sorted(ignored)
    return result
