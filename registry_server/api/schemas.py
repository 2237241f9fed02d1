"""Request and response bodies of the JSON API (what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """A stable code and a message for people."""

    code: str = Field(
        description="Stable, machine-readable (spec §9): clients branch on it, never on message.",
        examples=["version_exists"],
    )
    message: str = Field(description="One line for people: what is wrong and what to do.")


class ErrorBody(BaseModel):
    """Every error response (spec §1)."""

    error: ErrorDetail


class UploadResultBody(BaseModel):
    """A stored blob."""

    digest: str
    size: int
    created: bool


class UploadSessionCreate(BaseModel):
    """Open a resumable upload."""

    digest: str
    size: int = Field(ge=0)


class UploadSessionBody(BaseModel):
    """A resumable upload's state; ``exists`` is true (and no session opened) when stored."""

    upload_id: str | None = None
    digest: str
    size: int
    offset: int = 0
    expires_at: datetime | None = None
    chunk_size_max: int | None = None
    exists: bool = False


class PublishRequest(BaseModel):
    """A DSSE envelope, plus the signer's public key for a namespace's first publish."""

    envelope: dict[str, Any]
    public_key_pem: str | None = Field(default=None, max_length=4096)


class PublishResultBody(BaseModel):
    """The published version."""

    name: str
    version: str
    manifest_digest: str
    created: bool


class VersionBody(BaseModel):
    """One version as a resolver sees it."""

    name: str | None = None
    version: str
    manifest_digest: str
    dependencies: dict[str, str]
    yanked: bool
    yank_reason: str | None
    published_at: str
    size: int


class PartSummary(BaseModel):
    """One part of a version's manifest."""

    name: str
    kind: str
    media_type: str
    digest: str
    size: int


class VersionDetailBody(VersionBody):
    """A version with its parts and download count."""

    parts: list[PartSummary]
    downloads: int


class CubeIndexBody(BaseModel):
    """Everything a resolver needs about a cube, in one response (spec §5)."""

    name: str
    normalized_name: str
    description: str
    keywords: list[str]
    latest_version: str | None
    downloads: int
    versions: list[VersionBody]


class YankRequest(BaseModel):
    """Why a version is yanked."""

    reason: str = Field(min_length=1, max_length=1000)


class SearchHit(BaseModel):
    """One search result."""

    name: str
    description: str
    keywords: list[str]
    latest_version: str | None
    downloads: int
    updated_at: str


class SearchBody(BaseModel):
    """A page of search results."""

    query: str
    total: int
    results: list[SearchHit]


class WhoAmIBody(BaseModel):
    """The caller's token."""

    account: str
    token_prefix: str
    namespaces: list[str]
    actions: list[str]
    expires_at: datetime


class TokenCreate(BaseModel):
    """A new token's scopes."""

    namespaces: list[str] = Field(min_length=1, max_length=100)
    actions: list[str] = Field(min_length=1, max_length=10)
    expires_in_days: int = Field(default=90, ge=1, le=3650)
    description: str = Field(default="", max_length=200)


class TokenCreatedBody(BaseModel):
    """A new token, shown this once."""

    token: str
    namespaces: list[str]
    actions: list[str]
    expires_at: datetime


class TokenInfo(BaseModel):
    """A token as listed: never its secret, which the registry does not keep."""

    id: int
    prefix: str = Field(description="The token's first 12 characters, as shown in audit events.")
    description: str
    namespaces: list[str]
    actions: list[str]
    created_at: datetime
    expires_at: datetime
    revoked: bool
    current: bool = Field(description="Whether this is the token making the request.")


class TokenListBody(BaseModel):
    """The account's tokens within the caller's scope, newest first."""

    tokens: list[TokenInfo]


class KeyCreate(BaseModel):
    """A public key to register, optionally endorsed by a key already in the set (MIP-1 §6.4)."""

    public_key_pem: str = Field(max_length=4096)
    endorsement: str | None = Field(default=None, max_length=65536)


class KeyRevoke(BaseModel):
    """Why a key is revoked (shown to every user who meets it)."""

    reason: str = Field(min_length=1, max_length=500)


class KeyBody(BaseModel):
    """A registered signing key, with its endorsement and revocation."""

    key_id: str
    public_key_pem: str
    added_at: str
    endorsement: str | None = None
    revoked_at: str | None = None
    revocation_reason: str | None = None


class KeyListBody(BaseModel):
    """A namespace's signing keys."""

    namespace: str
    keys: list[KeyBody]


class AuditEventBody(BaseModel):
    """One audited write."""

    at: datetime
    account: str
    token_prefix: str
    action: str
    namespace: str
    subject: str
    detail: dict[str, Any]


class AuditBody(BaseModel):
    """A namespace's audit events, newest first."""

    namespace: str
    events: list[AuditEventBody]


class HealthBody(BaseModel):
    """Liveness of the process and its dependencies."""

    status: str
    database: str
    storage: str


class LogInfoBody(BaseModel):
    """The transparency log's identity and current head (spec §12.4)."""

    origin: str = Field(description="The first line of every checkpoint, and the key's name.")
    verifier_key: str = Field(
        description="C2SP note verifier key `origin+keyid+base64(0x01||key)`: what clients pin."
    )
    public_key_pem: str
    tree_size: int
    root_hash: str = Field(description="Base64 RFC 9162 root of the current tree.")
    tile_height: int = Field(description="Always 8 (C2SP tlog-tiles).")
    checkpoint: str = Field(description="The signed checkpoint of the current tree (C2SP).")


class LogEntryBody(BaseModel):
    """One log entry: its index, canonical text (§12.2) and base64 leaf hash."""

    index: int
    entry: str
    leaf_hash: str


class LogEntriesBody(BaseModel):
    """A run of consecutive entries, and the tree size they were read at."""

    tree_size: int
    entries: list[LogEntryBody]


class InclusionBody(BaseModel):
    """An RFC 9162 inclusion proof of one entry, with the checkpoint it proves against."""

    index: int
    tree_size: int
    entry: str
    leaf_hash: str
    proof: list[str] = Field(description="Base64 hashes, the leaf's sibling first.")
    checkpoint: str = Field(description="The signed checkpoint of `tree_size` entries.")


class ConsistencyBody(BaseModel):
    """An RFC 9162 consistency proof from `first` to `second` entries."""

    first: int
    second: int
    proof: list[str] = Field(description="Base64 hashes (empty when first is 0 or second).")
    checkpoint: str = Field(description="The signed checkpoint of `second` entries.")
