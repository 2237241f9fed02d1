"""The ``.memcube`` ZIP layer (MIP-1 §8): entry structure, blob hashing and the writer.

:func:`read_archive` checks everything about a bundle that needs no manifest: entry names, kinds,
sizes, local headers and overlaps. :meth:`Archive.start_hashing` then hashes every blob entry
against the digest its name claims, on worker threads. :class:`BundleWriter` writes archives, with
big blobs copied and hashed in the background (:meth:`BundleWriter.start_blob_file`).

Nothing here imports the manifest models or cryptography, so a command can start hashing or copying
gigabytes first and import the manifest and signature machinery while that runs (hashlib,
``pread`` and ``copy_file_range`` release the GIL). ``mip.container`` adds the manifest-level
checks on top.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import stat
import struct
import tempfile
import threading
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple

from zlib_ng import zlib_ng

from mip.digests import CHUNK_SIZE, Digest, digest_hex
from mip.errors import BundleError, DigestMismatchError
from mip.limits import DEFAULT_LIMITS, Limits

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


class BlobHashing:
    """Blob entries being hashed on worker threads; :meth:`wait` raises the first mismatch.

    Workers read with ``pread`` on the archive's descriptor, so they never move the file position
    the main thread reads manifest and headers with. :meth:`cancel` stops them between chunks.
    """

    def __init__(
        self, descriptor: int, blobs: list[Entry], progress: ProgressCallback | None
    ) -> None:
        self._descriptor = descriptor
        self._progress = progress
        self._cancelled = threading.Event()
        workers = max(1, min(len(blobs), os.cpu_count() or 1, 4))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mip-hash")
        # Largest first, so two big blobs do not end up queued behind each other on one worker.
        futures = {e: self._pool.submit(self._hash, e) for e in sorted(blobs, key=_largest_first)}
        self._pool.shutdown(wait=False)
        # Results are collected in file order, so the error reported is the same on every run.
        self._futures: list[Future[None]] = [futures[e] for e in sorted(blobs, key=_file_order)]

    def _hash(self, entry: Entry) -> None:
        def stop_if_cancelled(chunk: memoryview) -> None:
            if self._cancelled.is_set():
                raise _StopHashingError
            if self._progress is not None and len(chunk):
                self._progress(len(chunk))

        try:
            hex_digest = sha256_of_range(
                self._descriptor,
                entry.offset,
                entry.size,
                stop_if_cancelled,
                f"{entry.name}: archive truncated inside the entry",
            )
        except _StopHashingError:
            return
        if BLOB_PREFIX + hex_digest != entry.name:
            raise DigestMismatchError(
                f"{entry.name}: content hashes to sha256:{hex_digest}, not its name"
            )

    def wait(self) -> None:
        """Block until every blob is hashed; raise the first error in file order."""
        try:
            for future in self._futures:
                future.result()
        except BaseException:
            self.cancel()  # one bad blob condemns the bundle: the other hashes are pointless
            raise
        if self._cancelled.is_set():
            raise BundleError("blob hashing was cancelled before every blob was checked")

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Ask the workers to stop at their next chunk (safe to call from a progress callback)."""
        self._cancelled.set()

    def close(self) -> None:
        """Cancel and wait for the workers: after this the archive's file may be closed."""
        self.cancel()
        for future in self._futures:
            future.exception()


class _StopHashingError(Exception):
    """Raised from a chunk callback to stop :func:`sha256_of_range`."""


def sha256_of_range(
    descriptor: int,
    offset: int,
    size: int,
    each_chunk: Callable[[memoryview], None],
    truncated: str,
) -> str:
    """SHA-256 (hex) of ``size`` bytes at ``offset`` of a file, read with ``pread``.

    This thread reads each chunk while a second one hashes the previous chunk (two buffers,
    constant memory), so the hash runs at the speed of hashing, not of hashing plus copying.
    ``each_chunk`` gets every chunk before it is hashed (a progress count, a CRC, or an exception
    to stop); ``truncated`` is the error message when the file ends early.
    """
    hasher = hashlib.sha256()
    if size <= CHUNK_SIZE:  # one chunk: nothing to overlap
        data = os.pread(descriptor, size, offset)
        if len(data) != size:
            raise BundleError(truncated)
        each_chunk(memoryview(data))
        hasher.update(data)
        return hasher.hexdigest()
    buffers = [memoryview(bytearray(CHUNK_SIZE)) for _ in range(2)]
    pending: Future[None] | None = None
    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mip-sha256") as hashing:
        try:
            for index in itertools.count():
                if done >= size:
                    break
                view = buffers[index % 2]
                count = os.preadv(descriptor, [view[: min(CHUNK_SIZE, size - done)]], offset + done)
                if count == 0:
                    raise BundleError(truncated)
                chunk = view[:count]
                each_chunk(chunk)
                if pending is not None:
                    pending.result()
                pending = hashing.submit(hasher.update, chunk)
                done += count
        finally:
            if pending is not None:
                pending.result()
    return hasher.hexdigest()


def _largest_first(entry: Entry) -> int:
    return -entry.size


