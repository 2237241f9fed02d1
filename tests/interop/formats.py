"""Files in other systems' formats, built the way those systems' own code writes them.

- mem0 OpenMemory: ``openmemory/api/app/routers/backup.py`` (``_export_sqlite``,
  ``_export_logical_memories_gz``, ``export_backup``): ``memories.json`` dumped with
  ``indent=2``, ``memories.jsonl.gz`` one ``json.dumps`` line per memory, both in a
  ``ZIP_DEFLATED`` zip; timestamps from ``datetime.astimezone(UTC).isoformat()``.
- MemOS tree textual memory: ``TreeTextMemory.dump`` writes ``graph_store.export_graph()``
  (``src/memos/graph_dbs/neo4j.py``): ``{"nodes": [{"id", "memory", "metadata"}], "edges":
  [{"source", "target", "type"}], "total_nodes", "total_edges"}``.
- MemOS general textual memory: ``GeneralTextMemory.dump`` writes ``VecDBItem.to_dict()``
  (``exclude_none``) for every item: ``{"id", "vector", "payload": TextualMemoryItem dump}``.
- Letta agent files: ``letta/schemas/agent_file.py`` (``AgentFileSchema``) and the first
  schema, ``letta/serialize_schemas/pydantic_agent_schema.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

USER_UUID = "3f1c2d9e-5b7a-4c1e-9f2a-7d6b8e0a1c34"
APP_UUID = "a9d8c7b6-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
CATEGORIES = {
    "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e": "travel",
    "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f": "health",
}


def mem0_memory(index: int, content: str, state: str, categories: list[str]) -> dict[str, Any]:
    """One row of ``_export_sqlite``'s ``memories`` list."""
    created = f"2025-06-{index + 1:02d}T09:30:00.123456+00:00"
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mem0/{index}")),
        "user_id": USER_UUID,
        "app_id": APP_UUID,
        "content": content,
        "metadata": {"source": "chat"} if index % 2 else {},
        "state": state,
        "created_at": created,
        "updated_at": created,
        "archived_at": "2025-07-01T00:00:00+00:00" if state == "archived" else None,
        "deleted_at": "2025-07-02T00:00:00+00:00" if state == "deleted" else None,
        "category_ids": categories,
    }


MEM0_MEMORIES = [
    ("Prefers window seats on trains.", "active", ["0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"]),
    ("Is allergic to penicillin.", "active", ["1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"]),
    ("Used to live in Porto.", "archived", []),
    ("Temporarily off caffeine.", "paused", ["1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"]),
    ("Old phone number 555-0100.", "deleted", []),
]


