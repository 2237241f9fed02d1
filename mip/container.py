"""The ``.memcube`` single-file container: read, verify and write (MIP-1 §8).

A bundle is a ZIP archive whose entries are all STORED (uncompressed): ``manifest.json`` (the exact
manifest bytes), ``envelope.json`` (the DSSE envelope over them) and one ``blobs/sha256/<hex>``
entry per blob the manifest references. A reader trusts nothing in the archive: entry names must
match those three forms exactly (no paths, no links, no duplicates), every size is bounded and
must equal the manifest's declaration, entry data may not overlap, and every blob is hashed
before it is used. Blobs are streamed, never read whole. The archive's structural checks live in
:mod:`mip.archive`; this module decodes and checks what the entries hold, and writes bundles.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from mip.archive import (
    BLOB_PREFIX,
    ENVELOPE_ENTRY,
    MANIFEST_ENTRY,
    Entry,
    RangeReader,
    blob_entries,
    read_entries,
)
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

#: Called with the number of bytes just processed (progress bars).
ProgressCallback = Callable[[int], None]


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
                check_token_ids(RangeReader(self._file, entry.offset + start, length).read(), part)
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
    entries = read_entries(file, limits)
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
    manifest_bytes = RangeReader(file, manifest_entry.offset, manifest_entry.size).read()
    envelope_bytes = RangeReader(file, envelope_entry.offset, envelope_entry.size).read()
    envelope = parse_envelope(envelope_bytes, limits)
    if envelope.payload != manifest_bytes:
        raise BundleError("manifest.json differs from the payload its envelope signs")
    manifest = decode_manifest(manifest_bytes, limits)
    declared = manifest.blob_sizes()
    blobs: dict[Digest, Entry] = {}
    for digest, entry in blob_entries(entries).items():
        name = entry.name
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
        #: Files at least this large are copied in the kernel (see :meth:`add_blob_file`).
        self.kernel_copy_threshold = 64 << 20

    def _open_entry(self) -> tuple[zipfile.ZipInfo, int, Any]:
        # The entry name depends on the digest, known only at the end: write under a placeholder
        # of the same length, then name the entry before its header is rewritten on close.
        info = zipfile.ZipInfo(BLOB_PREFIX + "0" * 64, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        header_offset = self._file.tell()
        return info, header_offset, self._archive.open(info, "w", force_zip64=True)

    def _close_entry(
        self, info: zipfile.ZipInfo, entry: Any, digest: Digest | None, header_offset: int
    ) -> None:
        if digest is not None:
            info.filename = info.orig_filename = BLOB_PREFIX + digest_hex(digest)
        entry.close()
        if digest is None:
            return
        if digest in self._infos:
            # The same bytes twice: drop the second copy so every entry name stays unique.
            self._archive.filelist.pop()
            self._archive.NameToInfo[info.filename] = self._infos[digest]
            self._file.seek(header_offset)
            self._file.truncate()
            self._archive.start_dir = header_offset
        else:
            self._infos[digest] = info

    def add_blob_stream(
        self, stream: BinaryIO, progress: ProgressCallback | None = None
    ) -> tuple[Digest, int]:
        """Copy a stream into the archive as a blob, in one pass; return its digest and size."""
        info, header_offset, entry = self._open_entry()
        hasher = hashlib.sha256()
        size = 0
        digest: Digest | None = None
        # Hash on a worker thread while this one CRCs and writes the previous chunk: hashlib and
        # file writes release the GIL, so the two cores overlap. Three buffers keep the chunk being
        # hashed, the one being written and the one being read apart.
        buffers = [memoryview(bytearray(CHUNK_SIZE)) for _ in range(3)]
        pending: Future[None] | None = None
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
        finally:
            self._close_entry(info, entry, digest, header_offset)
        return digest, size

    def add_blob_file(
        self, path: Path, progress: ProgressCallback | None = None
    ) -> tuple[Digest, int]:
        """Add a file as a blob; return its digest and size.

        Large files are copied inside the kernel (``copy_file_range``) while two threads read the
        same file again (from the page cache) to compute SHA-256 and the ZIP CRC-32: the copy
        and both checksums overlap, and memory stays constant. The file must not change while it is packed: its
        size and modification time are compared before and after.
        """
        before = os.stat(path)
        if before.st_size < self.kernel_copy_threshold or not hasattr(os, "copy_file_range"):
            with open(path, "rb", buffering=0) as stream:
                return self.add_blob_stream(stream, progress)
        info, header_offset, entry = self._open_entry()
        digest: Digest | None = None
        size = before.st_size
        try:
            self._file.flush()
            start = self._file.tell()
            with open(path, "rb", buffering=0) as source:
                descriptor = source.fileno()
                with ThreadPoolExecutor(max_workers=2) as pool:
                    sha = pool.submit(_sha256_hex, descriptor, size)
                    crc = pool.submit(_crc32, descriptor, size)
                    _kernel_copy(descriptor, self._file.fileno(), size, start)
                    digest = Digest("sha256:" + sha.result())
                    entry_crc = crc.result()
            after = os.stat(path)
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise BundleError(f"{path} changed while it was being packed; pack again")
            self._file.seek(start + size)
            # Tell zipfile what was written behind its back, so it writes the right header.
            entry._file_size = entry._compress_size = size
            entry._crc = entry_crc
            if progress is not None:
                progress(size)
        except BaseException:
            digest = None
            raise
        finally:
            self._close_entry(info, entry, digest, header_offset)
        return digest, size

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


def _chunks(descriptor: int, size: int) -> Iterator[memoryview]:
    """Read ``size`` bytes of a file with ``pread`` into one reused buffer (constant memory)."""
    view = memoryview(bytearray(CHUNK_SIZE))
    offset = 0
    while offset < size:
        count = os.preadv(descriptor, [view[: min(CHUNK_SIZE, size - offset)]], offset)
        if count == 0:
            raise BundleError("source file shrank while it was being packed; pack again")
        yield view[:count]
        offset += count


def _sha256_hex(descriptor: int, size: int) -> str:
    hasher = hashlib.sha256()
    for chunk in _chunks(descriptor, size):
        hasher.update(chunk)
    return hasher.hexdigest()


def _crc32(descriptor: int, size: int) -> int:
    value = 0
    for chunk in _chunks(descriptor, size):
        value = zlib.crc32(chunk, value)
    return value


def _kernel_copy(source: int, target: int, size: int, target_offset: int) -> None:
    copied = 0
    while copied < size:
        count = os.copy_file_range(
            source, target, size - copied, offset_src=copied, offset_dst=target_offset + copied
        )
        if count == 0:
            raise BundleError("source file shrank while it was being packed; pack again")
        copied += count