def _file_order(entry: Entry) -> int:
    return entry.offset


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


def _preallocate(descriptor: int, offset: int, length: int) -> None:
    """Reserve a region's blocks before copying into it, where the filesystem can.

    On ext4 this takes ~25 % off the CPU time of copying a gigabyte (the blocks are allocated in
    one extent instead of page by page). Linux's ``fallocate(2)`` is called directly: glibc's
    ``posix_fallocate`` (``os.posix_fallocate``) would write zeros, one byte per block, on
    filesystems without it (NFSv3, ...). Anything unavailable or refused just skips the step.
    """
    try:
        import ctypes

        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fallocate.restype = ctypes.c_int
    fallocate(descriptor, 0, offset, length)  # -1 (EOPNOTSUPP, ENOSPC...): copy as before


#: ``copy_file_range`` calls copy this much at most, so an abort is noticed quickly.
_KERNEL_COPY_STEP = 128 << 20


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
        # Blobs started with start_blob_file are written by one worker, in submission order.
        self._worker: ThreadPoolExecutor | None = None
        self._pending: list[Future[tuple[Digest, int]]] = []
        self._aborting = threading.Event()

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
        self._drain()
        return self._write_stream(stream, progress)

    def add_blob_file(
        self, path: Path, progress: ProgressCallback | None = None
    ) -> tuple[Digest, int]:
        """Add a file as a blob; return its digest and size.

        Large files are copied inside the kernel (``copy_file_range``) on a worker while this
        thread reads the file once more (from the page cache) for the ZIP CRC-32 and hands each
        chunk to another worker for SHA-256: the copy and both checksums overlap, and memory
        stays constant. The file must not change while it
        is packed: its size and modification time are compared before and after.
        """
        self._drain()
        return self._write_file(path, progress)

    def _write_stream(
        self, stream: BinaryIO, progress: ProgressCallback | None
    ) -> tuple[Digest, int]:
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
                    self._check_not_aborted()
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

    def start_blob_file(
        self, path: Path, progress: ProgressCallback | None = None
    ) -> Future[tuple[Digest, int]]:
        """Begin adding a file as a blob on the writer's worker thread; return its future.

        A packer starts its big payloads first and builds the manifest while they are copied and
        hashed (the copy and the hash release the GIL). Blobs keep the order they were started in;
        the other ``add_*`` methods and :meth:`finish` wait for them.
        """
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mip-pack")
        future = self._worker.submit(self._write_file_in_background, path, progress)
        self._pending.append(future)
        return future

    def _write_file_in_background(
        self, path: Path, progress: ProgressCallback | None
    ) -> tuple[Digest, int]:
        self._check_not_aborted()
        try:
            return self._write_file(path, progress)
        except BaseException:
            self._aborting.set()  # the archive is now unusable: the blobs queued behind must not run
            raise

    def _drain(self) -> None:
        """Wait for the blobs started in the background; raise the first failure."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _write_file(self, path: Path, progress: ProgressCallback | None) -> tuple[Digest, int]:
        before = os.stat(path)
        if before.st_size < self.kernel_copy_threshold or not hasattr(os, "copy_file_range"):
            with open(path, "rb", buffering=0) as stream:
                return self._write_stream(stream, progress)
        info, header_offset, entry = self._open_entry()
        digest: Digest | None = None
        size = before.st_size
        try:
            self._file.flush()
            start = self._file.tell()
            _preallocate(self._file.fileno(), start, size)
            with open(path, "rb", buffering=0) as source:
                descriptor = source.fileno()
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mip-copy") as pool:
                    copy = pool.submit(
                        self._kernel_copy, descriptor, self._file.fileno(), size, start
                    )
                    sha_hex, entry_crc = self._checksums(descriptor, size)
                    digest = Digest("sha256:" + sha_hex)
                    copy.result()
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
        self._drain()
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
        self._aborting.set()  # background copies stop at their next chunk
        for future in self._pending:
            future.exception()
        if self._worker is not None:
            self._worker.shutdown()
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

    def _checksums(self, descriptor: int, size: int) -> tuple[str, int]:
        """SHA-256 (hex) and CRC-32 of a file in one read (see :func:`sha256_of_range`)."""
        crc = 0

        def crc_unless_aborted(chunk: memoryview) -> None:
            nonlocal crc
            self._check_not_aborted()
            crc = zlib_ng.crc32(chunk, crc)

        shrank = "source file shrank while it was being packed; pack again"
        return sha256_of_range(descriptor, 0, size, crc_unless_aborted, shrank), crc

    def _kernel_copy(self, source: int, target: int, size: int, target_offset: int) -> None:
        copied = 0
        while copied < size:
            self._check_not_aborted()
            count = os.copy_file_range(
                source,
                target,
                min(_KERNEL_COPY_STEP, size - copied),
                offset_src=copied,
                offset_dst=target_offset + copied,
            )
            if count == 0:
                raise BundleError("source file shrank while it was being packed; pack again")
            copied += count

    def _check_not_aborted(self) -> None:
        if self._aborting.is_set():
            raise BundleError("packing was aborted")
