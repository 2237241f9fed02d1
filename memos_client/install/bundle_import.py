"""Bringing a local ``.memcube`` file into the cache, verified exactly like a download."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from memos_client.errors import UsageError, VerificationError
from memos_client.install.installer import CHECKED_DIR, VerifiedCube
from memos_client.install.resolver import Candidate
from memos_client.trust.signers import check_signers
from mip.digests import digest_hex
from mip.errors import MIPError
from mip.names import normalize_cube_name
from mip.versions import Version

if TYPE_CHECKING:
    from memos_client.install.session import Session


def import_bundle(path: Path, session: Session) -> VerifiedCube:
    """Check a bundle's signature (trust rules), every blob and payload; cache its contents."""
    import json

    from mip.container import open_bundle

    if not path.is_file():
        raise UsageError(f"{path} is not a file: pass a .memcube bundle or NAMESPACE/NAME")
    try:
        bundle = open_bundle(path)
    except MIPError as exc:
        raise VerificationError(f"{path}: {exc}") from exc
    with bundle:
        manifest = bundle.manifest
        candidate = Candidate(
            name=normalize_cube_name(manifest.name),
            version=Version.parse(manifest.version),
            version_text=manifest.version,
            manifest_digest=bundle.digest,
            dependencies=dict(manifest.dependencies),
        )
        options = session.options
        check = check_signers(
            bundle.envelope,
            str(candidate),
            trusted=session.trusted,
            pins=session.pins,
            lock_keys=options.lock_keys,
            registry_keys=None,  # a file names no registry: only keys the user trusts count
            allow_unsigned=options.allow_unsigned,
            revoked=session.revoked_keys(normalize_cube_name(manifest.name).partition("/")[0]),
        )
        total = sum(entry.size for entry in bundle.blobs.values())
        drawing = options.progress(total, f"verify {candidate.name}") if options.progress else None
        try:
            if drawing is None:
                bundle.verify_blobs()
            else:
                with drawing as advance:
                    bundle.verify_blobs(advance)
            bundle.check_contents()
        except MIPError as exc:
            raise VerificationError(f"{path}: {exc}") from exc
        cache = session.registry.cache
        for digest in bundle.blobs:
            if not cache.has_blob(digest, bundle.blobs[digest].size):
                bundle.extract_blob(digest, cache.blob_path(digest))
        envelope_bytes = bundle.envelope.to_json()
        cache.write_envelope(bundle.digest, envelope_bytes)
        marker = cache.root / CHECKED_DIR / digest_hex(bundle.digest)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        return VerifiedCube(
            candidate,
            envelope_bytes,
            bundle.manifest_bytes,
            json.loads(bundle.manifest_bytes),
            check.key_ids,
            str(path.resolve()),
            check.new_pin,
            validated=True,  # open_bundle validated the manifest
        )
