"""The fast ``.memcube`` writer ``memos pack`` uses (MIP-1 §8.1): same bytes, less time.

What makes it fast is not protocol, so it lives here rather than in ``mip`` (whose readable
reference is :mod:`mip.bundle_writer`; a test checks both write the same bytes): big files are
copied inside the kernel (``copy_file_range``) into blocks reserved with ``fallocate(2)`` while
this thread CRCs and a worker hashes the page-cached file; blobs started with
:meth:`BundleWriter.start_blob_file` are copied on a worker while the packer builds the manifest;
an entry is opened under a placeholder name and named once its digest is known, zipfile being
told what was written behind its back. Measured in ``bench/`` (pack throughput).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import tempfile
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from zlib_ng import zlib_ng

from mip.archive import BLOB_PREFIX, ENVELOPE_ENTRY, MANIFEST_ENTRY, ProgressCallback
from mip.blob_hashing import sha256_of_range
from mip.digests import CHUNK_SIZE, Digest, digest_hex
from mip.errors import BundleError

__all__ = ["BundleWriter", "ProgressCallback"]


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
