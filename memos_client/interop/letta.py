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
messages as conversation turns (``letta_messages``: which messages are words said). What never
does: tool source code (never run, never imported), environment variables and secrets, MCP server
settings, skills (scripts), system prompts and model settings. Every other field is reported too,
kept or dropped with its reason (``letta_fields``), or named as unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memos_client.errors import ImportFormatError
from memos_client.interop import letta_fields
from memos_client.interop.files import field_error, parse_json, read_bounded, string_list
from memos_client.interop.letta_messages import conversation
from memos_client.interop.report import ImportBatch, Ledger, derived_cube_name, is_empty


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


_BLOCK_METADATA = ("description", "limit", "read_only", "template_name", "is_template")
_BLOCK_HANDLED = {
    "value", "label", "id", "tags", "created_at", "updated_at", "metadata",
    "metadata_", *_BLOCK_METADATA,
}  # fmt: skip


def _left_out(item: dict[str, Any], text: str, what: str, ledger: Ledger) -> bool:
    """Whether a block or passage (``what``, plural) is left out, as deleted in Letta or without
    text; noted in the ledger."""
    if item.get("is_deleted") is True:
        ledger.drop(f"deleted {what}", "deleted in Letta")
        return True
    if not text.strip():
        ledger.drop(f"empty {what}", "no text to remember")
        return True
    return False


def _created(record: dict[str, Any], item: dict[str, Any], kind: str, ledger: Ledger) -> None:
    """``item``'s ``created_at`` as the record's ``created`` (when it is a time)."""
    created = ledger.timestamp(item, "created_at", kind)
    if created is not None:
        record["created"] = created
        ledger.kept(f"{kind}.created_at", "created")


def _own_metadata(
    item: dict[str, Any], kind: str, metadata: dict[str, Any], ledger: Ledger
) -> None:
    """Letta's own metadata of a block or passage (under ``metadata`` or ``metadata_``), kept
    whole as ``metadata.KIND_metadata``."""
    for key in ("metadata", "metadata_"):
        extra = item.get(key)
        if isinstance(extra, dict) and extra:
            metadata[f"{kind}_metadata"] = extra
            ledger.kept(f"{kind}.{key}", f"metadata.{kind}_metadata")


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
    if _left_out(block, value, "memory blocks", ledger):
        return None
    tags = string_list(block.get("tags") or [], where, f"{field}.tags")
    ledger.kept("block.value", "text")
    ledger.kept("block.label", "tags + metadata.label")
    if tags:
        ledger.kept("block.tags", "tags")
    metadata: dict[str, Any] = {"label": label, "letta": "block"}
    for key in _BLOCK_METADATA:
        if block.get(key) not in (None, ""):
            metadata[key] = block[key]
            ledger.kept(f"block.{key}", f"metadata.{key}")
    _own_metadata(block, "block", metadata, ledger)
    if agents:
        metadata["agents"] = agents
        if block.get("id") is not None:
            ledger.kept("block.id", "metadata.agents (the agents whose block_ids name it)")
    elif block.get("id") is not None:
        ledger.lost("block.id", "the block's id in the file: no agent names it")
    updated = ledger.timestamp(block, "updated_at", "block")
    if updated is not None:
        metadata["updated_at"] = updated
        ledger.kept("block.updated_at", "metadata.updated_at")
    ledger.rest("block", block, _BLOCK_HANDLED, letta_fields.BLOCK)
    record: dict[str, Any] = {
        "id": f"block/{label}",
        "text": value.strip("\n"),
        "tags": list(dict.fromkeys([label, *tags])),
        "metadata": metadata,
    }
    _created(record, block, "block", ledger)
    return record


_PASSAGE_HANDLED = {
    "text", "content", "id", "tags", "created_at", "archive_id", "file_name", "file_id",
    "source_id", "metadata", "metadata_", "embedding",
}  # fmt: skip


