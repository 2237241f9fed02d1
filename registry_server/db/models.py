"""SQLModel tables of the registry (one class per table; API shapes live in ``api/schemas.py``).

Uniqueness that guards correctness under concurrency is declared here, so the database, not
application code, decides races: one normal form and one confusable skeleton per namespace and per
cube, one version per (cube, version without build metadata), one key id per namespace.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def storable_text(value: str) -> str:
    """``value`` for a text column: NUL becomes U+FFFD.

    JSON (so MIP) allows ``\u0000`` in strings but PostgreSQL text cannot hold it; the columns
    this is for (descriptions, search text, facets) are copies made for display and search,
    while the signed envelope keeps the exact bytes.
    """
    return value.replace("\x00", "\ufffd")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (SQLite has no time zones), always returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class Account(SQLModel, table=True):
    """A publisher: owns namespaces and tokens."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    created_at: datetime = _when(default_factory=utcnow)


class Namespace(SQLModel, table=True):
    """The first segment of cube names; owned by one account."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    normalized_name: str = Field(unique=True, max_length=64)
    skeleton: str = Field(unique=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True)
    created_at: datetime = _when(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """An API token; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    token_hash: str = Field(unique=True, max_length=64)
    #: The first characters of the token, shown in listings and audit events.
    display_prefix: str = Field(max_length=16)
    namespaces: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    actions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=200)
    created_at: datetime = _when(default_factory=utcnow)
    expires_at: datetime = _when()
    revoked: bool = False


class _NamespaceKeyRow(SQLModel):
    """The columns of a row about one key of a namespace (each table: one row per pair)."""

    id: int | None = Field(default=None, primary_key=True)
    namespace_id: int = Field(foreign_key="namespace.id", index=True)
    key_id: str = Field(max_length=64)


class SigningKeyRecord(_NamespaceKeyRow, table=True):
    """A public key allowed to sign versions in a namespace."""

    __tablename__ = "signing_key"
    __table_args__ = (UniqueConstraint("namespace_id", "key_id"),)

    public_key_pem: str = Field(sa_column=Column(Text, nullable=False))
    added_at: datetime = _when(default_factory=utcnow)


class KeyEndorsementRecord(_NamespaceKeyRow, table=True):
    """A registered key's endorsement: a DSSE statement by keys already in the set (MIP-1 §6.4).

    Its own table (not a column of ``signing_key``) so registries created before rotation
    existed gain it with ``create_all``.
    """

    __tablename__ = "signing_key_endorsement"
    __table_args__ = (UniqueConstraint("namespace_id", "key_id"),)

    envelope: str = Field(sa_column=Column(Text, nullable=False))
    added_at: datetime = _when(default_factory=utcnow)


class KeyRevocationRecord(_NamespaceKeyRow, table=True):
    """A revoked signing key of a namespace: versions signed only by it are refused (MIP-1 §6.4)."""

    __tablename__ = "signing_key_revocation"
    __table_args__ = (UniqueConstraint("namespace_id", "key_id"),)

    reason: str = Field(max_length=500)
    revoked_at: datetime = _when(default_factory=utcnow)


class Blob(SQLModel, table=True):
    """A stored, verified blob. A row exists only after the bytes are committed to storage."""

    digest: str = Field(primary_key=True, max_length=71)
    size: int
    created_at: datetime = _when(default_factory=utcnow)


class UploadSession(SQLModel, table=True):
    """A resumable upload in progress; its chunks live in storage under ``uploads/<id>/``."""

    __tablename__ = "upload_session"

    id: str = Field(primary_key=True, max_length=32)
    digest: str = Field(max_length=71)
    size: int
    account_id: int = Field(foreign_key="account.id")
    created_at: datetime = _when(default_factory=utcnow)
    expires_at: datetime = _when()


class Cube(SQLModel, table=True):
    """A cube: ``namespace/name``, with its search text and the resolver document cached."""

    id: int | None = Field(default=None, primary_key=True)
    namespace_id: int = Field(foreign_key="namespace.id", index=True)
    name: str = Field(max_length=200)
    normalized_name: str = Field(unique=True, max_length=200)
    skeleton: str = Field(unique=True, max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Name words, description, keywords and tags: what full-text search indexes (PostgreSQL).
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    latest_version: str | None = Field(default=None, max_length=128)
    downloads: int = 0
    created_at: datetime = _when(default_factory=utcnow)
    updated_at: datetime = _when(default_factory=utcnow)
    #: The ``GET /v1/cubes/{ns}/{name}`` JSON, rebuilt in every transaction that changes a
    #: version, so the resolver's hot path is one indexed read and no serialisation.
    index_document: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    index_etag: str = Field(default="", max_length=80)


class CubeVersion(SQLModel, table=True):
    """One immutable published version: its exact envelope and what a resolver needs."""

    __tablename__ = "cube_version"
    __table_args__ = (UniqueConstraint("cube_id", "version_key"),)

    id: int | None = Field(default=None, primary_key=True)
    cube_id: int = Field(foreign_key="cube.id", index=True)
    version: str = Field(max_length=128)
    #: The version without build metadata: SemVer says ``1.0.0+a`` and ``1.0.0+b`` are equal.
    version_key: str = Field(max_length=128)
    manifest_digest: str = Field(max_length=71)
    envelope: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    dependencies: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    parts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    total_size: int = 0
    yanked: bool = False
    yank_reason: str | None = Field(default=None, max_length=1000)
    downloads: int = 0
    published_at: datetime = _when(default_factory=utcnow)


class VersionBlob(SQLModel, table=True):
    """Which blobs a version references (keeps blobs of published versions from collection)."""

    __tablename__ = "version_blob"

    version_id: int = Field(foreign_key="cube_version.id", primary_key=True)
    digest: str = Field(foreign_key="blob.digest", primary_key=True, max_length=71)


class AuditEvent(SQLModel, table=True):
    """One write: who (account, token prefix), what (action), on what (namespace, subject)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_namespace_at", "namespace", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(default_factory=utcnow)
    account: str = Field(max_length=64)
    token_prefix: str = Field(default="", max_length=16)
    action: str = Field(max_length=40)
    namespace: str = Field(default="", max_length=64)
    subject: str = Field(default="", max_length=300)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
