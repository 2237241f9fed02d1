"""The registry API's wire documents and error codes (spec/MIP-1-registry.md), as data.

MIP is the spec of the registry's HTTP API as well as of the bundle: these are the JSON documents
the API exchanges (§1-§7) and the stable error codes of its error body (§9). Clients decode
answers with them (``msgspec.json.decode(body, type=CubeDocument)``): a field missing, mistyped
or ``null`` where the spec says otherwise is refused in one place, and fields a newer registry
adds are ignored. The registry's own response models must describe the same documents; a test
compares the JSON Schemas of both (``tests/schemas/test_registry_api_drift.py``).

Pure data: no I/O, no HTTP library.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from mip import errors as mip_errors

__all__ = [
    "CubeDocument",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "KeyCreate",
    "KeyInfo",
    "KeyList",
    "KeyRevoke",
    "LogConsistency",
    "LogEntries",
    "LogEntry",
    "LogInclusion",
    "LogInfo",
    "PartSummary",
    "PublishRequest",
    "PublishResult",
    "SearchHit",
    "SearchPage",
    "TokenCreate",
    "TokenCreated",
    "TokenInfo",
    "TokenList",
    "UploadResult",
    "UploadSession",
    "UploadSessionCreate",
    "Version",
    "VersionDetail",
    "WhoAmI",
    "YankRequest",
]


class ErrorCode(StrEnum):
    """Every stable ``code`` of the registry's error body (spec §9), by meaning.

    The codes of protocol errors are those of :mod:`mip.errors` (one spelling for one thing).
    A client meets codes this enum does not list (a newer registry): it falls back on the HTTP
    status, so ``ErrorBody.error.code`` stays a plain string.
    """

    # 400: the request or what it carries is not valid.
    INVALID_REQUEST = "invalid_request"
    INVALID_ENVELOPE = mip_errors.EnvelopeError.code
    INVALID_MANIFEST = mip_errors.ManifestError.code
    UNSUPPORTED_MIP_VERSION = mip_errors.UnsupportedVersionError.code
    INVALID_NAME = mip_errors.InvalidNameError.code
    INVALID_VERSION = mip_errors.InvalidVersionError.code
    INVALID_DIGEST = mip_errors.InvalidDigestError.code
    INVALID_SPECIFIER = mip_errors.InvalidSpecifierError.code
    INVALID_KEY = mip_errors.InvalidKeyError.code
    INVALID_RECORDS = mip_errors.RecordError.code
    INVALID_TENSOR = mip_errors.TensorError.code
    INVALID_BUNDLE = mip_errors.BundleError.code
    BAD_SIGNATURE = mip_errors.SignatureError.code
    INVALID_QUERY = "invalid_query"
    INVALID_RANGE = "invalid_range"
    DIGEST_MISMATCH = mip_errors.DigestMismatchError.code
    UPLOAD_INCOMPLETE = "upload_incomplete"
    BLOB_MISSING = "blob_missing"
    SIZE_MISMATCH = mip_errors.SizeMismatchError.code
    INVALID_TREE_SIZE = "invalid_tree_size"
    INVALID_TILE_PATH = mip_errors.InvalidTilePathError.code
    SELF_DEPENDENCY = "self_dependency"
    #: Answered to a client that hung up mid-request: no one reads it.
    CLIENT_DISCONNECTED = "client_disconnected"
    # 401 / 403: who is asking.
    UNAUTHORIZED = "unauthorized"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a code, not a secret
    FORBIDDEN = "forbidden"
    UNREGISTERED_KEY = "unregistered_key"
    # 404: what was asked for does not exist.
    NOT_FOUND = "not_found"
    CUBE_NOT_FOUND = "cube_not_found"
    VERSION_NOT_FOUND = "version_not_found"
    BLOB_NOT_FOUND = "blob_not_found"
    NAMESPACE_NOT_FOUND = "namespace_not_found"
    UPLOAD_NOT_FOUND = "upload_not_found"
    TOKEN_NOT_FOUND = "token_not_found"  # noqa: S105 - a code, not a secret
    NO_MATCHING_VERSION = "no_matching_version"
    LOG_ENTRY_NOT_FOUND = "log_entry_not_found"
    TILE_NOT_FOUND = "tile_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409: the registry's state does not allow it.
    CONFLICT = "conflict"
    VERSION_EXISTS = "version_exists"
    NAME_CONFLICT = "name_conflict"
    UPLOAD_OFFSET_MISMATCH = "upload_offset_mismatch"
    # 408: the request body arrived too slowly or stalled.
    REQUEST_TIMEOUT = "request_timeout"
    # 413 / 416: sizes and ranges.
    BLOB_TOO_LARGE = "blob_too_large"
    REQUEST_TOO_LARGE = "request_too_large"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    # 5xx: the registry or what it depends on failed; retry later.
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    LOG_UNAVAILABLE = "log_unavailable"
    LOG_KEY_MISMATCH = "log_key_mismatch"
    SERVER_BUSY = "server_busy"


# -- §1: every error answer --------------------------------------------------------------------


class ErrorDetail(msgspec.Struct, frozen=True):
    """A stable code (:class:`ErrorCode`, or one a newer registry added) and a message."""

    code: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error response: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


# -- §2: tokens, accounts, keys ----------------------------------------------------------------


class WhoAmI(msgspec.Struct, frozen=True):
    """``GET /v1/whoami``: the caller's token."""

    account: str
    token_prefix: str
    namespaces: list[str]
    actions: list[str]
    expires_at: datetime