def _passage(passage: Any, where: str, field: str, ledger: Ledger) -> dict[str, Any] | None:
    if not isinstance(passage, dict):
        raise field_error(where, field, "must be an object")
    text = passage.get("text", passage.get("content"))
    if not isinstance(text, str):
        raise field_error(where, f"{field}.text", "must be a string")
    if _left_out(passage, text, "archival passages", ledger):
        return None
    identifier = passage.get("id")
    tags = string_list(passage.get("tags") or [], where, f"{field}.tags")
    ledger.kept("passage.text", "text")
    metadata: dict[str, Any] = {"letta": "archival"}
    for key in ("archive_id", "file_name", "file_id", "source_id"):
        if isinstance(passage.get(key), str):
            metadata[key] = passage[key]
            ledger.kept(f"passage.{key}", f"metadata.{key}")
    _own_metadata(passage, "passage", metadata, ledger)
    if passage.get("embedding") is not None:
        ledger.lost("passage.embedding", "a vector of Letta's embedder: embedded again here")
    ledger.rest("passage", passage, _PASSAGE_HANDLED, letta_fields.PASSAGE)
    record: dict[str, Any] = {"text": text, "tags": list(tags), "metadata": metadata}
    if tags:
        ledger.kept("passage.tags", "tags")
    if isinstance(identifier, str) and identifier:
        record["id"] = f"passage/{identifier}"
        ledger.kept("passage.id", "id")
    _created(record, passage, "passage", ledger)
    return record


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
        for key in ("file_name", "original_file_name"):
            if isinstance(entry.get(key), str) and entry[key]:
                ledger.kept(f"file.{key}", "the chunks' source")
        ledger.rest(
            "file", entry, ("content", "file_name", "original_file_name"), letta_fields.FILE
        )
    return records


_CODE = "code: never run, never imported"
_CREDENTIALS = "may hold credentials: never copied"
#: Fields of the top level and of agents that are handled whole: code, credentials, settings.
_WHOLE = {
    "tools": "tool definitions, not memory: their code is never run or imported",
    "mcp_servers": "MCP server connection settings, not memory",
    "skills": "skills (instructions and scripts): " + _CODE,
    "tool_exec_environment_variables": _CREDENTIALS,
    "secrets": _CREDENTIALS,
    "system": "the system prompt: instructions to a model, not memory",
    "llm_config": "model settings, not memory",
    "embedding_config": "settings of Letta's embedder, not memory",
}


def _report_code_and_settings(
    document: dict[str, Any], agents: list[dict[str, Any]], legacy: bool, where: str, ledger: Ledger
) -> None:
    """Tools (each one with code listed), credentials and settings: reported, never copied."""
    tools = list(_list(document.get("tools"), where, "tools"))
    for a, agent in enumerate(agents):
        if agent is not document:
            tools.extend(_list(agent.get("tools"), where, f"agents[{a}].tools"))
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if isinstance(tool.get("source_code"), str) and tool["source_code"].strip():
            ledger.drop(
                f"tool {tool.get('name') or tool.get('id') or '?'} (source code)",
                _CODE,
                advice="tools are not memory; re-create the tool in your agent framework",
            )
    holders = [("agent", agent) for agent in agents]
    if not legacy:
        holders.append(("", document))
    for kind, holder in holders:
        for key, reason in _WHOLE.items():
            if not is_empty(holder.get(key)):
                ledger.lost(f"{kind}.{key}" if kind else key, reason)


_AGENT_HANDLED = {
    "name", "block_ids", "memory_blocks", "core_memory", "messages", "passages",
    "archival_memory", *_WHOLE,
}  # fmt: skip
_TOP_HANDLED = {"agents", "blocks", "files", "passages", *_WHOLE}


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
    for agent in agents:
        if isinstance(agent.get("name"), str) and agent["name"]:
            ledger.kept("agent.name", "the cube's name (the first agent's) + metadata.agents")
        if not is_empty(agent.get("block_ids")):
            ledger.kept("agent.block_ids", "metadata.agents of the blocks it names")
    # Blocks: the file's shared list (each attached to the agents naming it) and inline ones.
    block_agents: dict[str, list[str]] = {}
    for a, (agent, name) in enumerate(zip(agents, names, strict=True)):
        for block_id in _list(agent.get("block_ids"), where, f"agents[{a}].block_ids"):
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
    message_count = sum(
        len(_list(agent.get("messages"), where, "messages" if legacy else f"agents[{a}].messages"))
        for a, agent in enumerate(agents)
    )
    if message_count:
        found["messages"] = message_count
        if messages:
            for a, (agent, name) in enumerate(zip(agents, names, strict=True)):
                prefix = "" if legacy else f"agents[{a}]"
                records.extend(conversation(agent, name, where, prefix, ledger))
        else:
            ledger.drop(
                "messages",
                "conversation history is imported only when asked",
                count=message_count,
                advice="add --messages to import user and assistant turns",
            )
    _report_code_and_settings(document, agents, legacy, where, ledger)
    for agent in agents:
        ledger.rest("agent", agent, _AGENT_HANDLED, letta_fields.AGENT)
    if not legacy:
        ledger.rest("", document, _TOP_HANDLED, letta_fields.TOP)
    return ImportBatch(
        "letta",
        derived_cube_name("letta", names[0] if names else path.stem),
        records,
        found,
        ledger,
    )
