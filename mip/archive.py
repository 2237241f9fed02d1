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
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from mip.closing import ClosedOnExit
from mip.digests import Digest
from mip.errors import (
    DuplicateEntryError,
    EntryCompressedError,
    EntryNameError,
    EntryTypeError,
    LayoutError,
    NotAZipError,
    RequiredEntryError,
)
from mip.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from mip.blob_hashing import BlobHashing

MANIFEST_ENTRY = "manifest.json"
ENVELOPE_ENTRY = "envelope.json"
BLOB_PREFIX = "blobs/sha256/"
_BLOB_ENTRY_RE = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_END_SIGNATURE = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_ZIP64_MARK = 0xFFFFFFFF
#: General-purpose flag bit 3: sizes and CRC follow the data (APPNOTE 4.4.4).
_DATA_DESCRIPTOR = 0x08

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
    #: The CRC-32 the central directory declares (``None`` where unknown).
    crc32: int | None = None


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


class Archive(ClosedOnExit):
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
        """The whole content of a (small, size-checked) entry, its CRC-32 checked (MIP-1 §8.2
        item 6: blobs are checked by their SHA-256 instead, which a CRC adds nothing to)."""
        entry = self.entries[name]
        data = RangeReader(self.file, entry.offset, entry.size).read()
        if entry.crc32 is not None and zlib.crc32(data) != entry.crc32:
            raise LayoutError(f"{name}: its bytes do not match the CRC-32 its headers declare")
        return data

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
        raise NotAZipError(f"not a valid .memcube: truncated or not a ZIP archive ({exc})") from exc
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise LayoutError(f"archive has {len(infos)} entries, limit {limits.max_entries}")
    names = [info.orig_filename for info in infos]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DuplicateEntryError(f"duplicate entries: {', '.join(repeated)}")
    entries: dict[str, Entry] = {}
    headers: list[tuple[int, Entry]] = []
    for info in infos:
        _check_entry(info)
        offset = _read_local_header(file, info, file_size)
        entry = Entry(info.orig_filename, offset, info.file_size, info.CRC)
        entries[info.orig_filename] = entry
        headers.append((int(info.header_offset), entry))
    end = 0
    for entry in sorted(entries.values(), key=lambda e: e.offset):
        if entry.offset < end:
            raise LayoutError(f"entry {entry.name!r} overlaps another entry (zip bomb?)")
        end = entry.offset + entry.size
    _check_layout(file, file_size, headers, int(archive.start_dir))
    for required in (MANIFEST_ENTRY, ENVELOPE_ENTRY):
        if required not in entries:
            raise RequiredEntryError(f"not a .memcube: {required} is missing")
    if entries[MANIFEST_ENTRY].size > limits.max_manifest_bytes:
        raise RequiredEntryError(
            f"manifest.json is {entries[MANIFEST_ENTRY].size} bytes, over the "
            f"{limits.max_manifest_bytes}-byte limit"
        )
    if entries[ENVELOPE_ENTRY].size > limits.max_envelope_bytes:
        raise RequiredEntryError(
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
        raise LayoutError(
            f"{info.filename}: local header offset outside the file (corrupt archive)"
        )
    file.seek(info.header_offset)
    fixed = file.read(_LOCAL_HEADER.size)
    if len(fixed) != _LOCAL_HEADER.size:
        raise LayoutError(f"{info.filename}: archive truncated inside a local header")
    fields = _LOCAL_HEADER.unpack(fixed)
    if fields[0] != _LOCAL_SIGNATURE:
        raise LayoutError(f"{info.filename}: bad local header signature (corrupt archive)")
    flags, method, crc, stored, size = fields[3], fields[4], fields[7], fields[8], fields[9]
    name_length, extra_length = fields[10], fields[11]
    name = file.read(name_length)
    if (
        name != info.orig_filename.encode("utf-8", "surrogateescape")
        and name.decode("utf-8", "replace") != info.orig_filename
    ):
        raise LayoutError(f"{info.filename}: local header names {name!r} (archive tampered with)")
    extra = file.read(extra_length)
    # MIP-1 §8.2 item 6: the local header tells the same story as the central directory --
    # method, CRC-32 and sizes (ZIP64: in its extra field) -- and no data descriptor follows.
    if (info.flag_bits | flags) & _DATA_DESCRIPTOR:
        raise LayoutError(
            f"{info.filename}: the entry uses a data descriptor; MIP bundles declare sizes upfront"
        )
    if method != info.compress_type or crc != info.CRC:
        raise LayoutError(
            f"{info.filename}: the local header (method {method}, CRC {crc:08x}) disagrees "
            f"with the central directory (method {info.compress_type}, CRC {info.CRC:08x})"
        )
    if (stored, size) == (_ZIP64_MARK, _ZIP64_MARK):
        stored, size = _zip64_sizes(extra, info.filename)
    if (stored, size) != (info.compress_size, info.file_size):
        raise LayoutError(
            f"{info.filename}: the local header declares {size} bytes ({stored} stored), "
            f"the central directory {info.file_size} ({info.compress_size} stored)"
        )
    offset = int(info.header_offset) + _LOCAL_HEADER.size + int(name_length) + int(extra_length)
    if offset + info.compress_size > file_size:
        raise LayoutError(f"{info.filename}: archive truncated inside the entry")
    return offset


def _zip64_sizes(extra: bytes, filename: str) -> tuple[int, int]:
    """``(stored, size)`` from a local header's ZIP64 extra field (APPNOTE 4.5.3)."""
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, position)
        if kind == 0x0001 and length >= 16:
            size, stored = struct.unpack_from("<QQ", extra, position + 4)
            return int(stored), int(size)
        position += 4 + length
    raise LayoutError(f"{filename}: a ZIP64 local header without its sizes")


