"""Content digests: ``sha256:<64 hex>`` names for blobs and manifests (MIP-1 §4)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import BinaryIO, NewType

from mip.errors import InvalidDigestError

#: A validated digest string, always ``sha256:`` + 64 lower-case hex digits.
Digest = NewType("Digest", str)

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
#: Read size for streaming hashes: large enough that hashing, not Python, dominates.
CHUNK_SIZE = 4 << 20


def parse_digest(text: str) -> Digest:
    """Return ``text`` as a :data:`Digest`, or raise :class:`InvalidDigestError`."""
    if not isinstance(text, str) or not _DIGEST_RE.fullmatch(text):
        raise InvalidDigestError(
            f"invalid digest {text!r}: expected 'sha256:' followed by 64 lower-case hex digits"
        )
    return Digest(text)


def digest_hex(digest: Digest) -> str:
    """The 64 hex digits of a digest (its name under ``blobs/sha256/``)."""
    return digest.removeprefix("sha256:")


def digest_bytes(data: bytes) -> Digest:
    """The digest of an in-memory byte string (manifests, small payloads)."""
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def digest_stream(stream: BinaryIO, limit: int | None = None) -> tuple[Digest, int]:
    """Hash a stream to its end (or ``limit + 1`` bytes, to detect overruns); return digest and size."""
    hasher = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    size = 0
    while True:
        count = stream.readinto(view)  # type: ignore[attr-defined]
        if not count:
            break
        hasher.update(view[:count])
        size += count
        if limit is not None and size > limit:
            break
    return Digest("sha256:" + hasher.hexdigest()), size


def digest_file(path: Path) -> tuple[Digest, int]:
    """Hash a file without reading it whole; return its digest and size."""
    with open(path, "rb", buffering=0) as stream:
        return digest_stream(stream)
