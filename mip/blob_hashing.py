"""Hashing a bundle's blob entries against their names, on worker threads (MIP-1 §4, §8.3).

Workers read with ``pread`` on the archive's descriptor, so they never move the file position the
main thread reads manifest and headers with; hashlib and ``pread`` release the GIL, so hashing
runs while the manifest and the signature are checked. :func:`sha256_of_range` is also what the
client's fast bundle writer hashes files with.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from mip.archive import BLOB_PREFIX, Entry, ProgressCallback
from mip.digests import CHUNK_SIZE
from mip.errors import BundleError, DigestMismatchError, LayoutError


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
            raise LayoutError(truncated)
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
                    raise LayoutError(truncated)
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
