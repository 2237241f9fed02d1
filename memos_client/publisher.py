"""Publishing a ``.memcube`` to a registry (spec/MIP-1-registry.md §10).

Check the bundle's structure and payload formats locally, upload only the blobs the registry
lacks, then post the envelope. Blob digests are not hashed in a separate local pass: the registry
hashes every upload while receiving it and refuses a mismatch (``digest_mismatch``), and blobs it
already has were verified when they arrived, so a second pass would only double the reading. The
signer's public key goes along when it is one of the user's own keys, so the first publish to a
namespace can register it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO, cast

from memos_client.errors import UsageError
from memos_client.index_client import IndexClient, ProgressCallback, PublishResult
from mip.container import open_bundle
from mip.dsse import verify
from mip.errors import SignatureError
from mip.keys import PublicKey


@dataclass
class PublishOutcome:
    """What ``memos publish`` did."""

    result: PublishResult
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0


def _publisher_key(envelope_key_ids: list[str], own: dict[str, PublicKey]) -> PublicKey | None:
    return next((own[key_id] for key_id in envelope_key_ids if key_id in own), None)


def publish_bundle(
    path: Path,
    client: IndexClient,
    own_keys: dict[str, PublicKey],
    progress: ProgressCallback | None = None,
) -> PublishOutcome:
    """Check ``path``, upload its missing blobs (verified by the registry), publish its envelope."""
    if not path.is_file():
        raise UsageError(f"{path} is not a file: give the .memcube bundle to publish")
    with open_bundle(path) as bundle:
        if not bundle.envelope.signatures:
            raise UsageError(
                f"{path} is unsigned: the registry accepts only signed bundles; "
                "pack it with a key (memos pack --key NAME)"
            )
        bundle.check_contents()
        publisher = _publisher_key(bundle.envelope.key_ids, own_keys)
        if publisher is not None:
            try:
                verify(bundle.envelope, {publisher.key_id: publisher})
            except SignatureError:
                publisher = None  # signed under our key id but not by our key: send nothing
        outcome_uploaded: list[str] = []
        skipped: list[str] = []
        uploaded_bytes = 0
        sizes = bundle.manifest.blob_sizes()
        for digest in sorted(sizes, key=lambda d: bundle.blobs[d].offset):
            if client.blob_size(digest) == sizes[digest]:
                skipped.append(digest)
                continue
            # A bundle blob reader is a minimal read-only stream (read/readinto), all we need.
            opener = cast(Callable[[], BinaryIO], partial(bundle.open_blob, digest))
            result = client.upload_blob(digest, sizes[digest], opener, progress)
            outcome_uploaded.append(result.digest)
            uploaded_bytes += result.size
        envelope_json = bundle.envelope.to_json()
    published = client.publish(
        envelope_json, publisher.to_pem().decode() if publisher is not None else None
    )
    return PublishOutcome(published, outcome_uploaded, skipped, uploaded_bytes)
