"""Verifying a ``.memcube`` file: structure, signature, every blob digest, payload formats."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from mip.archive import Archive, ProgressCallback, read_archive

if TYPE_CHECKING:
    from mip.container import Bundle
    from mip.keys import PublicKey


class VerifiedBundle(NamedTuple):
    """A bundle whose every check passed; ``signers`` are the key ids that verified.

    A named tuple, not a msgspec struct (ADR 0012): ``memos verify`` starts hashing the blobs
    before msgspec is imported.
    """

    bundle: Bundle
    signers: list[str]


def verify_bundle_file(
    source: Path | Archive,
    trusted: Mapping[str, PublicKey],
    *,
    allow_unsigned: bool = False,
    progress: ProgressCallback | None = None,
) -> VerifiedBundle:
    """Run every check on a bundle; raise the first :class:`mip.errors.MIPError` found.

    The blobs are hashed on worker threads while the manifest and the signature are checked (a
    caller may have started that already, see :meth:`Archive.start_hashing`); a bad signature
    cancels the hashing, so a bundle from the wrong signer is refused without reading gigabytes.
    The bundle stays open for the caller (close it).
    """
    archive = source if isinstance(source, Archive) else read_archive(source)
    archive.start_hashing(progress)
    # Imported here, after the hashing started: these imports then overlap it.
    from mip.container import open_bundle
    from mip.dsse import verify

    bundle = open_bundle(archive)
    try:
        signers: list[str] = []
        if bundle.envelope.signatures or not allow_unsigned:
            signers = verify(bundle.envelope, trusted)
        bundle.verify_blobs()
        bundle.check_contents()
    except BaseException:
        bundle.close()
        raise
    return VerifiedBundle(bundle, signers)
