"""The ``.memcube`` ZIP layer (MIP-1 §8): the reader and the container rules.

:func:`read_archive` checks everything about a bundle that needs no manifest: entry names, kinds,
sizes, local headers, layout and overlaps. :meth:`Archive.start_hashing` then hashes every blob
entry against the digest its name claims (:mod:`mip.blob_hashing`). Writers are
:mod:`mip.bundle_writer` (the readable reference) and the client's fast one
(``memos_client.authoring.bundle_writer``).

Nothing here imports the manifest models or cryptography, so a command can start hashing
gigabytes first and import the manifest and signature machinery while that runs. ``mip.container``
adds the manifest-level checks on top.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from mip.digests import Digest
from mip.errors import BundleError
from mip.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from mip.blob_hashing import BlobHashing

MANIFEST_ENTRY = "manifest.json"
ENVELOPE_ENTRY = "envelope.json"
BLOB_PREFIX = "blobs/sha256/"
_BLOB_ENTRY_RE = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"

#: Called with the number of bytes just processed (progress bars); may be called from a worker.
ProgressCallback = Callable[[int], None]


class Entry(NamedTuple):
    """Where one archive entry's bytes lie in the file.

    A named tuple, not a msgspec struct (ADR 0012): ``memos publish`` and ``memos verify`` start
    reading the archive before msgspec is imported, beside the upload or the hashing.
    """

    name: str
    offset: int
    size: int


class RangeReader:
    """A read-only stream over ``size`` bytes at ``offset`` of an open file."""

    def __init__(self, file: BinaryIO, offset: int, size: int) -> None:
        self._file = file
        self._start = offset
        self._end = offset + size
        self._offset = offset
        self._remaining = size

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to ``offset`` bytes from the range's start (``whence`` 0 only)."""
        if whence != 0 or offset < 0:
            raise ValueError("a RangeReader seeks to a non-negative offset from its start")
        self._offset = min(self._start + offset, self._end)
        self._remaining = self._end - self._offset
        return self._offset - self._start

    def tell(self) -> int:
        """The offset from the range's start."""
        return self._offset - self._start

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._remaining:
            size = self._remaining
        self._file.seek(self._offset)
        data = self._file.read(size)
        self._offset += len(data)
        self._remaining -= len(data)
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:
        view = memoryview(buffer)[: self._remaining]
        self._file.seek(self._offset)
        count = self._file.readinto(view)  # type: ignore[attr-defined]
        self._offset += count
        self._remaining -= count
        return int(count)

    def file_span(self) -> tuple[BinaryIO, int, int]:
        """``(file, offset, remaining)``: where the unread bytes lie, for the kernel to send them
        (``sendfile``) without a copy through this process."""
        return self._file, self._offset, self._remaining


class Archive:
    """An open ``.memcube`` whose ZIP structure has been checked (see :func:`read_archive`)."""

    def __init__(self, path: Path, file: BinaryIO, entries: dict[str, Entry]) -> None:
        self.path = path
        self.file = file
        self.entries = entries
        self._hashing: BlobHashing | None = None

    def blob_entries(self) -> dict[Digest, Entry]:
        """Every ``blobs/sha256/<hex>`` entry, keyed by the digest its name claims."""
        return blob_entries(self.entries)

    def read_entry(self, name: str) -> bytes:
        """The whole content of a (small, size-checked) entry."""
        entry = self.entries[name]
        return RangeReader(self.file, entry.offset, entry.size).read()

    def start_hashing(self, progress: ProgressCallback | None = None) -> BlobHashing:
        """Start hashing every blob entry in the background (once; later calls return it)."""
        if self._hashing is None:
            from mip.blob_hashing import BlobHashing  # it imports this module's Entry

            blobs = list(self.blob_entries().values())
            self._hashing = BlobHashing(self.file.fileno(), blobs, progress)
        return self._hashing

    def close(self) -> None:
        """Stop any hashing and close the file."""
        if self._hashing is not None:
            self._hashing.close()
        self.file.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def read_archive(path: Path | str, limits: Limits = DEFAULT_LIMITS) -> Archive:
    """Open a ``.memcube`` and check its ZIP structure (not the manifest, not blob hashes)."""
    path = Path(path)
    file = open(path, "rb")  # noqa: SIM115  (owned by the Archive, closed by it)
    try:
        return Archive(path, file, read_entries(file, limits))
    except BaseException:
        file.close()
        raise


