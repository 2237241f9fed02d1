"""Verifying a ``.memcube`` file: structure, signature, every blob digest, payload formats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mip.container import Bundle, ProgressCallback, open_bundle
from mip.dsse import verify
from mip.keys import PublicKey


@dataclass
class VerifiedBundle:
    """A bundle whose every check passed; ``signers`` are the key ids that verified."""

    bundle: Bundle
    signers: list[str]


def verify_bundle_file(
    path: Path,
    trusted: Mapping[str, PublicKey],
    *,
    allow_unsigned: bool = False,
    progress: ProgressCallback | None = None,
) -> VerifiedBundle:
    """Run every check on ``path``; raise the first :class:`mip.errors.MIPError` found.

    The signature is checked before the blobs are hashed, so a bundle from the wrong signer is
    refused without reading gigabytes. The bundle stays open for the caller (close it).
    """
    bundle = open_bundle(path)
    try:
        signers: list[str] = []
        if bundle.envelope.signatures or not allow_unsigned:
            signers = verify(bundle.envelope, trusted)
        bundle.verify_blobs(progress)
        bundle.check_contents()
    except BaseException:
        bundle.close()
        raise
    return VerifiedBundle(bundle, signers)
