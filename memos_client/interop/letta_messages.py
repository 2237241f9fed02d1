"""The conversation in a Letta agent file: which messages are words said, and whose.

From Letta's own message shapes (``letta/schemas/agent_file.py`` ``MessageSchema`` and the first
schema's ``MessageSchema``), as the agents of letta-ai/agent-file hold them:

- a MemGPT agent (``memgpt_agent``, ``memgpt_v2_agent``) thinks aloud in its message text and
  says things by calling ``send_message``; later agents (``letta_v1_agent``...) answer in the
  text and keep their reasoning in ``reasoning`` parts;
- MemGPT wraps the user's words as ``{"type": "user_message", "message": ...}`` JSON and sends
  its heartbeats, logins and system alerts in the user's role as the same kind of JSON; Letta's
  clients add ``<system-reminder>`` parts to user messages. Only the user's words are kept.
"""

from __future__ import annotations

import json
from typing import Any

from memos_client.ingest.messages import conversation_records
from memos_client.interop import letta_fields
from memos_client.interop.files import field_error
from memos_client.interop.report import Ledger, is_empty

_SEND_MESSAGE = "send_message"  # the tool whose argument is a Letta agent's visible reply

#: Agent types whose assistant messages hold inner monologue, the reply being a ``send_message``
#: call (MemGPT's design); later types (``letta_v1_agent``...) answer in the message text.
_MONOLOGUE_AGENTS = ("memgpt_agent", "memgpt_v2_agent")


def _send_message_replies(message: dict[str, Any]) -> list[str] | None:
    """The ``message`` arguments of an assistant's ``send_message`` calls (None: no such call)."""
    replies: list[str] | None = None
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and function.get("name") == _SEND_MESSAGE:
            replies = replies or []
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except (json.JSONDecodeError, TypeError, RecursionError):
                continue
            if isinstance(arguments, dict) and isinstance(arguments.get("message"), str):
                replies.append(arguments["message"])
    return replies


def _message_text(message: dict[str, Any], agent_type: Any) -> tuple[str, bool]:
    """The words of a Letta message, and whether an assistant's came from ``send_message``.

    A user's words are its text parts. An assistant's are its ``send_message`` replies when it
    made that call, or when its agent type thinks aloud in the message text (MemGPT); otherwise
    the text parts are the reply (reasoning parts never are)."""
    content = message.get("content")
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    replied = False
    if message.get("role") == "assistant":
        replies = _send_message_replies(message)
        if replies is not None or agent_type in _MONOLOGUE_AGENTS:
            parts, replied = replies or [], True
    else:
        parts = [words for words in map(_user_words, parts) if words is not None]
    return "\n".join(part for part in parts if part.strip()), replied


def _user_words(text: str) -> str | None:
    """What the user said in one text part of a user message, or None for what Letta itself
    put there: MemGPT wraps the user's words as ``{"type": "user_message", "message": ...}`` and
    sends its heartbeats, logins and system alerts in the user's role as such JSON; Letta's clients
    add ``<system-reminder>`` parts."""
    stripped = text.strip()
    if stripped.startswith("<system-reminder>") and stripped.endswith("</system-reminder>"):
        return None
    if not stripped.startswith("{"):
        return text
    try:
        event = json.loads(stripped)
    except (ValueError, RecursionError):
        return text
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return text
    words = event.get("message")
    if event["type"] == "user_message" and isinstance(words, str):
        return words
    return None


def _has_text(message: dict[str, Any]) -> bool:
    content = message.get("content")
    if isinstance(content, str):
        return bool(content.strip())
    return isinstance(content, list) and any(
        isinstance(part, dict) and str(part.get("text") or "").strip() for part in content
    )


_MESSAGE_HANDLED = {"role", "content", "tool_calls", "created_at", "id", "name"}


def conversation(
    agent: dict[str, Any], name: str, where: str, field: str, ledger: Ledger
) -> list[dict[str, Any]]:
    """The user and assistant turns of ``agent``'s messages, as conversation records."""
    at = f"{field}.messages" if field else "messages"  # the first schema: the agent is the file
    messages = agent.get("messages") or []
    if not isinstance(messages, list):
        raise field_error(where, at, "must be a list")
    turns = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise field_error(where, f"{at}[{index}]", "must be an object")
        if not isinstance(message.get("content"), list | str | None):
            raise field_error(where, f"{at}[{index}].content", "must be a list or a string")
        if not isinstance(message.get("tool_calls"), list | None):
            raise field_error(where, f"{at}[{index}].tool_calls", "must be a list")
        role = message.get("role")
        if role not in ("user", "assistant"):
            ledger.drop(f"{role} messages", "system prompts and tool traffic are not conversation")
            continue
        text, replied = _message_text(message, agent.get("agent_type"))
        if not text:
            if role == "user" and _has_text(message):
                ledger.drop(
                    "user messages from Letta itself (heartbeats, logins, system alerts, "
                    "system reminders)",
                    "automated, not what the user said",
                )
            else:
                ledger.drop("messages without text", "nothing said")
            continue
        turn = {"role": role, "content": text, "timestamp": message.get("created_at")}
        ledger.kept("message.role", "metadata.role + metadata.speaker")
        if replied:
            # Its content is inner monologue; what it said is its send_message call.
            ledger.kept("message.tool_calls", "text (send_message replies)")
            if not is_empty(message.get("content")):
                ledger.lost("message.content", "an assistant's inner monologue, not what it said")
        else:
            ledger.kept(
                "message.content",
                "text" if role == "assistant" else "text (MemGPT's user_message JSON unwrapped)",
            )
            content = message.get("content")
            if isinstance(content, list) and any(
                isinstance(part, dict) and part.get("type") != "text" for part in content
            ):
                ledger.lost(
                    "message.content (other than text)", "reasoning and media: not words said"
                )
            if not is_empty(message.get("tool_calls")):
                ledger.lost("message.tool_calls", "tool traffic, not conversation")
        if ledger.timestamp(message, "created_at", "message") is not None:
            ledger.kept("message.created_at", "metadata.time + created")
        if isinstance(message.get("id"), str):
            turn["id"] = message["id"]
            ledger.kept("message.id", "metadata.message_id + id")
        if isinstance(message.get("name"), str) and message["name"].strip():
            turn["name"] = message["name"]
            ledger.kept("message.name", "metadata.speaker")
        ledger.rest("message", message, _MESSAGE_HANDLED, letta_fields.MESSAGE)
        turns.append(turn)
    if not turns:
        return []
    conversation = conversation_records(
        [{"messages": turns, "session": name}], default_session=name, where=where
    )
    for record in conversation.records:
        position = record["metadata"].get("message_id") or record["metadata"]["turn"]
        record["id"] = f"message/{name}/{position}"
        record["metadata"]["letta"] = "message"
    return conversation.records
