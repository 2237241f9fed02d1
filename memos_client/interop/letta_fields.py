"""What ``memos import`` does with each field of a Letta agent file, and why.

Read from Letta's own schemas: ``letta/schemas/agent_file.py`` (``AgentFileSchema`` and the
``AgentSchema``, ``BlockSchema``, ``MessageSchema``, ``FileSchema`` it holds, which extend
``CreateAgent``, ``CreateBlock``, ``MessageCreate`` and ``FileMetadataBase``) and the first
schema, ``letta/serialize_schemas/pydantic_agent_schema.py``. The reader handles the fields
that become memory; every other field with a value is reported as dropped, with the reason
below, or as unknown (:data:`memos_client.interop.report.UNKNOWN_FIELD`) when a newer Letta
adds one.
"""

from __future__ import annotations

_SETTING = "a setting of the Letta agent, not memory"
_BOOKKEEPING = "Letta's bookkeeping, not memory"
_FOLDERS = "a link to Letta folders: the text of files in the agent file is imported"
_IDENTITIES = "links to Letta identities (its users), not memory"

#: The top level of an ``AgentFileSchema`` document (fields not read as memory).
TOP: dict[str, str] = {
    "groups": "multi-agent groups (which agents work together, how they take turns): not memory",
    "sources": _FOLDERS,
    "metadata": "the export's own metadata (Letta's schema revision)",
    "created_at": "when the file was written",
}

#: An agent: ``AgentSchema`` (``CreateAgent`` + ids) or the first schema's top level.
AGENT: dict[str, str] = {
    **dict.fromkeys(
        (
            "agent_type",
            "model",
            "embedding",
            "model_settings",
            "context_window_limit",
            "embedding_chunk_size",
            "max_tokens",
            "max_reasoning_tokens",
            "enable_reasoner",
            "reasoning",
            "parallel_tool_calls",
            "response_format",
            "timezone",
            "max_files_open",
            "per_file_view_window_char_limit",
            "message_buffer_autoclear",
            "enable_sleeptime",
            "compaction_settings",
            "include_base_tools",
            "include_multi_agent_tools",
            "include_base_tool_rules",
            "include_default_source",
            "hidden",
            "template",
            "from_template",
            "template_id",
            "base_template_id",
            "project",
            "project_id",
            "memory_variables",
            "version",
            "inference_config",
            "module_configs",
            "agent_capabilities",
            "tool_execution_config",
            "runtime_hooks",
            "ui_preferences",
        ),
        _SETTING,
    ),
    "tool_rules": "rules for the agent's tool calls, not memory",
    "tool_ids": "links to the file's tools (each reported)",
    "source_ids": _FOLDERS,
    "folder_ids": _FOLDERS,
    "files_agents": "which files the agent had open: the files' text is imported",
    "group_ids": "multi-agent group membership, not memory",
    "multi_agent_group": "multi-agent group membership, not memory",
    "groups": "multi-agent group membership, not memory",
    "identity_ids": _IDENTITIES,
    "identities": _IDENTITIES,
    "in_context_message_ids": "which messages were in the model's context window: not memory",
    "in_context_message_indices": "which messages were in the model's context window: not memory",
    "initial_message_sequence": "messages to start a new agent with: instructions, not memory",
    "description": "describes the agent, not what it remembers",
    "tags": "labels of the agent in Letta, not of its memories",
    "metadata": "the agent's own metadata in Letta",
    "metadata_": "the agent's own metadata in Letta",
    "created_at": "when the agent was made, not a memory's time",
    "updated_at": "when the agent last changed, not a memory's time",
    "is_deleted": _BOOKKEEPING,
    "id": "the agent's id in the file (its name names the cube)",
}

#: A memory block: ``BlockSchema`` (``CreateBlock`` + id) or a first-schema ``core_memory`` entry.
BLOCK: dict[str, str] = {
    "preserve_on_migration": "a setting of the block in Letta, not memory",
    "hidden": "a setting of the block in Letta, not memory",
    "project_id": _BOOKKEEPING,
    "template_id": _BOOKKEEPING,
    "base_template_id": _BOOKKEEPING,
    "deployment_id": _BOOKKEEPING,
    "entity_id": _BOOKKEEPING,
    "organization_id": _BOOKKEEPING,
    "created_by_id": _BOOKKEEPING,
    "last_updated_by_id": _BOOKKEEPING,
    "identities": _IDENTITIES,
    "identity_ids": _IDENTITIES,
    "is_deleted": "read only to leave deleted blocks out",
}

#: A user or assistant message (``MessageSchema``; other roles are left out whole).
MESSAGE: dict[str, str] = {
    "model": "which model wrote it, not what was said",
    "type": _BOOKKEEPING,
    "agent_id": _BOOKKEEPING,
    "group_id": _BOOKKEEPING,
    "batch_item_id": _BOOKKEEPING,
    "otid": _BOOKKEEPING,
    "sender_id": _BOOKKEEPING,
    "step_id": _BOOKKEEPING,
    "in_context": _BOOKKEEPING,
    "updated_at": _BOOKKEEPING,
    "tool_call_id": "tool traffic, not conversation",
    "tool_returns": "tool traffic, not conversation",
    "approve": "tool approval traffic, not conversation",
    "approval_request_id": "tool approval traffic, not conversation",
    "denial_reason": "tool approval traffic, not conversation",
    "approvals": "tool approval traffic, not conversation",
}

#: An archival passage (Letta's ``Passage``; the .af schemas have none yet).
PASSAGE: dict[str, str] = {
    "embedding_config": "settings of Letta's embedder: embedded again here",
    "updated_at": _BOOKKEEPING,
    "organization_id": _BOOKKEEPING,
    "agent_id": _BOOKKEEPING,
    "created_by_id": _BOOKKEEPING,
    "last_updated_by_id": _BOOKKEEPING,
    "is_deleted": "read only to leave deleted passages out",
}

#: An attached file (``FileSchema``): its text is imported, chunked as a document.
FILE: dict[str, str] = dict.fromkeys(
    (
        "id",
        "source_id",
        "file_path",
        "file_type",
        "file_size",
        "file_creation_date",
        "file_last_modified_date",
        "processing_status",
        "error_message",
        "total_chunks",
        "chunks_embedded",
        "created_at",
        "updated_at",
        "organization_id",
    ),
    "Letta's record of the file: its text is imported",
)
