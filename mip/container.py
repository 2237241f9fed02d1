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
import itertools
import os
import re
import stat
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from mip.digests import CHUNK_SIZE, Digest, digest_hex
from mip.dsse import Envelope, parse_envelope
from mip.errors import BundleError, DigestMismatchError, MIPError, SizeMismatchError
from mip.limits import DEFAULT_LIMITS, Limits
from mip.manifest import decode_manifest, manifest_digest
from mip.models import ActivationPart, Manifest, ParameterPart, PlaintextPart
from mip.records import iter_records
from mip.tensors import (
    check_activation,
    check_parameter,
    check_self_description,
    check_token_ids,
    read_header,
    token_ids_range,
)

MANIFEST_ENTRY = "manifest.json"
ENVELOPE_ENTRY = "envelope.json"
BLOB_PREFIX = "blobs/sha256/"
_BLOB_ENTRY_RE = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"

#: Called with the number of bytes just processed (progress bars).
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class Entry:
    """Where one archive entry's bytes lie in the file."""

    name: str
    offset: int
    size: int


class _RangeReader:
    """A read-only stream over ``size`` bytes at ``offset`` of an open file."""

    def __init__(self, file: BinaryIO, offset: int, size: int) -> None:
        self._file = file
        self._offset = offset
        self._remaining = size

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


class Bundle:
    """An opened ``.memcube`` whose structure has been checked (see :func:`open_bundle`).

    Blob contents are not trusted until :meth:`verify_blobs` has run.
    """

    def __init__(
        self,
        path: Path,
        file: BinaryIO,
        manifest_bytes: bytes,
        manifest: Manifest,
        envelope: Envelope,
        blobs: dict[Digest, Entry],
        limits: Limits,
    ) -> None:
        self.path = path
        self._file = file
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
        """Close the underlying file."""
        self._file.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def open_blob(self, digest: Digest) -> _RangeReader:
        """A stream over a blob's bytes (unverified: hash them, or call :meth:`verify_blobs`)."""
        entry = self.blobs[digest]
        return _RangeReader(self._file, entry.offset, entry.size)

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
                raise BundleError(f"{entry.name}: archive truncated inside the entry")
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
        """Hash every blob and compare with its name (streamed, constant memory)."""
        for digest in sorted(self.blobs, key=lambda d: self.blobs[d].offset):
            self.copy_blob(digest, None, progress)

    def check_contents(self) -> None:
        """Validate each part's payload format: records decode, tensor headers fit their part."""
        for part in self.manifest.parts:
            entry = self.blobs[part.digest]
            stream: Any = self.open_blob(part.digest)
            if isinstance(part, PlaintextPart):
                with _naming_part(part.name):
                    count = sum(1 for _ in iter_records(stream, self.limits))
                if count != part.count:
                    raise BundleError(
                        f"part {part.name!r} declares {part.count} records, its blob holds {count}"
                    )
            elif isinstance(part, ActivationPart):
                with _naming_part(part.name):
                    header = read_header(stream, entry.size, self.limits)
                # The checks against the part name it themselves.
                check_activation(header, part)
                start, length = token_ids_range(header)
                check_token_ids(_RangeReader(self._file, entry.offset + start, length).read(), part)
                check_self_description(header, part, required=False)
            elif isinstance(part, ParameterPart):
                with _naming_part(part.name):
                    header = read_header(stream, entry.size, self.limits)
                check_parameter(header, part)
                check_self_description(header, part, required=False)

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


@contextmanager
def _naming_part(name: str) -> Iterator[None]:
    """Prefix a payload-format error with the part it was found in."""
    try:
        yield
    except MIPError as exc:
        raise type(exc)(f"part {name!r}: {exc}") from exc


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


def open_bundle(path: Path | str, limits: Limits = DEFAULT_LIMITS) -> Bundle:
    """Open a ``.memcube`` and check its structure, manifest and envelope (not blob hashes)."""
    path = Path(path)
    file = open(path, "rb")  # noqa: SIM115  (owned by the Bundle, closed by it)
    try:
        return _open(path, file, limits)
    except BaseException:
        file.close()
        raise