class TokenCreate(msgspec.Struct, frozen=True):
    """``POST /v1/tokens``: a new token's scopes."""

    namespaces: list[str]
    actions: list[str]
    expires_in_days: int = 90
    description: str = ""


class TokenCreated(msgspec.Struct, frozen=True):
    """A new token, shown this once."""

    token: str
    namespaces: list[str]
    actions: list[str]
    expires_at: datetime


class TokenInfo(msgspec.Struct, frozen=True):
    """A token as listed (never its secret)."""

    id: int
    prefix: str
    description: str
    namespaces: list[str]
    actions: list[str]
    created_at: datetime
    expires_at: datetime
    revoked: bool
    current: bool


class TokenList(msgspec.Struct, frozen=True):
    """``GET /v1/tokens``: the account's tokens within the caller's scope, newest first."""

    tokens: list[TokenInfo]


class KeyCreate(msgspec.Struct, frozen=True, omit_defaults=True):
    """``POST /v1/namespaces/{ns}/keys``: a public key to register, optionally with its
    endorsement (a DSSE statement signed by a key already in the set, MIP-1 §6.4)."""

    public_key_pem: str
    endorsement: str | None = None


class KeyRevoke(msgspec.Struct, frozen=True):
    """``POST /v1/namespaces/{ns}/keys/{key_id}/revoke``: why the key is revoked."""

    reason: str


class KeyInfo(msgspec.Struct, frozen=True):
    """A registered signing key, with its endorsement and revocation (MIP-1 §6.4)."""

    key_id: str
    public_key_pem: str
    added_at: str
    endorsement: str | None = None
    revoked_at: str | None = None
    revocation_reason: str | None = None


class KeyList(msgspec.Struct, frozen=True):
    """``GET /v1/namespaces/{ns}/keys``: a namespace's signing keys."""

    namespace: str
    keys: list[KeyInfo]


# -- §3: blobs ---------------------------------------------------------------------------------


class UploadResult(msgspec.Struct, frozen=True):
    """``PUT /v1/blobs/{digest}`` and a session's last ``PUT``: ``created`` is false when the
    registry already held the blob."""

    digest: str
    size: int
    created: bool


class UploadSessionCreate(msgspec.Struct, frozen=True):
    """``POST /v1/uploads``: open a resumable upload."""

    digest: str
    size: int


