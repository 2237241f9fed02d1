"""The runtime's value types: memory items, hits, versions, lifecycle states (and, from the
install layer, installed cubes)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import msgspec


class State(enum.StrEnum):
    """MemLifecycle states (DESIGN: Generated → Activated → Archived → Expired, plus Deleted)."""

    GENERATED = "generated"
    ACTIVATED = "activated"
    ARCHIVED = "archived"
    EXPIRED = "expired"
    DELETED = "deleted"


#: States whose items are in the lexical and vector indexes.
INDEXED_STATES = (State.GENERATED, State.ACTIVATED, State.ARCHIVED)
#: States default retrieval returns; archived items need ``include_archived=True``.
DEFAULT_STATES = (State.GENERATED, State.ACTIVATED)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def to_rfc3339(moment: datetime) -> str:
    """``2026-01-01T00:00:00.000000Z``: fixed width, so text order is time order in SQL."""
    if moment.tzinfo is None:
        raise ValueError("datetime must carry a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset); a naive one is refused."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone; add 'Z' or an offset")
    return value


class JsonFields:
    """Mixin of a struct whose JSON form (``--json`` output, caches) is its fields as builtins."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (nested structs, enums and tuples converted)."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class MemoryItem(msgspec.Struct, frozen=True):
    """One plaintext memory as the runtime holds it (MIP v1 record fields plus runtime state)."""

    id: str
    cube: str
    text: str
    tags: list[str]
    metadata: dict[str, Any]
    state: State
    version: int
    created: str
    updated: str
    access_count: int = 0
    last_access: str | None = None
    expires_at: str | None = None
    source_id: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The item as a MIP v1 plaintext record (unknown keys it arrived with included)."""
        record: dict[str, Any] = dict(self.extra)
        record.update(
            id=self.source_id or self.id,
            text=self.text,
            tags=list(self.tags),
            metadata=dict(self.metadata),
            created=self.created,
            updated=self.updated,
            version=self.version,
        )
        return record

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "id": self.id,
            "cube": self.cube,
            "text": self.text,
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
            "state": str(self.state),
            "version": self.version,
            "created": self.created,
            "updated": self.updated,
            "access_count": self.access_count,
            "last_access": self.last_access,
            "expires_at": self.expires_at,
        }


class Hit(msgspec.Struct, frozen=True):
    """A search result: the item, its fused score and the rank each retriever gave it (1-based)."""

    item: MemoryItem
    score: float
    ranks: dict[str, int]

    @property
    def retrievers(self) -> list[str]:
        """Which retrievers found the item: a subset of ``lexical``, ``semantic``, ``context``."""
        return sorted(self.ranks)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {"item": self.item.to_json(), "score": self.score, "ranks": dict(self.ranks)}


class VersionRecord(msgspec.Struct, JsonFields, frozen=True):
    """One entry of the time machine: the content and state of an item after one change."""

    seq: int
    item_id: str
    cube: str
    version: int
    op: str
    state: State
    text: str
    tags: list[str]
    metadata: dict[str, Any]
    at: str
    principal: str