def mem0_export(
    path: Path,
    memories: list[tuple[str, str, list[str]]] = MEM0_MEMORIES,
    edit: Callable[[dict[str, Any]], None] | None = None,
    logical_extra: dict[str, Any] | None = None,
) -> Path:
    """An OpenMemory export zip, as ``POST /api/v1/backup/export`` returns it (``edit`` may
    change its ``memories.json`` first; ``logical_extra``: fields added to each line of
    ``memories.jsonl.gz``)."""
    rows = [
        mem0_memory(i, content, state, cats) for i, (content, state, cats) in enumerate(memories)
    ]
    payload = {
        "user": {
            "id": USER_UUID,
            "user_id": "alice",
            "name": "Alice",
            "email": "alice@example.org",
            "metadata": {},
            "created_at": "2025-05-01T08:00:00+00:00",
            "updated_at": "2025-05-01T08:00:00+00:00",
        },
        "apps": [
            {
                "id": APP_UUID,
                "owner_id": USER_UUID,
                "name": "claude",
                "description": None,
                "metadata": {},
                "is_active": True,
                "created_at": "2025-05-01T08:00:00+00:00",
                "updated_at": "2025-05-01T08:00:00+00:00",
            }
        ],
        "categories": [
            {"id": cid, "name": name, "description": None, "created_at": None, "updated_at": None}
            for cid, name in CATEGORIES.items()
        ],
        "memories": rows,
        "memory_categories": [
            {"memory_id": row["id"], "category_id": cid}
            for row in rows
            for cid in row["category_ids"]
        ],
        "status_history": [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"history/{row['id']}")),
                "memory_id": row["id"],
                "changed_by": USER_UUID,
                "old_state": "active",
                "new_state": row["state"],
                "changed_at": "2025-07-01T00:00:00+00:00",
            }
            for row in rows
            if row["state"] != "active"
        ],
        "access_controls": [
            {
                "id": str(uuid.uuid4()),
                "subject_type": "app",
                "subject_id": APP_UUID,
                "object_type": "memory",
                "object_id": None,
                "effect": "allow",
                "created_at": "2025-05-01T08:00:00+00:00",
            }
        ],
        "export_meta": {
            "app_id_filter": None,
            "from_date": None,
            "to_date": None,
            "version": "1",
            "generated_at": "2025-08-01T12:00:00+00:00",
        },
    }
    if edit is not None:
        edit(payload)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz:
        for row in rows:
            record = {
                "id": row["id"],
                "content": row["content"],
                "metadata": row["metadata"] or {},
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "state": row["state"],
                "app": "claude",
                "categories": [CATEGORIES[c] for c in row["category_ids"] or []],
                **(logical_extra or {}),
            }
            gz.write((json.dumps(record) + "\n").encode("utf-8"))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("memories.json", json.dumps(payload, indent=2))
        archive.writestr("memories.jsonl.gz", buffer.getvalue())
    return path


def memos_node(memory_id: str, memory: str, **metadata: Any) -> dict[str, Any]:
    """A tree-memory node as ``export_graph`` returns it (``_parse_node``)."""
    base = {
        "user_id": "u1",
        "session_id": "s1",
        "status": "activated",
        "type": "fact",
        "key": memory.split(" ")[0],
        "confidence": 0.9,
        "source": "conversation",
        "tags": ["t"],
        "visibility": "private",
        "updated_at": "2026-01-02T03:04:05.000006",
        "memory_type": "LongTermMemory",
        "sources": [{"type": "chat", "role": "user", "content": memory, "chat_time": "2026-01-01"}],
        "created_at": "2026-01-01T00:00:00",
        "usage": [],
        "background": "",
        "history": [],
        "embedding": [0.1, 0.2, 0.3],
    }
    base.update(metadata)
    return {"id": memory_id, "memory": memory, "metadata": base}


def memos_tree_dump(directory: Path) -> Path:
    """A tree_text cube directory: config.json + the graph export as textual_memory.json."""
    directory.mkdir(parents=True)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    graph = {
        "nodes": [
            memos_node(first, "Bob runs the Berlin marathon every year."),
            memos_node(second, "Bob trains on Tuesdays.", status="archived", tags=None),
            memos_node(str(uuid.uuid4()), "An outdated note.", status="deleted"),
        ],
        "edges": [{"source": first, "target": second, "type": "RELATE_TO"}],
        "total_nodes": 3,
        "total_edges": 1,
    }
    (directory / "textual_memory.json").write_text(json.dumps(graph, indent=4))
    config = {
        "model_schema": "memos.configs.mem_cube.GeneralMemCubeConfig",
        "config_filename": "config.json",
        "user_id": "bob",
        "cube_id": "bob_running",
        "text_mem": {
            "backend": "tree_text",
            "config": {
                "cube_id": None,
                "memory_filename": "textual_memory.json",
                "extractor_llm": {"backend": "openai", "config": {"model_name_or_path": "gpt-4o-mini", "api_key": "sk-live-123", "api_base": "https://api.openai.com/v1"}},
                "graph_db": {"backend": "neo4j", "config": {"uri": "bolt://localhost:7687", "user": "neo4j", "password": "hunter2", "db_name": "memos"}},
            },
        },
        "act_mem": {"backend": "kv_cache", "config": {"memory_filename": "activation_memory.pickle"}},
        "para_mem": {"backend": "uninitialized", "config": {"cube_id": None}},
        "pref_mem": {"backend": "uninitialized", "config": {"cube_id": None}},
    }  # fmt: skip
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return directory


