"""``memos import`` of a Letta agent file (``.af``).

Two schemas are read, both from Letta's own code:

- the current one (``letta/schemas/agent_file.py``, ``AgentFileSchema``): top-level ``agents``,
  ``blocks``, ``files``, ``sources``, ``tools``, ``groups``, ``mcp_servers``, ``metadata``; an
  agent names its blocks in ``block_ids`` and may carry ``memory_blocks`` and ``messages``;
- the first one (``letta/serialize_schemas/pydantic_agent_schema.py``): one agent at the top,
  its blocks in ``core_memory``.

Some published files are a JSON *string* holding the JSON document: it is decoded once more.

What becomes memory: each memory block (its ``value``; tagged with its ``label``; ``description``,
``limit``, ``read_only`` as metadata), archival passages when the file carries them (``passages``
at the top or in an agent, in Letta's ``Passage`` shape: the .af schema has none yet), the
content of attached files (chunked as documents), and with ``--messages`` the user and assistant
messages as conversation turns. What never does: tool source code (never run, never imported),
environment variables and secrets, MCP server settings, skills (scripts), system prompts and model
settings -- each reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memos_client.errors import ImportFormatError
from memos_client.ingest.messages import conversation_records, rfc3339
from memos_client.interop.files import field_error, parse_json, read_bounded
from memos_client.interop.report import ImportBatch, Ledger, derived_cube_name

_SEND_MESSAGE = "send_message"  # the tool whose argument is a Letta agent's visible reply


def _load(path: Path, ledger: Ledger) -> dict[str, Any]:
    where = str(path)
    document = parse_json(read_bounded(path), where)
    if isinstance(document, str):
        # letta-ai/agent-file publishes some agents double-encoded.
        document = parse_json(document.encode("utf-8"), f"{where} (its JSON string)")
        ledger.drop("the outer JSON string", "the file is double-encoded JSON: decoded once more")
    if not isinstance(document, dict):
        raise ImportFormatError(
            f"{where}: expected an agent file object, got {type(document).__name__}"
        )
    return document


def _list(value: Any, where: str, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise field_error(where, field, "must be a list")
    return value


def _block(
    block: Any, where: str, field: str, agents: list[str], ledger: Ledger
) -> dict[str, Any] | None:
    if not isinstance(block, dict):
        raise field_error(where, field, "must be an object")
    value, label = block.get("value"), block.get("label")
    if not isinstance(value, str):
        raise field_error(where, f"{field}.value", "must be a string")
    if not isinstance(label, str) or not label.strip():
        raise field_error(where, f"{field}.label", "must be a non-empty string")
    if not value.strip():
        ledger.drop("empty memory blocks", "no text to remember")
        return None
    ledger.kept("block.value", "text")
    ledger.kept("block.label", "tags + metadata.label")
    metadata: dict[str, Any] = {"label": label, "letta": "block"}
    for key in ("description", "limit", "read_only", "template_name", "is_template"):
        if block.get(key) not in (None, ""):
            metadata[key] = block[key]
            ledger.kept(f"block.{key}", f"metadata.{key}")
    extra = block.get("metadata") or block.get("metadata_")
    if isinstance(extra, dict) and extra:
        metadata["block_metadata"] = extra
        ledger.kept("block.metadata", "metadata.block_metadata")
    if agents:
        metadata["agents"] = agents
    record: dict[str, Any] = {
        "id": f"block/{label}",
        "text": value.strip("\n"),
        "tags": [label],
        "metadata": metadata,
    }
    created = rfc3339(block.get("created_at"))
    if created is not None:
        record["created"] = created
    return record


def _passage(passage: Any, where: str, field: str, ledger: Ledger) -> dict[str, Any] | None:
    if not isinstance(passage, dict):
        raise field_error(where, field, "must be an object")
    text = passage.get("text", passage.get("content"))
    if not isinstance(text, str):
        raise field_error(where, f"{field}.text", "must be a string")
    if passage.get("is_deleted") is True:
        ledger.drop("deleted archival passages", "deleted in Letta")
        return None
    if not text.strip():
        ledger.drop("empty archival passages", "no text to remember")
        return None
    identifier = passage.get("id")
    tags = passage.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise field_error(where, f"{field}.tags", "must be a list of strings")
    ledger.kept("passage.text", "text")
    metadata: dict[str, Any] = {"letta": "archival"}
    for key in ("archive_id", "file_name", "file_id", "source_id"):
        if isinstance(passage.get(key), str):
            metadata[key] = passage[key]
            ledger.kept(f"passage.{key}", f"metadata.{key}")
    extra = passage.get("metadata") or passage.get("metadata_")
    if isinstance(extra, dict) and extra:
        metadata["passage_metadata"] = extra
        ledger.kept("passage.metadata", "metadata.passage_metadata")
    if passage.get("embedding") is not None:
        ledger.lost("passage.embedding", "a vector of Letta's embedder: embedded again here")
    record: dict[str, Any] = {"text": text, "tags": list(tags), "metadata": metadata}
    if tags:
        ledger.kept("passage.tags", "tags")
    if isinstance(identifier, str) and identifier:
        record["id"] = f"passage/{identifier}"
    created = rfc3339(passage.get("created_at"))
    if created is not None:
        record["created"] = created
        ledger.kept("passage.created_at", "created")
    return record


def _message_text(message: dict[str, Any]) -> str:
    """The words of a Letta message: its text parts, and an assistant's ``send_message``."""
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
    if message.get("role") == "assistant":
        parts = []  # an assistant's content is its inner monologue; the reply is the tool call
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and function.get("name") == _SEND_MESSAGE:
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except (json.JSONDecodeError, TypeError, RecursionError):
                    continue
                if isinstance(arguments, dict) and isinstance(arguments.get("message"), str):
                    parts.append(arguments["message"])
    return "\n".join(part for part in parts if part.strip())


