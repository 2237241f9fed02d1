"""The payload check a client runs, run at publish (MIP-1 §7; registry spec §4).

A registry must not store a version no client can use: each part's blob already uploaded is
checked by :func:`mip.payloads.check_part_payload` -- the very function ``memos verify`` and the
installer call -- and a failure refuses the publish with the protocol's own error code
(``invalid_records``, ``invalid_tensor``). A blob not uploaded yet is left to the publishing
transaction, which reports it as ``blob_missing``.
"""

from __future__ import annotations

from collections.abc import Iterator

from mip.limits import DEFAULT_LIMITS, Limits
from mip.models import ActivationPart, Manifest, ParameterPart, PlaintextPart
from mip.payloads import check_part_payload
from registry_server.errors import StorageUnavailableError
from registry_server.services.blobs import blob_key
from registry_server.services.storage import BlobStore


def check_manifest_payloads(
    store: BlobStore, manifest: Manifest, limits: Limits = DEFAULT_LIMITS
) -> None:
    """Check every known part whose blob is stored; raise the first payload error."""
    for part in manifest.parts:
        if not isinstance(part, PlaintextPart | ActivationPart | ParameterPart):
            continue  # a kind of a newer minor version: nothing to check (MIP-1 §2)
        key = blob_key(part.digest)
        if store.size(key) != part.size:
            continue  # missing or another size: the publishing transaction refuses it
        try:
            path = store.local_path(key)
            if path is not None:
                with open(path, "rb") as stream:
                    check_part_payload(part, stream, limits)
            else:
                check_part_payload(part, StoredBlob(store, key, part.size), limits)  # type: ignore[arg-type]
        except (FileNotFoundError, StorageUnavailableError):
            # Collected (``admin gc``) between the size check and the read: the publishing
            # transaction reports ``blob_missing`` and the client uploads again. A store that
            # still has the blob but failed to read it is the storage's error.
            if store.size(key) is not None:
                raise


class StoredBlob:
    """A read-only stream over a stored blob: sequential reads pull the store's chunks of one
    ranged read; a seek starts another (an S3 object is read by ranged GETs, never whole)."""

    def __init__(self, store: BlobStore, key: str, size: int) -> None:
        self._store = store
        self._key = key
        self._size = size
        self._position = 0
        self._chunks: Iterator[bytes] | None = None
        self._buffer = b""

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to ``offset`` from the start (``whence`` 0 only)."""
        if whence != 0 or offset < 0:
            raise ValueError("a stored blob seeks to a non-negative offset from its start")
        if offset != self._position:
            self._position, self._chunks, self._buffer = min(offset, self._size), None, b""
        return self._position

    def tell(self) -> int:
        """The current offset."""
        return self._position

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (what is left for ``-1``); ``b""`` at the end."""
        left = self._size - self._position
        want = left if size < 0 else min(size, left)
        if want <= 0:
            return b""
        if self._chunks is None:
            self._chunks = iter(self._store.read(self._key, self._position, self._size))
        pieces, have = [self._buffer], len(self._buffer)
        while have < want:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            pieces.append(chunk)
            have += len(chunk)
        data = b"".join(pieces)
        self._buffer = data[want:]
        self._position += min(want, len(data))
        return data[:want]