def _open(path: Path, file: BinaryIO, limits: Limits) -> Bundle:
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
    repeated = sorted({name for name in names if names.count(name) > 1})
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
    manifest_entry, envelope_entry = entries[MANIFEST_ENTRY], entries[ENVELOPE_ENTRY]
    if manifest_entry.size > limits.max_manifest_bytes:
        raise BundleError(
            f"manifest.json is {manifest_entry.size} bytes, over the "
            f"{limits.max_manifest_bytes}-byte limit"
        )
    if envelope_entry.size > limits.max_envelope_bytes:
        raise BundleError(
            f"envelope.json is {envelope_entry.size} bytes, over the "
            f"{limits.max_envelope_bytes}-byte limit"
        )
    manifest_bytes = _RangeReader(file, manifest_entry.offset, manifest_entry.size).read()
    envelope_bytes = _RangeReader(file, envelope_entry.offset, envelope_entry.size).read()
    envelope = parse_envelope(envelope_bytes, limits)
    if envelope.payload != manifest_bytes:
        raise BundleError("manifest.json differs from the payload its envelope signs")
    manifest = decode_manifest(manifest_bytes, limits)
    declared = manifest.blob_sizes()
    blobs: dict[Digest, Entry] = {}
    for name, entry in entries.items():
        match = _BLOB_ENTRY_RE.fullmatch(name)
        if match is None:
            continue
        digest = Digest("sha256:" + match.group(1))
        if digest not in declared:
            raise BundleError(f"undeclared entry {name}: no part of the manifest references it")
        if entry.size != declared[digest]:
            hint = (
                " (refusing a possible decompression bomb)" if entry.size > declared[digest] else ""
            )
            raise SizeMismatchError(
                f"{name} holds {entry.size} bytes but the manifest declares {declared[digest]}{hint}"
            )
        blobs[digest] = entry
    for part in manifest.parts:
        if part.digest not in blobs:
            raise BundleError(
                f"blob of part {part.name!r} ({part.digest}) is missing from the bundle"
            )
    return Bundle(path, file, manifest_bytes, manifest, envelope, blobs, limits)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class BundleWriter:
    """Writes a ``.memcube`` atomically: blobs first (hashed while written), then the manifest.

    The archive is built in a temporary file beside ``destination`` and renamed into place only by
    :meth:`finish`; an exception leaves nothing behind.
    """

    def __init__(self, destination: Path | str) -> None:
        self.destination = Path(destination)
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        handle, self._temp_name = tempfile.mkstemp(
            prefix=f".{self.destination.name}.", suffix=".tmp", dir=self.destination.parent
        )
        self._file = os.fdopen(handle, "w+b")
        self._archive = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_STORED)
        self._infos: dict[Digest, zipfile.ZipInfo] = {}
        self._done = False

    def add_blob_stream(
        self, stream: BinaryIO, progress: ProgressCallback | None = None
    ) -> tuple[Digest, int]:
        """Copy a stream into the archive as a blob, in one pass; return its digest and size."""
        # The entry name depends on the digest, known only at the end: write under a placeholder
        # of the same length, then name the entry before its header is rewritten on close.
        info = zipfile.ZipInfo(BLOB_PREFIX + "0" * 64, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        header_offset = self._file.tell()
        hasher = hashlib.sha256()
        size = 0
        # Hash on a worker thread while this one CRCs and writes the previous chunk: hashlib and
        # file writes release the GIL, so the two cores overlap. Three buffers keep the chunk being
        # hashed, the one being written and the one being read apart.
        buffers = [memoryview(bytearray(CHUNK_SIZE)) for _ in range(3)]
        pending: Future[None] | None = None
        entry = self._archive.open(info, "w", force_zip64=True)
        try:
            with ThreadPoolExecutor(max_workers=1) as hashing:
                for index in itertools.count():
                    view = buffers[index % 3]
                    count = stream.readinto(view)  # type: ignore[attr-defined]
                    if not count:
                        break
                    chunk = view[:count]
                    if pending is not None:
                        pending.result()
                    pending = hashing.submit(hasher.update, chunk)
                    entry.write(chunk)
                    size += count
                    if progress is not None:
                        progress(count)
                if pending is not None:
                    pending.result()
            digest = Digest("sha256:" + hasher.hexdigest())
            info.filename = info.orig_filename = BLOB_PREFIX + digest_hex(digest)
        finally:
            entry.close()
        if digest in self._infos:
            # The same bytes twice: drop the second copy so every entry name stays unique.
            self._archive.filelist.pop()
            self._archive.NameToInfo[info.filename] = self._infos[digest]
            self._file.seek(header_offset)
            self._file.truncate()
            self._archive.start_dir = header_offset
        else:
            self._infos[digest] = info
        return digest, size

    def add_blob_file(
        self, path: Path, progress: ProgressCallback | None = None
    ) -> tuple[Digest, int]:
        """Add a file as a blob (streamed); return its digest and size."""
        with open(path, "rb", buffering=0) as stream:
            return self.add_blob_stream(stream, progress)

    def finish(self, manifest_bytes: bytes, envelope_bytes: bytes) -> Path:
        """Write manifest and envelope, then atomically move the archive into place."""
        for name, data in ((MANIFEST_ENTRY, manifest_bytes), (ENVELOPE_ENTRY, envelope_bytes)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            self._archive.writestr(info, data, compress_type=zipfile.ZIP_STORED)
        self._archive.close()
        # No fsync: a bundle torn by a crash fails verification (every byte is hashed) and the
        # sources it was built from are untouched, so durability is not worth a second of I/O.
        self._file.close()
        # mkstemp creates 0600; a bundle is meant to be shared, so give it the usual file mode.
        os.chmod(self._temp_name, 0o666 & ~_current_umask())
        os.replace(self._temp_name, self.destination)
        self._done = True
        return self.destination

    def abort(self) -> None:
        """Discard the partial archive."""
        if self._done:
            return
        with suppress(Exception):
            self._archive.close()
        with suppress(Exception):
            self._file.close()
        with suppress(FileNotFoundError):
            os.unlink(self._temp_name)
        self._done = True

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None or not self._done:
            self.abort()
