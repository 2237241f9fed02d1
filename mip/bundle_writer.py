"""The reference ``.memcube`` writer (MIP-1 §8.1): readable, not fast.

Each blob is hashed first (a stream is spooled to a temporary file while it is hashed), then
written as a STORED entry named by its digest; the same bytes twice are stored once; manifest and
envelope come last; the archive is built in a temporary file renamed into place by
:meth:`BundleWriter.finish`, so a failure leaves nothing behind.

``memos pack`` uses the client's fast writer (``memos_client.authoring.bundle_writer``: in-kernel
copies, hashing on worker threads) -- a subclass of this one with its own blob methods, which
writes the same bytes: a test compares the two.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from mip.archive import BLOB_PREFIX, ENVELOPE_ENTRY, MANIFEST_ENTRY, ProgressCallback
from mip.closing import ClosedOnExit
from mip.digests import CHUNK_SIZE, Digest, digest_hex

#: Every entry's time stamp: the earliest a ZIP can hold, so a bundle's bytes depend on content only.
ENTRY_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def entry_info(name: str) -> zipfile.ZipInfo:
    """The ``ZipInfo`` of a bundle entry: a STORED regular file, mode 0644, fixed date."""
    info = zipfile.ZipInfo(name, date_time=ENTRY_DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class BundleWriter(ClosedOnExit):
    """Writes a ``.memcube`` atomically: blobs (by digest), then manifest and envelope."""

    def __init__(self, destination: Path | str) -> None:
        self.destination = Path(destination)
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        handle, self._temp_name = tempfile.mkstemp(
            prefix=f".{self.destination.name}.", suffix=".tmp", dir=self.destination.parent
        )
        self._file = os.fdopen(handle, "w+b")
        self._archive = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_STORED)
        self._digests: set[Digest] = set()
        self._done = False

    def add_blob_stream(
        self, stream: BinaryIO, progress: ProgressCallback | None = None
    ) -> tuple[Digest, int]:
        """Add a stream's bytes as a blob; return its digest and size."""
        with tempfile.TemporaryFile(dir=self.destination.parent) as spool:
            hasher = hashlib.sha256()
            size = 0
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(len(chunk))
            spool.seek(0)
            digest = Digest("sha256:" + hasher.hexdigest())
            self._write_blob(digest, spool)
        return digest, size

    def add_blob_file(
        self, path: Path, progress: ProgressCallback | None = None
    ) -> tuple[Digest, int]:
        """Add a file as a blob; return its digest and size."""
        hasher = hashlib.sha256()
        size = 0
        with open(path, "rb") as source:
            while chunk := source.read(CHUNK_SIZE):
                hasher.update(chunk)
                size += len(chunk)
            digest = Digest("sha256:" + hasher.hexdigest())
            source.seek(0)
            self._write_blob(digest, source)
        if progress is not None:
            progress(size)
        return digest, size

    def _write_blob(self, digest: Digest, source: BinaryIO) -> None:
        if digest in self._digests:
            return  # the same bytes twice: one entry (entry names are unique, MIP-1 §8.2)
        self._digests.add(digest)
        info = entry_info(BLOB_PREFIX + digest_hex(digest))
        # ZIP64 local headers always: a blob's size is not known to zipfile before it is written.
        with self._archive.open(info, "w", force_zip64=True) as entry:
            shutil.copyfileobj(source, entry, CHUNK_SIZE)

    def finish(self, manifest_bytes: bytes, envelope_bytes: bytes) -> Path:
        """Write manifest and envelope, then atomically move the archive into place."""
        for name, data in ((MANIFEST_ENTRY, manifest_bytes), (ENVELOPE_ENTRY, envelope_bytes)):
            self._archive.writestr(entry_info(name), data, compress_type=zipfile.ZIP_STORED)
        self._archive.close()
        # No fsync: a bundle torn by a crash fails verification (every byte is hashed) and the
        # sources it was built from are untouched, so durability is not worth a second of I/O.
        self._file.close()
        # mkstemp creates 0600; a bundle is meant to be shared, so give it the usual file mode.
        os.chmod(self._temp_name, 0o666 & ~current_umask())
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

    def close(self) -> None:
        """What leaving a ``with`` block does: :meth:`abort`, a no-op after :meth:`finish`."""
        self.abort()
