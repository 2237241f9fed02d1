"""The ``.memcube`` single-file container: read, verify and write (MIP-1 §8).

A bundle is a ZIP archive whose entries are all STORED (uncompressed): ``manifest.json`` (the exact
manifest bytes), ``envelope.json`` (the DSSE envelope over them) and one ``blobs/sha256/<hex>``
entry per blob the manifest references. A reader trusts nothing in the archive: entry names must
match those three forms exactly (no paths, no links, no duplicates), every size is bounded and
must equal the manifest's declaration, entry data may not overlap, and every blob is hashed
before it is used. Blobs are streamed, never read whole.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO

from mip.archive import (
    BLOB_PREFIX,
    ENVELOPE_ENTRY,
    MANIFEST_ENTRY,
    Archive,
    Entry,
    ProgressCallback,
    RangeReader,
    read_archive,
)
from mip.bundle_writer import BundleWriter
from mip.closing import ClosedOnExit
from mip.digests import CHUNK_SIZE, Digest
from mip.dsse import Envelope, parse_envelope
from mip.errors import (
    BlobMissingError,
    DigestMismatchError,
    LayoutError,
    PayloadMismatchError,
    SizeMismatchError,
    UndeclaredBlobError,
)
from mip.limits import DEFAULT_LIMITS, Limits
from mip.manifest import decode_manifest, manifest_digest
from mip.models import Manifest, PlaintextPart
from mip.payloads import check_part_payload
from mip.records import iter_records

#: Re-exported: the archive layer is part of this module's interface.
__all__ = [
    "BLOB_PREFIX",
    "ENVELOPE_ENTRY",
    "MANIFEST_ENTRY",
    "Archive",
    "Bundle",
    "BundleWriter",
    "Entry",
    "ProgressCallback",
    "open_bundle",
    "read_archive",
]


class Bundle(ClosedOnExit):
    """An opened ``.memcube`` whose structure has been checked (see :func:`open_bundle`).

    Blob contents are not trusted until :meth:`verify_blobs` has run.
    """

    def __init__(
        self,
        archive: Archive,
        manifest_bytes: bytes,
        manifest: Manifest,
        envelope: Envelope,
        blobs: dict[Digest, Entry],
        limits: Limits,
    ) -> None:
        self.archive = archive
        self.path = archive.path
        self._file = archive.file
        self.manifest_bytes = manifest_bytes
        self.manifest = manifest
        self.envelope = envelope
        self.blobs = blobs
        self.limits = limits

    @property
    def digest(self) -> Digest:
        """The manifest digest: the identity of this cube version."""
        return manifest_digest(self.manifest_bytes)

    def close(self) -> None:
        """Stop any blob hashing and close the underlying file."""
        self.archive.close()

    def open_blob(self, digest: Digest) -> RangeReader:
        """A stream over a blob's bytes (unverified: hash them, or call :meth:`verify_blobs`)."""
        entry = self.blobs[digest]
        return RangeReader(self._file, entry.offset, entry.size)

    def copy_blob(
        self, digest: Digest, sink: BinaryIO | None, progress: ProgressCallback | None = None
    ) -> None:
        """Stream a blob into ``sink`` (or nowhere), hashing it; raise if the digest differs."""
        entry = self.blobs[digest]
        hasher = hashlib.sha256()
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        reader = self.open_blob(digest)
        remaining = entry.size
        while remaining:
            count = reader.readinto(view[: min(remaining, CHUNK_SIZE)])
            if not count:
                raise LayoutError(f"{entry.name}: archive truncated inside the entry")
            hasher.update(view[:count])
            if sink is not None:
                sink.write(view[:count])
            remaining -= count
            if progress is not None:
                progress(count)
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise DigestMismatchError(f"{entry.name}: content hashes to {actual}, not its name")

    def verify_blobs(self, progress: ProgressCallback | None = None) -> None:
        """Hash every blob and compare with its name (streamed, constant memory, on workers).

        Hashing may already be running (:meth:`Archive.start_hashing` before :func:`open_bundle`);
        then this only waits for it.
        """
        self.archive.start_hashing(progress).wait()

    def check_contents(self) -> None:
        """Validate each part's payload format (MIP-1 §7): :func:`mip.payloads.check_part_payload`."""
        for part in self.manifest.parts:
            check_part_payload(part, self.open_blob(part.digest), self.limits)  # type: ignore[arg-type]

    def iter_records(self, part: PlaintextPart) -> Iterator[dict[str, Any]]:
        """Decode a plaintext part's records (verify the blob first)."""
        return iter_records(self.open_blob(part.digest), self.limits)  # type: ignore[arg-type]

    def extract_blob(self, digest: Digest, destination: Path) -> None:
        """Copy a verified blob to ``destination`` atomically (temp file, then rename)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=".tmp-", dir=destination.parent)
        try:
            with os.fdopen(handle, "wb") as sink:
                self.copy_blob(digest, sink)
            os.replace(temp_name, destination)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise


def open_bundle(source: Path | str | Archive, limits: Limits = DEFAULT_LIMITS) -> Bundle:
    """Check a ``.memcube``'s structure, manifest and envelope (not blob hashes).

    ``source`` is a path, or an :class:`Archive` already read (whose hashing may be running); the
    bundle takes ownership of it either way.
    """
    archive = source if isinstance(source, Archive) else read_archive(source, limits)
    try:
        return _open(archive, limits)
    except BaseException:
        archive.close()
        raise


def _open(archive: Archive, limits: Limits) -> Bundle:
    manifest_bytes = archive.read_entry(MANIFEST_ENTRY)
    envelope_bytes = archive.read_entry(ENVELOPE_ENTRY)
    envelope = parse_envelope(envelope_bytes, limits)
    if envelope.payload != manifest_bytes:
        raise PayloadMismatchError("manifest.json differs from the payload its envelope signs")
    manifest = decode_manifest(manifest_bytes, limits)
    declared = manifest.blob_sizes()
    blobs = archive.blob_entries()
    for digest, entry in blobs.items():
        if digest not in declared:
            raise UndeclaredBlobError(
                f"undeclared entry {entry.name}: no part of the manifest references it"
            )
        if entry.size != declared[digest]:
            hint = (
                " (refusing a possible decompression bomb)" if entry.size > declared[digest] else ""
            )
            raise SizeMismatchError(
                f"{entry.name} holds {entry.size} bytes but the manifest declares "
                f"{declared[digest]}{hint}"
            )
    for part in manifest.parts:
        if part.digest not in blobs:
            raise BlobMissingError(
                f"blob of part {part.name!r} ({part.digest}) is missing from the bundle"
            )
    return Bundle(archive, manifest_bytes, manifest, envelope, blobs, limits)
