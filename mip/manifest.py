"""Manifest encoding and decoding (MIP-1 §5.1).

Writers encode a manifest as UTF-8 JSON with sorted keys and no insignificant whitespace. Readers
never re-encode: the exact bytes carried by the envelope are the manifest, and their SHA-256 is
the identity of the cube version.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from mip import MIP_MAJOR
from mip.digests import Digest, digest_bytes, parse_digest
from mip.errors import ManifestError, MIPError, UnsupportedVersionError
from mip.limits import DEFAULT_LIMITS, Limits
from mip.models import Manifest, describe_error, from_document, to_document
from mip.names import normalize_cube_name
from mip.strict_json import load_json, refuse_duplicate_keys
from mip.versions import Version

#: ``MAJOR.MINOR``, decimal without leading zeros ("01.0" is refused), as MIP-1 §2 writes it.
_MIP_VERSION_RE = re.compile(r"(?:0|[1-9][0-9]{0,8})\.(?:0|[1-9][0-9]{0,8})")


def encode_manifest(manifest: Manifest) -> bytes:
    """The canonical bytes a writer signs: sorted keys, compact separators, ``None`` left out.

    The unknown fields the manifest was read with are written back (MIP-1 §2).
    """
    document = to_document(manifest)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_digest(manifest_bytes: bytes) -> Digest:
    """The identity of a cube version: the digest of its exact manifest bytes."""
    return digest_bytes(manifest_bytes)


_DUPLICATE_KEYS = "duplicate JSON keys: {keys}"
#: What :func:`preview_manifest` parses with (its bytes are not decoded first, as JSON allows).
_reject_duplicates = refuse_duplicate_keys(ManifestError, "invalid manifest: " + _DUPLICATE_KEYS)


def decode_manifest(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Parse and validate manifest bytes; the first schema problem found is the error's message."""
    if len(data) > limits.max_manifest_bytes:
        raise ManifestError(
            f"manifest is {len(data)} bytes, over the {limits.max_manifest_bytes}-byte limit"
        )
    document = load_json(data, ManifestError, "invalid manifest", _DUPLICATE_KEYS)
    return manifest_from_document(document, limits)


def preview_manifest(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any] | None:
    """The manifest as JSON when its name, version and blob list are well-formed, else ``None``.

    What a download may start from (MIP-1 §4, §5.1, §9): strict JSON, a valid name and version,
    at most ``max_parts`` parts each with a valid digest and a size within the limits. It is
    not validation: :func:`decode_manifest` MUST pass before anything downloaded is used; an
    installer runs it while the blobs arrive (``None`` here: run it first, its error is the
    clearer one). Three times cheaper than the schema check, and it needs no model.
    """
    if len(payload) > limits.max_manifest_bytes:
        return None
    try:
        document = json.loads(payload, object_pairs_hook=_reject_duplicates)
    except (ValueError, RecursionError):  # ManifestError (a duplicate key) is a ValueError
        return None
    if not isinstance(document, dict):
        return None
    name, version, parts = document.get("name"), document.get("version"), document.get("parts")
    if not isinstance(name, str) or not isinstance(version, str) or not isinstance(parts, list):
        return None
    if len(parts) > limits.max_parts:
        return None
    try:
        normalize_cube_name(name)
        Version.parse(version)
        for part in parts:
            if not isinstance(part, dict):
                return None
            size = part.get("size")
            if type(size) is not int or not 0 <= size <= limits.max_blob_bytes:
                return None
            parse_digest(part.get("digest"))  # type: ignore[arg-type]
    except MIPError:
        return None
    return document


def manifest_from_document(document: Any, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Validate an already-parsed manifest document (checks the MIP major version first).

    Raises :class:`ManifestError` naming the first problem and where it is, e.g.
    ``invalid manifest: parts[0].size: Expected `int` >= 0``.
    """
    if not isinstance(document, dict):
        raise ManifestError("invalid manifest: expected a JSON object")
    version = document.get("mip_version")
    if not isinstance(version, str) or not _MIP_VERSION_RE.fullmatch(version):
        raise ManifestError("invalid manifest: 'mip_version' must be a string like '1.0'")
    if int(version.partition(".")[0]) != MIP_MAJOR:
        raise UnsupportedVersionError(
            f"unsupported MIP version {version}: this tool reads MIP {MIP_MAJOR}.x; upgrade memstore"
        )
    parts = document.get("parts")
    if isinstance(parts, list) and len(parts) > limits.max_parts:
        raise ManifestError(f"invalid manifest: {len(parts)} parts, limit {limits.max_parts}")
    try:
        manifest = from_document(document, Manifest)
    except msgspec.ValidationError as exc:
        raise ManifestError(f"invalid manifest: {describe_error(exc)}") from exc
    for part in manifest.parts:
        if part.size > limits.max_blob_bytes:
            raise ManifestError(
                f"invalid manifest: part {part.name!r} declares {part.size} bytes, "
                f"over the {limits.max_blob_bytes}-byte limit"
            )
    try:
        manifest.blob_sizes()
    except ValueError as exc:
        raise ManifestError(f"invalid manifest: {exc}") from exc
    return manifest
