"""Tables of the transparency log (spec/MIP-1-registry.md §12).

``log_entry`` holds the canonical bytes of every entry by index; ``log_hash`` every stored hash
of the Merkle tree by :func:`mip.transparency.prover.stored_hash_index` (the leaf hash and each
complete subtree's hash, written once, never recomputed); ``log_head`` the one row with the
tree's size, root and frontier and the log's identity. Appends lock that row, so the database serialises
them across server processes; the primary keys make a second entry at one index impossible.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary
from sqlmodel import Field, SQLModel

from registry_server.db.models import UTCDateTime, utcnow

#: The primary key of the one ``log_head`` row.
HEAD_ID = 1
#: 64-bit keys; on SQLite an INTEGER PRIMARY KEY is the rowid itself (no second index).
_INDEX = BigInteger().with_variant(Integer, "sqlite")


class LogHead(SQLModel, table=True):
    """The log's identity (origin, verifier key) and its current tree size and root."""

    __tablename__ = "log_head"

    id: int = Field(primary_key=True)
    origin: str = Field(max_length=200)
    #: The note verifier key (``name+hash+base64``) every checkpoint of this log is signed with.
    verifier_key: str = Field(max_length=400)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    #: The hashes of the complete subtrees that make up the tree, left to right, concatenated
    #: (mip.transparency.prover.frontier_indexes): all an append needs, so it reads no other row.
    frontier: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LogEntryRecord(SQLModel, table=True):
    """One entry: its canonical bytes, and the fields lookups by cube version need."""

    __tablename__ = "log_entry"
    __table_args__ = (
        Index("ix_log_entry_version", "name", "version", "event"),
        Index("ix_log_entry_namespace", "namespace", "idx"),
    )

    idx: int = Field(
        sa_column=Column(_INDEX, primary_key=True, autoincrement=False, nullable=False)
    )
    event: str = Field(max_length=16)
    namespace: str = Field(max_length=64)
    #: The cube's normal form (version events only).
    name: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=128)
    entry: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogHash(SQLModel, table=True):
    """One stored hash of the tree, by its stored hash index."""

    __tablename__ = "log_hash"

    idx: int = Field(
        sa_column=Column(_INDEX, primary_key=True, autoincrement=False, nullable=False)
    )
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