def _check_layout(
    file: BinaryIO, file_size: int, headers: list[tuple[int, Entry]], directory_start: int
) -> None:
    """The archive is exactly its entries, back to back from byte 0, then the central directory
    and the end records, with no archive comment (MIP-1 §8.2 item 6): no bytes a reader could
    hide something in, no self-extractor stub, nothing appended after signing."""
    position = 0
    for header_offset, entry in sorted(headers, key=lambda item: item[0]):
        if header_offset != position:
            where = "before the first entry" if position == 0 else f"before {entry.name!r}"
            raise LayoutError(
                f"{header_offset - position} bytes {where} that belong to no entry"
                if header_offset > position
                else f"entry {entry.name!r} overlaps another entry (zip bomb?)"
            )
        position = entry.offset + entry.size
    if directory_start != position:
        raise LayoutError(
            f"{directory_start - position} bytes between the last entry and the central directory"
        )
    file.seek(max(0, file_size - _END_RECORD_SIZE))
    end = file.read(_END_RECORD_SIZE)
    if not end.startswith(_END_SIGNATURE) or end[-2:] != b"\x00\x00":
        raise LayoutError(
            "bytes after the end of the central directory (or an archive comment): a .memcube "
            "ends with its end record"
        )


def _is_unsafe_path(name: str) -> bool:
    """Absolute, drive-qualified or climbing (``..``) entry names: never resolved against a dir."""
    segments = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in segments or (len(name) > 1 and name[1] == ":")


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.orig_filename
    if _is_unsafe_path(name):
        raise EntryNameError(
            f"entry {name!r} has an unsafe path (absolute or with '..'); refusing the bundle"
        )
    if name not in (MANIFEST_ENTRY, ENVELOPE_ENTRY) and not _BLOB_ENTRY_RE.fullmatch(name):
        raise EntryNameError(
            f"unexpected entry {name!r}: a .memcube holds only manifest.json, envelope.json "
            "and blobs/sha256/<hex>"
        )
    mode = info.external_attr >> 16
    # Unix mode bits (0 when the archiver wrote none): a regular file or nothing; the MS-DOS
    # directory attribute (0x10) likewise.
    if (
        stat.S_ISLNK(mode)
        or info.is_dir()
        or (stat.S_IFMT(mode) not in (0, stat.S_IFREG))
        or info.external_attr & 0x10
    ):
        raise EntryTypeError(
            f"entry {name!r} is a link or directory; only regular files are allowed"
        )
    if info.flag_bits & 0x1:
        raise EntryTypeError(f"entry {name!r} is encrypted")
    if info.compress_type != zipfile.ZIP_STORED:
        raise EntryCompressedError(
            f"entry {name!r} is compressed; MIP bundles store entries uncompressed"
        )
    if info.compress_size != info.file_size:
        # A STORED entry holds exactly its size: two different sizes mean a tampered archive.
        raise EntryCompressedError(
            f"entry {name!r} stores {info.compress_size} bytes but declares {info.file_size} "
            "(corrupt archive or zip bomb)"
        )