def memos_general_dump(path: Path) -> Path:
    """A general_text textual_memory.json: vector-DB items with payloads."""
    items = []
    for text in ("Carol speaks Portuguese.", "Carol's cat is called Miso."):
        memory_id = str(uuid.uuid4())
        payload = {
            "id": memory_id,
            "memory": text,
            "metadata": {"type": "fact", "status": "activated", "tags": ["carol"], "updated_at": "2026-01-01T00:00:00"},
        }  # fmt: skip
        items.append({"id": memory_id, "vector": [0.5, 0.5], "payload": payload})
    path.write_text(json.dumps(items, indent=4))
    return path


def letta_file(path: Path, agent: dict[str, Any]) -> Path:
    """``agent`` (from :func:`letta_v2` or :func:`letta_v1`) written as an agent file."""
    path.write_text(json.dumps(agent))
    return path


def letta_v1_agent_conversation() -> list[dict[str, Any]]:
    """Messages of a ``letta_v1_agent``, which answers in its message text (no ``send_message``)
    and keeps its reasoning in ``reasoning`` parts, as the agent files of letta-ai/agent-file's
    later agents (lettabot-builder, ezra) hold them."""
    return [
        {"type": "message", "role": "user", "content": [{"type": "text", "text": "What do you know about me?", "signature": None}], "name": None, "otid": None, "sender_id": None, "batch_item_id": None, "group_id": None, "id": "message-1", "model": None, "agent_id": "agent-0", "tool_calls": None, "tool_call_id": None, "tool_returns": [], "created_at": "2026-01-10T10:00:00+00:00", "approve": None, "approval_request_id": None, "denial_reason": None, "approvals": None},
        {"type": "message", "role": "assistant", "content": [{"type": "reasoning", "is_native": True, "reasoning": "Check the human block.", "signature": "abc"}, {"type": "text", "text": "You live in Lyon and love trains.", "signature": None}], "name": None, "otid": None, "sender_id": None, "batch_item_id": None, "group_id": None, "id": "message-2", "model": "claude-sonnet-4-5", "agent_id": "agent-0", "tool_calls": None, "tool_call_id": None, "tool_returns": [], "created_at": "2026-01-10T10:00:05+00:00", "approve": None, "approval_request_id": None, "denial_reason": None, "approvals": None},
    ]  # fmt: skip


