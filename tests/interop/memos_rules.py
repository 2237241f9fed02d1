"""The rules MemOS's loader applies to a cube directory, as pydantic models, for tests.

MemOS itself (the ``MemoryOS`` package) cannot be a test dependency: it pins transformers < 5.
Its loader, ``GeneralMemCube.init_from_dir`` -> ``NaiveTextMemory.load`` (MemOS 2.0.33,
``src/memos/memories/textual/naive.py``), reads ``textual_memory.json`` and builds a
``TextualMemoryItem`` (``src/memos/memories/textual/item.py``) from each entry, with pydantic's
default (lax) validation; the first entry it refuses stops the load, and the error is only
logged: MemOS then holds none of the cube's memories. These models declare the same fields with
the same types and the same ``extra`` policy, so a test can apply MemOS's rules without MemOS;
``scripts/check-memos-interop`` runs MemOS's own loader on an export outside the suite.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator


class ArchivedTextualMemory(BaseModel):
    """An entry of ``metadata.history``."""

    version: int = 1
    is_fast: bool = False
    memory: str | None = ""
    update_type: Literal["conflict", "duplicate", "extract", "unrelated", "feedback"] = "unrelated"
    archived_memory_id: str | None = None
    created_at: str | None = None


class TextualMemoryMetadata(BaseModel):
    """``TextualMemoryMetadata``: typed fields, anything else allowed."""

    model_config = ConfigDict(extra="allow")

    user_id: str | None = None
    session_id: str | None = None
    status: Literal["activated", "resolving", "archived", "deleted"] | None = "activated"
    is_fast: bool | None = None
    evolve_to: list[str] = []
    version: int = 1
    history: list[ArchivedTextualMemory] = []
    working_binding: str | None = None
    type: str | None = None
    key: str | None = None
    confidence: float | None = None
    source: Literal["conversation", "retrieved", "web", "file", "system"] | None = None
    tags: list[str] | None = None
    visibility: Literal["private", "public", "session"] | None = None
    updated_at: str | None = None
    info: dict[str, Any] | None = None
    internal_info: dict[str, Any] | None = None
    covered_history: Any | None = None


#: Keys that make MemOS read metadata as a tree node's (``TextualMemoryItem._coerce_metadata``).
TREE_KEYS = ("sources", "memory_type", "embedding", "background", "usage")


class TextualMemoryItem(BaseModel):
    """``TextualMemoryItem``: a UUID id, the text, the metadata; nothing else."""

    model_config = ConfigDict(extra="forbid")

    id: str
    memory: str
    metadata: TextualMemoryMetadata

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        uuid.UUID(value)
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _plain_metadata(cls, value: Any) -> Any:
        # A tree node's metadata has more typed fields (memory_type is a Literal...): an export
        # must not trip MemOS into reading it as one.
        if isinstance(value, dict) and any(key in value for key in TREE_KEYS):
            raise ValueError(f"metadata holds {sorted(set(TREE_KEYS) & set(value))}")
        return value


class NaiveTextConfig(BaseModel):
    """The part of ``NaiveTextMemoryConfig`` the loader reads."""

    model_config = ConfigDict(extra="allow", strict=True)

    memory_filename: Literal["textual_memory.json"]
    extractor_llm: dict[str, Any]


class TextMemorySection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    backend: Literal["naive_text"]
    config: NaiveTextConfig


class UninitializedSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    backend: Literal["uninitialized"]
    config: dict[str, Any]


class GeneralMemCubeConfig(BaseModel):
    """``GeneralMemCubeConfig`` (MemOS configs are strict and forbid unknown fields)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model_schema: Literal["memos.configs.mem_cube.GeneralMemCubeConfig"]
    config_filename: Literal["config.json"]
    user_id: str
    cube_id: str
    text_mem: TextMemorySection
    act_mem: UninitializedSection
    para_mem: UninitializedSection
    pref_mem: UninitializedSection