def _messages(
    agent: dict[str, Any], name: str, where: str, field: str, ledger: Ledger
) -> list[dict[str, Any]]:
    turns = []
    for index, message in enumerate(_list(agent.get("messages"), where, f"{field}.messages")):
        if not isinstance(message, dict):
            raise field_error(where, f"{field}.messages[{index}]", "must be an object")
        role = message.get("role")
        if role not in ("user", "assistant"):
            ledger.drop(f"{role} messages", "system prompts and tool traffic are not conversation")
            continue
        text = _message_text(message)
        if not text:
            ledger.drop("messages without text", "nothing said")
            continue
        turn = {"role": role, "content": text, "timestamp": message.get("created_at")}
        if isinstance(message.get("id"), str):
            turn["id"] = message["id"]
        if isinstance(message.get("name"), str):
            turn["name"] = message["name"]
        turns.append(turn)
    if not turns:
        return []
    conversation = conversation_records(
        [{"messages": turns, "session": name}], default_session=name, where=where
    )
    ledger.kept("message.content (and send_message replies)", "text")
    ledger.kept("message.role", "metadata.role + metadata.speaker")
    ledger.kept("message.created_at", "metadata.time + created")
    for record in conversation.records:
        position = record["metadata"].get("message_id") or record["metadata"]["turn"]
        record["id"] = f"message/{name}/{position}"
        record["metadata"]["letta"] = "message"
    return conversation.records


def _files(document: dict[str, Any], where: str, ledger: Ledger) -> list[dict[str, Any]]:
    """Attached files with their text (Letta "sources"/folders), chunked as documents."""
    from memos_client.ingest.chunk_records import chunk_records
    from memos_client.ingest.chunking import StructuralSplitter
    from memos_client.ingest.documents import parse_document
    from memos_client.ingest.tokens import embedder_tokens

    records: list[dict[str, Any]] = []
    for index, entry in enumerate(_list(document.get("files"), where, "files")):
        if not isinstance(entry, dict):
            raise field_error(where, f"files[{index}]", "must be an object")
        content = entry.get("content")
        name = entry.get("file_name") or entry.get("original_file_name") or f"file-{index}"
        if not isinstance(content, str) or not content.strip():
            ledger.drop("attached files without text", "nothing to read")
            continue
        media = (
            "text/markdown" if str(name).lower().endswith((".md", ".markdown")) else "text/plain"
        )
        parsed = parse_document(content.encode("utf-8"), str(name), media)
        counter = embedder_tokens()
        chunks = StructuralSplitter(counter).split(parsed)
        for record in chunk_records(parsed, chunks, stamp="", tokenizer=counter.name):
            for key in ("created", "updated", "version"):
                record.pop(key)
            record["metadata"]["letta"] = "file"
            records.append(record)
        ledger.kept("file.content", "text (chunked as a document)")
    return records


