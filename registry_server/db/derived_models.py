"""Tables of facts derived from stored blobs and manifests, each computed once, at publish.

Versions and blobs are immutable, so what the pages and the ``.memcube`` download need from them
is computed when a version is published (``services/derived.py``) and kept: a page view or a
download then does bounded work however large the cube. Versions published before these tables
existed get their rows the first time something needs them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, Text
from sqlmodel import Field, SQLModel


class BlobChecksum(SQLModel, table=True):
    """The CRC-32 of a blob: a STORED ZIP entry's local header needs it before the bytes."""

    __tablename__ = "blob_checksum"

    digest: str = Field(primary_key=True, max_length=71)
    #: Unsigned 32 bits: past a 4-byte signed integer.
    crc32: int = Field(sa_column=Column(BigInteger, nullable=False))


class PlaintextSummary(SQLModel, table=True):
    """What the pages need of a plaintext blob without reading it again.

    ``index`` is zlib-compressed msgpack: one ``[id, content hash, start, end]`` per record (the
    first ``MAX_INDEXED_RECORDS``), so a diff compares two versions from their indexes and reads
    only the few records it shows, by byte range. ``preview`` holds the first few memories, cut.
    """

    __tablename__ = "plaintext_summary"

    digest: str = Field(primary_key=True, max_length=71)
    records: int = 0
    #: True when the blob holds more records than the index does.
    truncated: bool = False
    #: Why the blob could not be decoded past ``records`` records (``None``: it decoded).
    problem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    index: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    preview: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class VersionCard(SQLModel, table=True):
    """A version's card (MIP-1 §5.4) rendered to sanitised HTML (``services/cards.py``)."""

    __tablename__ = "version_card"

    version_id: int = Field(foreign_key="cube_version.id", primary_key=True)
    html: str = Field(sa_column=Column(Text, nullable=False))
