"""The registry's settings: a pydantic-settings object built by :func:`load_settings`.

Every field reads from an environment variable with the ``MEMSTORE_`` prefix
(``MEMSTORE_DATABASE_URL``, ``MEMSTORE_STORAGE_URL``, ...); command-line flags override them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class InvalidSettingsError(ValueError):
    """A ``MEMSTORE_*`` setting or flag has a value the registry cannot use."""


class Settings(BaseSettings):
    """Configuration of one registry server process."""

    model_config = SettingsConfigDict(env_prefix="MEMSTORE_", extra="ignore")

    #: Where the embedded defaults live: ``registry.db`` (SQLite) and ``blobs/``.
    data_dir: Path = Path("memstore-data")
    #: SQLAlchemy URL; empty means SQLite in ``data_dir``. PostgreSQL: ``postgresql+psycopg://...``.
    database_url: str = ""
    #: ``file:///path`` or ``s3://bucket/prefix``; empty means ``data_dir/blobs``.
    storage_url: str = ""
    #: Endpoint of an S3-compatible store (MinIO, moto, R2...); empty means AWS.
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    #: ``path`` works with every S3-compatible server; ``virtual`` for AWS-style host names.
    s3_addressing_style: Literal["auto", "virtual", "path"] = "path"
    #: How long a presigned download URL stays valid.
    presign_expires_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    #: Largest body of one monolithic ``PUT /v1/blobs/{digest}``; larger blobs use sessions.
    max_monolithic_upload_bytes: int = Field(default=1 << 30, ge=1)
    #: Largest blob at all (MIP-1 §9 default: 64 GiB).
    max_blob_bytes: int = Field(default=64 << 30, ge=1)
    #: Largest chunk of one ``PATCH /v1/uploads/{id}``.
    max_chunk_bytes: int = Field(default=256 << 20, ge=1)
    #: Largest body of any other request (publish envelopes, JSON); MIP caps envelopes at 2 MiB.
    max_request_body_bytes: int = Field(default=4 << 20, ge=1024)
    #: After ``body_grace_seconds``, a request body must arrive at this average rate (bytes/s)...
    body_min_rate: int = Field(default=8192, ge=1)
    body_grace_seconds: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)
    #: ...and never pause longer than this between two pieces (408 ``request_timeout``).
    body_idle_seconds: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)
    #: Requests sending a body without a token (no route of the API takes one) at a time.
    max_unauthenticated_bodies: int = Field(default=16, ge=1)
    #: Temp files and multipart uploads untouched this long are leftovers of killed uploads:
    #: swept when a server starts, and by ``memos-registry admin gc``.
    abandoned_write_seconds: int = Field(default=3600, ge=1)
    upload_session_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    #: Expiry of tokens made without an explicit one.
    token_default_days: int = Field(default=90, ge=1)
    #: Download counts are aggregated in memory and flushed this often.
    download_flush_seconds: float = Field(default=2.0, gt=0, le=3600, allow_inf_nan=False)
    #: SQLAlchemy pool size per process (PostgreSQL).
    database_pool_size: int = Field(default=10, ge=1)
    #: The transparency log's Ed25519 key (PKCS#8 PEM, mode 0600); empty means
    #: ``data_dir/log-key.pem``, created on first start. Every server process of one registry
    #: uses the same key; it never goes into the database.
    log_key_file: Path | None = None
    #: The log's origin: the first line of its checkpoints and its key's name. Empty means
    #: ``memstore/log/<first 16 hex digits of the key id>``; set it to the public URL without
    #: scheme, e.g. ``registry.example.com/v1/log``. It never changes for the life of a log.
    log_origin: str = Field(default="", max_length=200)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(value)
            except ArgumentError as exc:
                raise ValueError(
                    "not a database URL; use e.g. postgresql+psycopg://host:5432/db"
                ) from exc
        return value

    @field_validator("log_origin")
    @classmethod
    def _check_log_origin(cls, value: str) -> str:
        if value and ("+" in value or any(char.isspace() or ord(char) < 0x20 for char in value)):
            raise ValueError("a log origin has no spaces, control characters or '+'")
        return value

    def resolved_log_key_file(self) -> Path:
        """Where the transparency log's key lives, defaulting to the data directory."""
        return self.log_key_file or self.data_dir / "log-key.pem"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    def resolved_storage_url(self) -> str:
        """The storage URL, defaulting to a directory under ``data_dir``."""
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "blobs").resolve().as_uri()


def load_settings(**overrides: Any) -> Settings:
    """Settings from ``MEMSTORE_*`` variables, with ``overrides`` (flags) taking precedence.

    Raises :class:`InvalidSettingsError` naming every invalid setting at once.
    """
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"MEMSTORE_{'_'.join(str(part) for part in item['loc']).upper()}: "
            + item["msg"].removeprefix("Value error, ")
            for item in exc.errors()
        )
        raise InvalidSettingsError(f"invalid settings: {problems}") from exc
