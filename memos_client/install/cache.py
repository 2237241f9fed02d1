"""The content-addressed download cache under ``$MEMOS_CACHE_DIR/v1`` (see docs/install.md).

Layout (the ``v1`` folder is the cache format version: a new layout gets a new folder, so an
old client and a new one never misread each other's files)::

    v1/blobs/sha256/<hex>        blob bytes, named by their digest
    v1/envelopes/sha256/<hex>    DSSE envelopes, named by the digest of the manifest they carry
    v1/index/<index-key>/<ns>/<name>.json   the registry's cube documents (offline resolution)
    v1/tmp/                      partial downloads (``<hex>.part``, resumed with Range)

Every entry is written to a temporary file and moved into place with ``os.replace`` only after its
digest was checked, so a reader never sees a half-written entry; ``memos cache verify`` re-hashes
everything and removes what no longer matches its name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import msgspec

from memos_client.trust.atomic_files import write_atomic
from mip.digests import Digest, digest_hex
from mip.registry_api import CubeDocument

CACHE_VERSION = "v1"
_CHUNK = 1 << 20


def index_key(index_url: str) -> str:
    """A short stable folder name for one index URL."""
    return hashlib.sha256(index_url.rstrip("/").encode()).hexdigest()[:16]


class CacheReport(msgspec.Struct):
    """What ``memos cache verify`` found: entries checked and entries removed as corrupt."""

    checked: int = 0
    bytes_checked: int = 0
    corrupt: list[str] = msgspec.field(default_factory=list)


class CachedCubeDocument(msgspec.Struct, frozen=True):
    """A cube document as the registry at ``index_url`` served it, with its ETag."""

    etag: str | None
    index_url: str
    document: CubeDocument


class Cache:
    """One cache directory; every method is safe to call from several threads and processes."""

    def __init__(self, root: Path) -> None:
        self.root = root / CACHE_VERSION

    # -- paths ---------------------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        """Where a blob lives (whether or not it is there)."""
        return self.root / "blobs" / "sha256" / digest_hex(digest)

    def envelope_path(self, manifest_digest: Digest) -> Path:
        """Where the envelope of a manifest lives."""
        return self.root / "envelopes" / "sha256" / digest_hex(manifest_digest)

    def index_path(self, index_url: str, name: str) -> Path:
        """Where the cube document of ``name`` (normal form ``ns/name``) from ``index_url`` lives."""
        namespace, _, cube = name.partition("/")
        return self.root / "index" / index_key(index_url) / namespace / f"{cube}.json"

    def partial_path(self, digest: Digest) -> Path:
        """The partial download of a blob (kept after an interruption, resumed with Range)."""
        return self.root / "tmp" / f"{digest_hex(digest)}.part"

    # -- blobs -----------------------------------------------------------------------------------

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        """True when the blob is cached (and of ``size`` bytes, when given)."""
        try:
            stat = self.blob_path(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or stat.st_size == size

    def commit_blob(self, temp_path: Path, digest: Digest) -> Path:
        """Move an already-verified file into place as the blob ``digest``."""
        destination = self.blob_path(digest)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp_path, destination)
        return destination

    # -- small entries (envelopes, index documents) ----------------------------------------------

    def _write_atomic(self, destination: Path, data: bytes) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(destination, data)

    def read_envelope(self, manifest_digest: Digest) -> bytes | None:
        """The cached envelope bytes for a manifest digest, or ``None``."""
        try:
            return self.envelope_path(manifest_digest).read_bytes()
        except FileNotFoundError:
            return None

    def read_checked_envelope(self, manifest_digest: Digest) -> bytes | None:
        """The cached envelope for a manifest digest when it still carries that manifest;
        ``None`` when absent, or damaged (then it is removed, to be downloaded again)."""
        data = self.read_envelope(manifest_digest)
        if data is not None and not _envelope_matches(data, digest_hex(manifest_digest)):
            self.discard_envelope(manifest_digest)
            return None
        return data

    def write_envelope(self, manifest_digest: Digest, envelope_bytes: bytes) -> None:
        """Store an envelope whose payload was checked to hash to ``manifest_digest``."""
        self._write_atomic(self.envelope_path(manifest_digest), envelope_bytes)

    def discard_envelope(self, manifest_digest: Digest) -> None:
        """Remove a cached envelope."""
        with suppress(FileNotFoundError):
            self.envelope_path(manifest_digest).unlink()

    def read_index(self, index_url: str, name: str) -> CachedCubeDocument | None:
        """The cached cube document and its ETag, or ``None``.

        An entry that is not one (damaged, or not written by this client) counts as absent and
        is removed, so the next request replaces it. Its versions are parsed where it is read,
        by :func:`memos_client.install.resolver.candidates_from_document`.
        """
        path = self.index_path(index_url, name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        entry = _index_entry(data)
        if entry is None:
            with suppress(FileNotFoundError):
                path.unlink()
        return entry

    def discard_index(self, index_url: str, name: str) -> None:
        """Remove a cached cube document."""
        with suppress(FileNotFoundError):
            self.index_path(index_url, name).unlink()

    def write_index(
        self, index_url: str, name: str, document: CubeDocument, etag: str | None
    ) -> None:
        """Store a cube document and its ETag."""
        data = msgspec.json.encode(CachedCubeDocument(etag, index_url, document))
        self._write_atomic(self.index_path(index_url, name), data)

    # -- maintenance -----------------------------------------------------------------------------

    def _entries(self, kind: str) -> Iterator[Path]:
        directory = self.root / kind / "sha256"
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if not path.name.startswith("."):
                    yield path

    def info(self) -> dict[str, Any]:
        """Counts and sizes of each kind of entry."""
        result: dict[str, Any] = {"path": str(self.root), "version": CACHE_VERSION}
        for kind in ("blobs", "envelopes"):
            paths = list(self._entries(kind))
            result[kind] = {"count": len(paths), "bytes": sum(p.stat().st_size for p in paths)}
        index_files = list((self.root / "index").glob("*/*/*.json"))
        result["index"] = {
            "count": len(index_files),
            "bytes": sum(p.stat().st_size for p in index_files),
        }
        partial = list((self.root / "tmp").glob("*.part"))
        result["partial"] = {"count": len(partial), "bytes": sum(p.stat().st_size for p in partial)}
        result["total_bytes"] = sum(
            result[k]["bytes"] for k in ("blobs", "envelopes", "index", "partial")
        )
        return result

    def verify(self, remove: bool = True) -> CacheReport:
        """Re-hash every blob and envelope, and check the shape of every cube document; remove
        (when ``remove``) those that do not match."""
        report = CacheReport()
        for path in self._entries("blobs"):
            if not path.is_file():
                report.corrupt.append(f"blob {path.name} (not a file)")
                if remove:
                    _remove(path)
                continue
            hasher = hashlib.sha256()
            with open(path, "rb") as stream:
                while chunk := stream.read(_CHUNK):
                    hasher.update(chunk)
                    report.bytes_checked += len(chunk)
            report.checked += 1
            if hasher.hexdigest() != path.name:
                report.corrupt.append(f"blob sha256:{path.name}")
                if remove:
                    path.unlink()
        for path in self._entries("envelopes"):
            report.checked += 1
            if not path.is_file() or not _envelope_matches(path.read_bytes(), path.name):
                report.corrupt.append(f"envelope sha256:{path.name}")
                if remove:
                    _remove(path)
        for path in sorted((self.root / "index").glob("*/*/*.json")):
            report.checked += 1
            data = path.read_bytes() if path.is_file() else b""
            report.bytes_checked += len(data)
            if _index_entry(data, parse=True) is None:
                report.corrupt.append(f"index entry {path.relative_to(self.root / 'index')}")
                if remove:
                    _remove(path)
        return report

    def clean(self) -> int:
        """Remove the whole cache; return the number of bytes freed."""
        import shutil

        freed = int(self.info()["total_bytes"]) if self.root.exists() else 0
        if self.root.exists():
            # Rename first so a concurrent reader never sees a half-deleted cache.
            doomed = self.root.with_name(f".{CACHE_VERSION}-deleting-{os.getpid()}")
            os.replace(self.root, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        return freed


def _index_entry(data: bytes, *, parse: bool = False) -> CachedCubeDocument | None:
    """The cube document entry ``data`` holds, or ``None`` when it is not one. ``parse`` also
    parses every version, digest and dependency in it (``memos cache verify``; installs do that
    when they read it)."""
    try:
        entry = msgspec.json.decode(data, type=CachedCubeDocument)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if parse:
        from memos_client.install.resolver import InvalidCandidateError, candidates_from_document

        try:
            candidates_from_document(entry.document)
        except InvalidCandidateError:
            return None
    return entry


def _remove(path: Path) -> None:
    """Remove a cache entry, whatever it is (a file, or a directory where a file belongs)."""
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            path.unlink()


def _envelope_matches(data: bytes, hex_name: str) -> bool:
    """True when ``data`` is an envelope whose payload hashes to ``hex_name``."""
    from mip.dsse import parse_envelope
    from mip.errors import MIPError

    try:
        envelope = parse_envelope(data)
    except MIPError:
        return False
    return hashlib.sha256(envelope.payload).hexdigest() == hex_name
