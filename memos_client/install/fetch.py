"""A registry seen through the cache, for installs: cube documents, envelopes, keys and blobs.

Requests go through :class:`memos_client.registry.client.RegistryClient`, anonymously: installs
read, and a registry a lockfile names is never sent a credential. This module adds the cache:
conditional cube documents (``If-None-Match``), blob downloads into the content-addressed cache
that are bounded by the signed size, retried and resumed with ``Range`` after an interruption.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from memos_client.errors import NetworkError, NotFoundError, RegistryError, VerificationError
from memos_client.install.cache import Cache
from memos_client.install.resolver import Candidate, InvalidCandidateError, candidates_from_document
from mip.digests import Digest
from mip.names import CubeName

if TYPE_CHECKING:
    from memos_client.registry.client import RegistryClient
    from mip.key_statements import ServedKey

DEFAULT_INDEX_URL = "http://127.0.0.1:8700"
#: Parallel blob downloads.
MAX_PARALLEL = 8
#: Attempts per blob: the first, then resumes after interruptions.
MAX_ATTEMPTS = 3
#: Bytes per read: rehashing a partial file, and the one buffer a blob download reuses.
_CHUNK = 1 << 20
#: Seconds :meth:`BackgroundDownload.cancel` waits for the download thread to stop.
CANCEL_WAIT = 2.0


class DownloadCancelledError(Exception):
    """A background download was stopped by :meth:`BackgroundDownload.cancel` (internal)."""


class BackgroundDownload:
    """Blob downloads running on a worker thread while the command does other work.

    :meth:`wait` re-raises the download's error; :meth:`cancel` stops it at its next chunk
    (partial files stay, as after an interruption: a later run resumes them).
    """

    def __init__(
        self,
        index: CachedRegistry,
        blobs: Mapping[Digest, int],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._cancel = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(index, blobs, progress), name="memos-download", daemon=True
        )
        self._thread.start()

    def _run(
        self,
        index: CachedRegistry,
        blobs: Mapping[Digest, int],
        progress: Callable[[int], None] | None,
    ) -> None:
        try:
            index.download_blobs(blobs, progress, self._cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
            if not self._cancel.is_set():  # after a cancel, nobody is waiting for the outcome
                self._error = exc

    def wait(self) -> None:
        """Block until every blob is cached; raise the download's error, if any."""
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def cancel(self) -> None:
        """Stop the download; its outcome no longer matters.

        Waits up to :data:`CANCEL_WAIT` seconds for the thread to notice (a registry that has
        stopped sending would otherwise hold the command until the read times out); a thread
        still blocked then is a daemon that stops at its next chunk or with the process.
        """
        self._cancel.set()
        self._thread.join(CANCEL_WAIT)
        self._error = None


def default_registry_url() -> str:
    """``$MEMOS_INDEX_URL``, else the registry of ``memos login``, else the local default
    (a configured URL that is not http(s) is refused, not replaced by the default)."""
    from memos_client.registry.config import configured_index_url

    return configured_index_url() or DEFAULT_INDEX_URL


def _pins_known(known: Sequence[Candidate], exact_pins: Collection[str]) -> bool:
    """Whether every exactly pinned version is among ``known`` (then no request is needed)."""
    if not exact_pins:
        return False
    from mip.versions import Version

    versions = {candidate.version for candidate in known}
    return all(Version.parse(pin) in versions for pin in exact_pins)