def letta_v2(
    *, messages: bool = True, passages: int = 0, tool_code: str | None = None
) -> dict[str, Any]:
    """An AgentFileSchema document: one agent, two blocks, a conversation, optional passages."""
    conversation = [
        {"type": "message", "role": "system", "content": [{"type": "text", "text": "<base_instructions>..."}], "id": "message-0", "created_at": "2025-10-31T22:56:56.459100+00:00"},
        {"type": "message", "role": "user", "content": [{"type": "text", "text": "I just moved to Lyon."}], "id": "message-1", "created_at": "2025-10-31T22:57:00+00:00", "name": None},
        {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "User moved; update memory."}], "id": "message-2", "created_at": "2025-10-31T22:57:02+00:00", "tool_calls": [{"id": "call-1", "type": "function", "function": {"name": "send_message", "arguments": "{\"message\": \"Welcome to Lyon!\"}"}}]},
        {"type": "message", "role": "tool", "content": [{"type": "text", "text": "{\"status\": \"OK\"}"}], "id": "message-3", "created_at": "2025-10-31T22:57:03+00:00"},
    ]  # fmt: skip
    agent: dict[str, Any] = {
        "name": "travel_buddy",
        "memory_blocks": [],
        "tools": [],
        "tool_ids": ["tool-0"],
        "block_ids": ["block-0", "block-1"],
        "system": "You are a travel buddy.",
        "agent_type": "memgpt_v2_agent",
        "llm_config": {"model": "gpt-4o-mini", "context_window": 32000},
        "embedding_config": {"embedding_model": "text-embedding-3-small"},
        "tool_exec_environment_variables": {"MAPS_KEY": ""},
        "secrets": None,
        "id": "agent-0",
        "in_context_message_ids": ["message-0"],
        "messages": conversation if messages else [],
        "files_agents": [],
        "group_ids": [],
    }
    document: dict[str, Any] = {
        "agents": [agent],
        "groups": [],
        "blocks": [
            {"value": "Name: Dana\nHome: Lyon", "limit": 5000, "label": "human", "read_only": False, "description": "About the user.", "metadata": {}, "id": "block-0", "is_template": False},
            {"value": "I am a cheerful travel buddy.", "limit": 5000, "label": "persona", "read_only": True, "description": None, "metadata": {"v": 2}, "id": "block-1", "is_template": False},
        ],
        "files": [],
        "sources": [],
        "tools": [
            {"id": "tool-0", "name": "book_train", "tool_type": "custom", "source_type": "python", "source_code": tool_code or "def book_train(city: str) -> str:\n    return city\n", "json_schema": {"name": "book_train", "parameters": {"type": "object", "properties": {}}}},
        ],
        "mcp_servers": [],
        "metadata": {"revision_id": "f6cd5a1e519d"},
        "created_at": "2025-10-31T22:56:56.879513+00:00",
    }  # fmt: skip
    if passages:
        document["passages"] = [
            {"id": f"passage-{i}", "text": f"Archived fact number {i}: the train to city {i} leaves at {i % 24}:00.", "tags": ["trains"], "created_at": "2025-09-01T00:00:00+00:00", "archive_id": "archive-0", "metadata": {}, "embedding": [0.0, 1.0], "is_deleted": False}
            for i in range(passages)
        ]  # fmt: skip
    return document


def letta_v1() -> dict[str, Any]:
    """The first agent file schema: one agent at the top, blocks in ``core_memory``."""
    return {
        "agent_type": "memgpt_agent",
        "core_memory": [
            {"created_at": "2025-04-01T03:47:27", "description": None, "is_template": False, "label": "human", "limit": 5000, "metadata_": {}, "template_name": None, "updated_at": "2025-04-01T03:47:27", "value": "First name: Chad"},
        ],
        "created_at": "2025-04-01T03:47:27",
        "description": None,
        "embedding_config": {},
        "llm_config": {},
        "message_buffer_autoclear": False,
        "in_context_message_indices": [0],
        "messages": [
            {"created_at": "2025-04-01T03:47:27.492966", "group_id": None, "model": "gpt-4-0613", "name": None, "role": "user", "content": [{"type": "text", "text": "I like sailing."}], "tool_call_id": None, "tool_calls": [], "tool_returns": [], "updated_at": "2025-04-01T03:47:27"},
        ],
        "metadata_": None,
        "multi_agent_group": None,
        "name": "memgpt_agent",
        "system": "You are MemGPT.",
        "tags": [],
        "tool_exec_environment_variables": [{"created_at": "2025-04-01T18:07:48", "description": None, "key": "TAVILY_API_KEY", "updated_at": "2025-04-01T18:07:48", "value": "tvly-secret"}],
        "tool_rules": [],
        "tools": [{"args_json_schema": None, "created_at": "2025-04-01T03:47:27", "description": "x", "json_schema": {}, "name": "web_search", "return_char_limit": 6000, "source_code": "import os\nos.system('echo hacked')\n", "source_type": "python", "tags": [], "tool_type": "custom", "updated_at": "2025-04-01T03:47:27"}],
        "updated_at": "2025-04-01T03:47:27",
        "version": "0.6.47",
    }  # fmt: skip