def read_entries(file: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> dict[str, Entry]:
    """Check the archive's structure and return its entries by name.

    Every entry must be a STORED regular file named ``manifest.json``, ``envelope.json`` or
    ``blobs/sha256/<hex>``, exactly once, its local header agreeing with the central directory,
    its bytes inside the file and overlapping no other entry; manifest and envelope must exist,
    within their size limits.
    """
    file_size = os.fstat(file.fileno()).st_size
    try:
        archive = zipfile.ZipFile(file)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        NotImplementedError,  # "zip file version 6.4": a feature zipfile lacks
        ValueError,  # names that are not UTF-8, negative offsets
        struct.error,
    ) as exc:
        raise BundleError(f"not a valid .memcube: truncated or not a ZIP archive ({exc})") from exc
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise BundleError(f"archive has {len(infos)} entries, limit {limits.max_entries}")
    names = [info.orig_filename for info in infos]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise BundleError(f"duplicate entries: {', '.join(repeated)}")
    entries: dict[str, Entry] = {}
    for info in infos:
        _check_entry(info)
        offset = _read_local_header(file, info, file_size)
        entries[info.orig_filename] = Entry(info.orig_filename, offset, info.file_size)
    end = 0
    for entry in sorted(entries.values(), key=lambda e: e.offset):
        if entry.offset < end:
            raise BundleError(f"entry {entry.name!r} overlaps another entry (zip bomb?)")
        end = entry.offset + entry.size
    for required in (MANIFEST_ENTRY, ENVELOPE_ENTRY):
        if required not in entries:
            raise BundleError(f"not a .memcube: {required} is missing")
    if entries[MANIFEST_ENTRY].size > limits.max_manifest_bytes:
        raise BundleError(
            f"manifest.json is {entries[MANIFEST_ENTRY].size} bytes, over the "
            f"{limits.max_manifest_bytes}-byte limit"
        )
    if entries[ENVELOPE_ENTRY].size > limits.max_envelope_bytes:
        raise BundleError(
            f"envelope.json is {entries[ENVELOPE_ENTRY].size} bytes, over the "
            f"{limits.max_envelope_bytes}-byte limit"
        )
    return entries


def blob_digest(name: str) -> Digest | None:
    """The digest a ``blobs/sha256/<hex>`` entry name claims; ``None`` for other entries."""
    match = _BLOB_ENTRY_RE.fullmatch(name)
    return None if match is None else Digest("sha256:" + match.group(1))


def blob_entries(entries: dict[str, Entry]) -> dict[Digest, Entry]:
    """The blob entries, by the digest their names claim (not yet verified), in file order."""
    found = {
        digest: entry
        for name, entry in entries.items()
        if (digest := blob_digest(name)) is not None
    }
    return dict(sorted(found.items(), key=lambda item: item[1].offset))


def _read_local_header(file: BinaryIO, info: zipfile.ZipInfo, file_size: int) -> int:
    """Return the data offset of an entry after checking its local header agrees."""
    if not 0 <= info.header_offset < file_size:
        # zipfile shifts offsets by any bytes found before the archive; they can go negative.
        raise BundleError(
            f"{info.filename}: local header offset outside the file (corrupt archive)"
        )
    file.seek(info.header_offset)
    fixed = file.read(_LOCAL_HEADER.size)
    if len(fixed) != _LOCAL_HEADER.size:
        raise BundleError(f"{info.filename}: archive truncated inside a local header")
    fields = _LOCAL_HEADER.unpack(fixed)
    if fields[0] != _LOCAL_SIGNATURE:
        raise BundleError(f"{info.filename}: bad local header signature (corrupt archive)")
    name_length, extra_length = fields[10], fields[11]
    name = file.read(name_length)
    if (
        name != info.orig_filename.encode("utf-8", "surrogateescape")
        and name.decode("utf-8", "replace") != info.orig_filename
    ):
        raise BundleError(f"{info.filename}: local header names {name!r} (archive tampered with)")
    offset = int(info.header_offset) + _LOCAL_HEADER.size + int(name_length) + int(extra_length)
    if offset + info.compress_size > file_size:
        raise BundleError(f"{info.filename}: archive truncated inside the entry")
    return offset


def _is_unsafe_path(name: str) -> bool:
    """Absolute, drive-qualified or climbing (``..``) entry names: never resolved against a dir."""
    segments = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in segments or (len(name) > 1 and name[1] == ":")


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.orig_filename
    if _is_unsafe_path(name):
        raise BundleError(
            f"entry {name!r} has an unsafe path (absolute or with '..'); refusing the bundle"
        )
    if name not in (MANIFEST_ENTRY, ENVELOPE_ENTRY) and not _BLOB_ENTRY_RE.fullmatch(name):
        raise BundleError(
            f"unexpected entry {name!r}: a .memcube holds only manifest.json, envelope.json "
            "and blobs/sha256/<hex>"
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode) or info.is_dir():
        raise BundleError(f"entry {name!r} is a link or directory; only regular files are allowed")
    if info.flag_bits & 0x1:
        raise BundleError(f"entry {name!r} is encrypted")
    if info.compress_type != zipfile.ZIP_STORED:
        raise BundleError(f"entry {name!r} is compressed; MIP bundles store entries uncompressed")
    if info.compress_size != info.file_size:
        # A STORED entry holds exactly its size: two different sizes mean a tampered archive.
        raise BundleError(
            f"entry {name!r} stores {info.compress_size} bytes but declares {info.file_size} "
            "(corrupt archive or zip bomb)"
        )