def _report_code_and_settings(
    document: dict[str, Any], agents: list[dict[str, Any]], ledger: Ledger
) -> None:
    for tool in document.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        name = tool.get("name") or tool.get("id") or "?"
        if isinstance(tool.get("source_code"), str) and tool["source_code"].strip():
            ledger.drop(
                f"tool {name} (source code)",
                "code: never run, never imported",
                advice="tools are not memory; re-create the tool in your agent framework",
            )
        else:
            ledger.drop("tool definitions", "a tool schema, not memory")
    servers = document.get("mcp_servers") or []
    if servers:
        ledger.drop("MCP servers", "connection settings, not memory", count=len(servers))
    skills = document.get("skills") or []
    if skills:
        ledger.drop(
            "skills", "instructions and scripts: never run, never imported", count=len(skills)
        )
    for agent in agents:
        variables = agent.get("tool_exec_environment_variables")
        if variables:
            ledger.drop("tool environment variables", "may hold credentials: never copied")
        if agent.get("secrets"):
            ledger.drop("agent secrets", "credentials: never copied")
        if agent.get("system"):
            ledger.drop("system prompts", "instructions to a model, not memory")
        if agent.get("llm_config") or agent.get("embedding_config"):
            ledger.drop("model settings (llm_config, embedding_config)", "settings, not memory")
        if agent.get("tools") and agent is not document:  # the first schema: reported above
            for tool in agent["tools"]:
                if isinstance(tool, dict) and tool.get("source_code"):
                    ledger.drop(
                        f"tool {tool.get('name', '?')} (source code)",
                        "code: never run, never imported",
                    )


def read_letta(path: Path, *, messages: bool = False) -> ImportBatch:
    """Read a Letta agent file into records (``messages``: also the conversation)."""
    ledger = Ledger()
    where = str(path)
    document = _load(path, ledger)
    legacy = "core_memory" in document and "agents" not in document
    agents = [document] if legacy else _list(document.get("agents"), where, "agents")
    if not legacy and "agents" not in document:
        raise field_error(where, "agents", "missing: not a Letta agent file")
    for index, agent in enumerate(agents):
        if not isinstance(agent, dict):
            raise field_error(where, f"agents[{index}]", "must be an object")
    names = [
        str(agent.get("name") or agent.get("id") or f"agent-{i}") for i, agent in enumerate(agents)
    ]
    records: list[dict[str, Any]] = []
    found: dict[str, int] = {"agents": len(agents)}
    # Blocks: the file's shared list (each attached to the agents naming it) and inline ones.
    block_agents: dict[str, list[str]] = {}
    for agent, name in zip(agents, names, strict=True):
        for block_id in agent.get("block_ids") or []:
            block_agents.setdefault(str(block_id), []).append(name)
    blocks: list[tuple[Any, str, list[str]]] = []
    if legacy:
        blocks = [
            (b, f"core_memory[{i}]", names)
            for i, b in enumerate(_list(document.get("core_memory"), where, "core_memory"))
        ]
    else:
        for i, block in enumerate(_list(document.get("blocks"), where, "blocks")):
            owner = block_agents.get(str(block.get("id"))) if isinstance(block, dict) else None
            blocks.append((block, f"blocks[{i}]", owner or []))
        for a, agent in enumerate(agents):
            for i, block in enumerate(
                _list(agent.get("memory_blocks"), where, f"agents[{a}].memory_blocks")
            ):
                blocks.append((block, f"agents[{a}].memory_blocks[{i}]", [names[a]]))
    found["memory blocks"] = len(blocks)
    seen_labels: dict[str, int] = {}
    for block, field, owners in blocks:
        record = _block(block, where, field, owners, ledger)
        if record is None:
            continue
        label = record["metadata"]["label"]
        seen_labels[label] = seen_labels.get(label, 0) + 1
        if seen_labels[label] > 1:
            record["id"] = f"block/{label}/{seen_labels[label]}"
        records.append(record)
    passages: list[tuple[Any, str]] = [
        (p, f"passages[{i}]")
        for i, p in enumerate(_list(document.get("passages"), where, "passages"))
    ]
    for a, agent in enumerate(agents):
        for key in ("passages", "archival_memory"):
            if key in agent and agent is not document:
                passages.extend(
                    (p, f"agents[{a}].{key}[{i}]")
                    for i, p in enumerate(_list(agent[key], where, f"agents[{a}].{key}"))
                )
    if passages:
        found["archival passages"] = len(passages)
    for passage, field in passages:
        record = _passage(passage, where, field, ledger)
        if record is not None:
            records.append(record)
    files = _files(document, where, ledger)
    if document.get("files"):
        found["files"] = len(document["files"])
    records.extend(files)
    message_count = sum(len(agent.get("messages") or []) for agent in agents)
    if message_count:
        found["messages"] = message_count
        if messages:
            for a, (agent, name) in enumerate(zip(agents, names, strict=True)):
                records.extend(_messages(agent, name, where, f"agents[{a}]", ledger))
        else:
            ledger.drop(
                "messages",
                "conversation history is imported only when asked",
                count=message_count,
                advice="add --messages to import user and assistant turns",
            )
    _report_code_and_settings(document, agents, ledger)
    return ImportBatch(
        "letta",
        derived_cube_name("letta", names[0] if names else path.stem),
        records,
        found,
        ledger,
    )