class CachedRegistry:
    """A registry seen through the cache: the resolver's :class:`Index`, plus envelopes and blobs.

    Offline, everything comes from the cache. Online, cube documents are revalidated with
    ``If-None-Match`` -- except for exact pins whose version is already cached: versions are
    immutable, and yanking does not affect an exact pin (API §5), so the cached entry is still
    right and no request is needed.
    """

    def __init__(
        self, url: str, cache: Cache, *, offline: bool = False, read_only: bool = False
    ) -> None:
        from memos_client.registry.config import check_index_url

        # Refuse a URL that is not http(s) here, where every install, lock and sync begins,
        # whether it came from --index-url, the environment or a lockfile's index-url.
        self.url = check_index_url(url)
        self.cache = cache
        self.offline = offline
        #: ``--dry-run``: read the cache, never write to it.
        self.read_only = read_only
        self._client: RegistryClient | None = None
        self._lock = threading.Lock()

    # -- transport -------------------------------------------------------------------------------

    @property
    def client(self) -> RegistryClient:
        """The registry client (created on first use: an offline install never needs one).
        Anonymous: no credential goes to a registry for reads."""
        with self._lock:
            if self._client is None:
                if self.offline:
                    raise NetworkError("--offline forbids the network, and this needs it")
                from memos_client.registry.client import RegistryClient

                self._client = RegistryClient(self.url)
            return self._client

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> CachedRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the resolver's view ---------------------------------------------------------------------

    def candidates(self, name: CubeName, exact_pins: Collection[str] = ()) -> Sequence[Candidate]:
        """Every version of ``name`` (see the class docstring for when the network is used)."""
        cached = self.cache.read_index(self.url, name)
        known: list[Candidate] | None = None
        if cached is not None:
            try:
                known = candidates_from_document(cached.document, name)
            except InvalidCandidateError:
                # Not what this client writes: treat it as absent, and ask the registry again.
                self.cache.discard_index(self.url, name)
                cached = None
        if known is not None and (self.offline or _pins_known(known, exact_pins)):
            return known
        if self.offline:
            raise NotFoundError(
                f"unknown cube {name}: it is not in the cache, and --offline forbids asking "
                f"the registry at {self.url}"
            )
        from memos_client.registry.answers import invalid_response
        from memos_client.registry.client import NotModified

        etag = cached.etag if cached is not None and known is not None else None
        try:
            answer = self.client.cube(name, etag)
        except NetworkError as exc:
            raise type(exc)(
                f"{exc}; check --index-url, or install cached cubes with --offline"
            ) from exc
        if isinstance(answer, NotModified):
            assert known is not None  # only a conditional request is answered 304
            return known
        try:
            result = candidates_from_document(answer.document, name)
        except InvalidCandidateError as exc:
            raise invalid_response(self.url, "GET", f"/v1/cubes/{name}", exc.what) from None
        if not self.read_only:
            self.cache.write_index(self.url, name, answer.document, answer.etag)
        return result

    # -- envelopes and keys ----------------------------------------------------------------------

    def envelope(self, candidate: Candidate) -> bytes:
        """The envelope bytes of a version, from the cache or the registry (not yet verified;
        a cached one damaged since it was written counts as absent)."""
        cached = self.cache.read_checked_envelope(candidate.manifest_digest)
        if cached is not None:
            return cached
        if self.offline:
            raise NotFoundError(
                f"{candidate} is not in the cache and --offline forbids downloading it"
            )
        return self.client.envelope(candidate.name, candidate.version_text)

    def served_keys(self, namespace: str) -> list[ServedKey]:
        """The key set the registry serves for ``namespace``: keys, endorsements, revocations
        (MIP-1 §6.4); empty offline or for a namespace the registry does not know."""
        from mip.errors import InvalidKeyError
        from mip.key_statements import ServedKey
        from mip.keys import PublicKey

        if self.offline:
            return []
        try:
            listed = self.client.keys(namespace)
        except NotFoundError:
            return []
        served = []
        for item in listed:
            try:
                key = PublicKey.from_pem(item.public_key_pem.encode())
            except InvalidKeyError:
                continue
            if key.key_id != item.key_id:
                continue  # a key listed under another key's id is no key of this set
            endorsement = None if item.endorsement is None else item.endorsement.encode()
            served.append(
                ServedKey(key, endorsement, item.revoked_at, item.revocation_reason, item.added_at)
            )
        return served

    # -- blobs -----------------------------------------------------------------------------------

    def start_download(
        self, blobs: Mapping[Digest, int], progress: Callable[[int], None] | None = None
    ) -> BackgroundDownload:
        """:meth:`download_blobs` on a worker thread; the caller waits for (or cancels) it."""
        return BackgroundDownload(self, blobs, progress)

    def download_blobs(
        self,
        blobs: Mapping[Digest, int],
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Fetch every blob not already cached, in parallel; raise on the first failure.

        ``cancel``, once set, stops every download at its next chunk
        (:class:`DownloadCancelledError`).
        """
        missing = {d: s for d, s in blobs.items() if not self.cache.has_blob(d, s)}
        if not missing:
            return
        if self.offline:
            raise NotFoundError(
                f"{len(missing)} blob(s) are not in the cache (e.g. {next(iter(missing))}) "
                "and --offline forbids downloading them"
            )
        if len(missing) == 1:
            ((digest, size),) = missing.items()
            self.download_blob(digest, size, progress, cancel)
            return
        from concurrent.futures import ThreadPoolExecutor  # imports logging: only when needed

        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(missing))) as pool:
            futures = [
                pool.submit(self.download_blob, d, s, progress, cancel) for d, s in missing.items()
            ]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def download_blob(
        self,
        digest: Digest,
        size: int,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Stream one blob into the cache, resuming a partial download; return its path."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return self._download_once(digest, size, progress, cancel)
            except RegistryError as exc:
                if exc.code not in ("range_ignored", "range_not_satisfiable") or attempt > 1:
                    raise
                # The server cannot resume this partial file: drop it and start over.
                self.cache.partial_path(digest).unlink(missing_ok=True)
            except NetworkError as exc:
                # The partial file stays: the next attempt (or the next run) resumes with Range.
                if attempt == MAX_ATTEMPTS:
                    raise NetworkError(
                        f"downloading {digest} from {self.url} failed {attempt} times "
                        f"({exc}); run the command again to resume"
                    ) from exc
        raise AssertionError("unreachable")

    def _download_once(
        self,
        digest: Digest,
        size: int,
        progress: Callable[[int], None] | None,
        cancel: threading.Event | None,
    ) -> Path:
        partial = self.cache.partial_path(digest)
        partial.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        offset = 0
        if partial.exists():
            offset = partial.stat().st_size
            if offset > size:
                partial.unlink()
                offset = 0
            else:
                with open(partial, "rb") as existing:
                    while block := existing.read(_CHUNK):
                        hasher.update(block)
        if offset and offset >= size:
            # A complete file that was never committed (it failed the digest check): start over.
            partial.unlink()
            hasher, offset = hashlib.sha256(), 0
        if progress is not None and offset:
            progress(offset)
        received = offset
        buffer = memoryview(bytearray(_CHUNK))
        stream_blob = self.client.open_blob(digest, size, offset)
        with stream_blob as stream, open(partial, "ab") as sink:
            while count := stream.readinto(buffer):
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelledError(digest)
                received += count
                if received > size:
                    break  # never let a server fill the disk past the declared size
                chunk = buffer[:count]
                hasher.update(chunk)
                sink.write(chunk)
                if progress is not None:
                    progress(count)
        actual = "sha256:" + hasher.hexdigest()
        if received != size or actual != digest:
            with suppress(FileNotFoundError):
                partial.unlink()
            what = (
                f"{received} bytes, expected {size}" if received != size else f"hashes to {actual}"
            )
            raise VerificationError(
                f"blob {digest} from {self.url} is corrupt or tampered with ({what}); "
                "discarded it, nothing was installed"
            )
        return self.cache.commit_blob(partial, digest)