class UploadSession(msgspec.Struct, frozen=True):
    """A resumable upload's state; ``exists`` is true (and no session opened) when stored."""

    digest: str
    size: int
    upload_id: str | None = None
    offset: int = 0
    expires_at: datetime | None = None
    chunk_size_max: int | None = None
    exists: bool = False


# -- §4: publishing ----------------------------------------------------------------------------


class PublishRequest(msgspec.Struct, frozen=True):
    """``POST /v1/versions``: a DSSE envelope, and the signer's key for a first publish."""

    envelope: dict[str, Any]
    public_key_pem: str | None = None


class PublishResult(msgspec.Struct, frozen=True):
    """The published version; ``created`` is false for an identical re-publish."""

    name: str
    version: str
    manifest_digest: str
    created: bool


# -- §5 and §6: reading versions, yanking ------------------------------------------------------


class Version(msgspec.Struct, frozen=True):
    """One version as a resolver sees it. ``dependencies`` is the registry's copy of the signed
    manifest's: a client installs by the manifest's, and refuses a copy that differs."""

    version: str
    manifest_digest: str
    dependencies: dict[str, str]
    yanked: bool
    yank_reason: str | None
    published_at: str
    size: int
    name: str | None = None


class PartSummary(msgspec.Struct, frozen=True):
    """One part of a version's manifest."""

    name: str
    kind: str
    media_type: str
    digest: str
    size: int


class VersionDetail(Version, frozen=True, kw_only=True):
    """``GET /v1/cubes/{ns}/{name}/versions/{version}``: a version with its parts."""

    parts: list[PartSummary]
    downloads: int


class CubeDocument(msgspec.Struct, frozen=True):
    """``GET /v1/cubes/{ns}/{name}``: everything a resolver needs about a cube (§5)."""

    name: str
    normalized_name: str
    description: str
    keywords: list[str]
    latest_version: str | None
    downloads: int
    versions: list[Version]

    def get(self, version: str) -> Version | None:
        """The entry for ``version`` (build metadata ignored), if published."""
        key = version.partition("+")[0]
        return next((v for v in self.versions if v.version.partition("+")[0] == key), None)


class YankRequest(msgspec.Struct, frozen=True):
    """``POST .../yank``: why a version is yanked."""

    reason: str


# -- §7: search --------------------------------------------------------------------------------


class SearchHit(msgspec.Struct, frozen=True):
    """One search result."""

    name: str
    description: str
    keywords: list[str]
    latest_version: str | None
    downloads: int
    updated_at: str


class SearchPage(msgspec.Struct, frozen=True):
    """``GET /v1/search``: a page of results."""

    query: str
    total: int
    results: list[SearchHit]


# -- §12: the transparency log -----------------------------------------------------------------
# Hashes and proofs are base64 strings; entries their canonical text (mip.transparency.entries).


class LogInfo(msgspec.Struct, frozen=True):
    """``GET /v1/log``: the log's identity (what a client pins) and its current head."""

    origin: str
    verifier_key: str
    public_key_pem: str
    tree_size: int
    root_hash: str
    tile_height: int
    checkpoint: str


class LogEntry(msgspec.Struct, frozen=True):
    """One entry of ``GET /v1/log/entries``."""

    index: int
    entry: str
    leaf_hash: str


class LogEntries(msgspec.Struct, frozen=True):
    """``GET /v1/log/entries``: consecutive entries and the tree size they were read at."""

    tree_size: int
    entries: list[LogEntry]


class LogInclusion(msgspec.Struct, frozen=True):
    """An inclusion proof of one entry with the signed checkpoint it proves against."""

    index: int
    tree_size: int
    entry: str
    leaf_hash: str
    proof: list[str]
    checkpoint: str


class LogConsistency(msgspec.Struct, frozen=True):
    """``GET /v1/log/consistency``: the proof from ``first`` to ``second`` entries."""

    first: int
    second: int
    proof: list[str]
    checkpoint: str
