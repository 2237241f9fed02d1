"""Publishing a ``.memcube`` to a registry (spec/MIP-1-registry.md §10).

Read the archive's layout, then do two things at once: upload the blobs the registry lacks (on a
worker thread, straight from the bundle file) and, once their bytes are flowing, check the bundle
locally (manifest, envelope, payload formats, the signer's key). The envelope is posted only when
both are done; a failed check stops the upload within one chunk, and the registry keeps nothing
of an upload cut off.

Blob digests are not hashed locally: the registry hashes every upload while receiving it and
refuses a mismatch (``digest_mismatch``), and blobs it already has were verified when they
arrived, so a local pass would only double the reading. The local checks run beside the upload
because they cost mostly imports (the manifest models, cryptography for the signature):
time the upload, which releases the GIL in ``sendfile``, leaves free. The signer's public key goes
along when it is one of the user's own keys, so the first publish to a namespace can register it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import msgspec

from memos_client.errors import UsageError
from mip.archive import Entry, RangeReader, blob_entries, read_entries
from mip.digests import Digest
from mip.registry_api import PublishResult

if TYPE_CHECKING:
    from memos_client.registry.client import RegistryClient
    from memos_client.registry.transport import ProgressCallback
    from mip.keys import PublicKey


class PublishOutcome(msgspec.Struct):
    """What ``memos publish`` did."""

    result: PublishResult
    uploaded: list[str] = msgspec.field(default_factory=list)
    skipped: list[str] = msgspec.field(default_factory=list)
    uploaded_bytes: int = 0


class _CancelledError(Exception):
    """Raised inside the upload thread when the local checks failed."""


class _BlobUploads:
    """Uploads a bundle's missing blobs on a worker thread; :meth:`cancel` stops it."""

    def __init__(
        self,
        path: Path,
        blobs: dict[Digest, Entry],
        client: RegistryClient,
        progress: ProgressCallback | None,
    ) -> None:
        self._path = path
        self._blobs = blobs
        self._client = client
        self._progress = progress
        self._cancelled = threading.Event()
        self._streaming = threading.Event()
        self._error: BaseException | None = None
        self.uploaded: list[str] = []
        self.skipped: list[str] = []
        self.uploaded_bytes = 0
        # A daemon: an interrupted publish must not wait for the upload to notice.
        self._thread = threading.Thread(target=self._run, name="memos-publish-upload", daemon=True)

    def start(self) -> None:
        """Begin uploading."""
        self._thread.start()

    def wait_until_streaming(self) -> None:
        """Wait until blob bytes are flowing (or there is nothing to upload, or it failed).

        The requests before the first byte (HEADs, the PUT's headers) need the GIL in short turns;
        the checks' imports would hold it for milliseconds at a time and delay every one of them.
        """
        self._streaming.wait()

    def cancel(self) -> None:
        """Stop after the chunk in flight; the registry discards the unfinished upload."""
        self._cancelled.set()
        self._thread.join()

    def wait(self) -> None:
        """Wait for the uploads; re-raise what stopped them."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _advance(self, count: int) -> None:
        # Called between chunks of an upload: the place to stop it.
        self._streaming.set()
        if self._cancelled.is_set():
            raise _CancelledError
        if self._progress is not None:
            self._progress(count)

    def _run(self) -> None:
        try:
            with open(self._path, "rb") as file:
                for digest, entry in self._blobs.items():
                    if self._cancelled.is_set():
                        return
                    if self._client.blob_size(digest) == entry.size:
                        self.skipped.append(digest)
                        if self._progress is not None:
                            self._progress(entry.size)
                        continue
                    # A range reader says where its bytes lie: the client sends them by sendfile.
                    opener = cast(
                        Callable[[], BinaryIO], partial(RangeReader, file, entry.offset, entry.size)
                    )
                    result = self._client.upload_blob(digest, entry.size, opener, self._advance)
                    self.uploaded.append(result.digest)
                    self.uploaded_bytes += result.size
        except _CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001  (re-raised on the caller's thread by wait())
            self._error = exc
        finally:
            self._streaming.set()


def _checked_envelope(
    path: Path, own_keys: dict[str, PublicKey] | None
) -> tuple[bytes, PublicKey | None]:
    """Check the bundle (MIP-1 §8: structure, manifest, envelope, payload formats); return the
    envelope to post and the user's own key that signed it, if any."""
    # Imported here, not at the top: their imports (the manifest models, cryptography) are spent
    # while the upload is already running.
    from memos_client.trust.keystore import own_public_keys
    from mip.container import open_bundle
    from mip.dsse import verify
    from mip.errors import SignatureError

    with open_bundle(path) as bundle:
        if not bundle.envelope.signatures:
            raise UsageError(
                f"{path} is unsigned: the registry accepts only signed bundles; "
                "pack it with a key (memos pack --key NAME)"
            )
        bundle.check_contents()
        own = own_public_keys() if own_keys is None else own_keys
        publisher = next((own[k] for k in bundle.envelope.key_ids if k in own), None)
        if publisher is not None:
            try:
                verify(bundle.envelope, {publisher.key_id: publisher})
            except SignatureError:
                publisher = None  # signed under our key id but not by our key: send nothing
        return bundle.envelope.to_json(), publisher


def publish_bundle(
    path: Path,
    client: RegistryClient,
    own_keys: dict[str, PublicKey] | None = None,
    progress: ProgressCallback | None = None,
) -> PublishOutcome:
    """Check ``path`` while uploading its missing blobs (verified by the registry), then publish
    its envelope. ``own_keys`` defaults to the public keys in ``$MEMOS_HOME/keys``."""
    if not path.is_file():
        raise UsageError(f"{path} is not a file: give the .memcube bundle to publish")
    with open(path, "rb") as file:
        blobs = blob_entries(read_entries(file))
    uploads = _BlobUploads(path, blobs, client, progress)
    uploads.start()
    try:
        uploads.wait_until_streaming()
        envelope_json, publisher = _checked_envelope(path, own_keys)
    except BaseException:
        uploads.cancel()
        raise
    uploads.wait()
    published = client.publish(
        envelope_json, publisher.to_pem().decode() if publisher is not None else None
    )
    return PublishOutcome(published, uploads.uploaded, uploads.skipped, uploads.uploaded_bytes)
