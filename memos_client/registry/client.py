"""The client of the registry API (spec/MIP-1-registry.md): one class, every endpoint.

:class:`RegistryClient` is the one way this program talks to a registry. Its policy (base URL,
credential per origin, bounds, redirects) and the one way a call is made are its base,
:class:`~memos_client.registry.calls.BaseClient`; the resumable upload session (spec §3) is
:mod:`memos_client.registry.uploads`; the bytes go through one
:class:`~memos_client.registry.transport.Transport`.

Adding an endpoint is one method: build the path, :meth:`RegistryClient._call`, decode into the
:mod:`mip.registry_api` document. Thread-safe: blobs download on parallel threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import msgspec

from memos_client.errors import InvalidResponseError, RegistryError, UsageError, VerificationError
from memos_client.registry.answers import invalid_response
from memos_client.registry.calls import USER_AGENT
from memos_client.registry.settings import ClientSettings
from memos_client.registry.uploads import UploadEndpoints
from mip.registry_api import (
    CubeDocument,
    KeyCreate,
    KeyInfo,
    KeyList,
    KeyRevoke,
    LogConsistency,
    LogEntries,
    LogInclusion,
    LogInfo,
    PublishRequest,
    PublishResult,
    SearchPage,
    TokenCreate,
    TokenCreated,
    TokenInfo,
    TokenList,
    Version,
    VersionDetail,
    WhoAmI,
    YankRequest,
)

if TYPE_CHECKING:
    from memos_client.registry.transport import Response

__all__ = [
    "USER_AGENT",
    "BlobStream",
    "ClientSettings",
    "CubeAnswer",
    "NotModified",
    "RegistryClient",
    "cube_path",
]


class NotModified(msgspec.Struct, frozen=True):
    """A conditional request's answer: the copy with this ETag is current (304)."""

    etag: str


class CubeAnswer(msgspec.Struct, frozen=True):
    """A cube document and the ETag it was served with."""

    document: CubeDocument
    etag: str | None


class RegistryClient(UploadEndpoints):
    """A client of one registry. Use as a context manager, or call :meth:`close`."""

    # -- reads (anonymous) ---------------------------------------------------------------------

    def cube(self, name: str, etag: str | None = None) -> CubeAnswer | NotModified:
        """A cube and all its versions (``name`` is ``namespace/name``); with ``etag``,
        :class:`NotModified` when the copy with that ETag is current."""
        path = f"/v1/cubes/{cube_path(name)}"
        headers = {"accept": "application/json"}
        if etag:
            headers["if-none-match"] = etag
        response = self._call("GET", path, headers=headers, expect=(304,) if etag else ())
        if response.status == 304 and etag:
            response.close()
            return NotModified(etag)
        new_etag = response.headers.get("etag")
        what = "a cube document (an object with name and a list of versions)"
        document = self._document("GET", path, CubeDocument, what, response=response)
        return CubeAnswer(document, new_etag)

    def version(self, name: str, version: str) -> VersionDetail:
        """One version's details (version object, parts, downloads)."""
        path = f"/v1/cubes/{cube_path(name)}/versions/{quote(version, safe='')}"
        return self._document("GET", path, VersionDetail, "a version document")

    def resolve(self, name: str, spec: str = "", prereleases: bool | None = None) -> Version:
        """The registry's pick for ``spec`` (yanked versions only for exact pins)."""
        query = {"spec": spec}
        if prereleases is not None:
            query["prereleases"] = "true" if prereleases else "false"
        path = f"/v1/cubes/{cube_path(name)}/resolve?{urlencode(query)}"
        return self._document("GET", path, Version, "a version object")

    def envelope(self, name: str, version: str) -> bytes:
        """The DSSE envelope of a version, exactly as stored (verify it before trusting it)."""
        path = f"/v1/cubes/{cube_path(name)}/versions/{quote(version, safe='')}/envelope"
        response = self._call("GET", path)
        body = response.read(self.settings.max_envelope_bytes)
        response.close()
        if body is None:
            raise invalid_response(
                self.url,
                "GET",
                path,
                f"an envelope (it is over the {self.settings.max_envelope_bytes:,}-byte limit)",
            )
        return body

    def keys(self, namespace: str) -> list[KeyInfo]:
        """Signing keys registered for a namespace."""
        path = f"/v1/namespaces/{quote(namespace, safe='')}/keys"
        return self._document("GET", path, KeyList, "a key list").keys

    def search(self, query: str, limit: int = 20, offset: int = 0) -> SearchPage:
        """A page of full-text search results."""
        path = "/v1/search?" + urlencode({"q": query, "limit": limit, "offset": offset})
        return self._document("GET", path, SearchPage, "a search result")

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or ``None`` when the registry lacks it."""
        try:
            response = self._call("HEAD", f"/v1/blobs/{quote(digest, safe=':')}")
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        response.read(0)
        response.close()
        try:
            return int(response.headers.get("content-length", ""))
        except ValueError:
            raise invalid_response(
                self.url, "HEAD", f"/v1/blobs/{digest}", "a blob's size (Content-Length)"
            ) from None

    @contextmanager
    def open_blob(self, digest: str, size: int, offset: int = 0) -> Iterator[BlobStream]:
        """The bytes of blob ``digest`` (``size`` bytes, as signed) from ``offset`` on.

        Redirects to storage are followed (without credentials). The stream ends after the
        signed size at most; an answer announcing another length is refused.
        """
        path = f"/v1/blobs/{quote(digest, safe=':')}"
        headers = {"range": f"bytes={offset}-"} if offset else {}
        response = self._call("GET", path, headers=headers, deadline=self._deadline(size - offset))
        try:
            if offset and response.status != 206:
                raise RegistryError(
                    f"the registry ignored a range request for {digest}",
                    code="range_ignored",
                    status=response.status,
                )
            expected = size - offset
            if response.length is not None and response.length != expected:
                raise InvalidResponseError(
                    f"the registry at {self.url} announced {response.length} bytes for blob "
                    f"{digest}, which has {expected} bytes left; check --index-url",
                    code="invalid_response",
                    status=response.status,
                )
            yield BlobStream(response, expected)
        finally:
            response.close()

    # -- the transparency log (spec §12.4; anonymous reads) -------------------------------------

    def log_info(self) -> LogInfo:
        """The log's origin, verifier key and current signed head (``GET /v1/log``)."""
        return self._document("GET", "/v1/log", LogInfo, "the transparency log's description")

    def log_consistency(self, first: int, second: int) -> LogConsistency:
        """The consistency proof from ``first`` to ``second`` entries, with ``second``'s
        checkpoint."""
        path = "/v1/log/consistency?" + urlencode({"first": first, "second": second})
        return self._document("GET", path, LogConsistency, "a consistency proof")

    def log_inclusion(
        self, name: str, version: str, event: str = "publish", tree_size: int | None = None
    ) -> LogInclusion:
        """The inclusion proof of the latest ``event`` entry of a version in the tree of
        ``tree_size`` entries (default: the current tree), with that tree's checkpoint."""
        query: dict[str, str | int] = {"event": event}
        if tree_size is not None:
            query["tree_size"] = tree_size
        path = (
            f"/v1/log/cubes/{cube_path(name)}/versions/{quote(version, safe='')}/inclusion?"
            + urlencode(query)
        )
        return self._document("GET", path, LogInclusion, "an inclusion proof")

    def log_entries(self, start: int, limit: int) -> LogEntries:
        """Up to ``limit`` consecutive entries from ``start`` (unauthenticated: check them
        against tiles, :mod:`memos_client.trust.log_scan`)."""
        path = "/v1/log/entries?" + urlencode({"start": start, "limit": limit})
        return self._document("GET", path, LogEntries, "a page of log entries")

    def log_tile(self, tile_path: str, limit: int) -> bytes:
        """The bytes of a C2SP tile or entry bundle (``tile/...``), at most ``limit``."""
        path = "/v1/log/" + tile_path
        response = self._call("GET", path)
        body = response.read(limit)
        response.close()
        if body is None:
            raise invalid_response(self.url, "GET", path, f"a tile of at most {limit:,} bytes")
        return body

    # -- writes (authenticated) ----------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        """The token's account, scopes and expiry (checks the token is valid)."""
        return self._document("GET", "/v1/whoami", WhoAmI, "an identity", auth=True)

    def publish(self, envelope_json: bytes, public_key_pem: str | None = None) -> PublishResult:
        """Publish a version from its DSSE envelope (the blobs must be uploaded first)."""
        try:
            envelope = msgspec.json.decode(envelope_json, type=dict)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise VerificationError("the bundle's envelope is not a JSON object") from exc
        content, headers = self._json(PublishRequest(envelope, public_key_pem))
        return self._document(
            "POST",
            "/v1/versions",
            PublishResult,
            "a publish result",
            auth=True,
            headers=headers,
            content=content,
        )

    def yank(self, name: str, version: str, reason: str) -> Version:
        """Yank a version (resolvers then skip it unless pinned exactly)."""
        path = f"/v1/cubes/{cube_path(name)}/versions/{quote(version, safe='')}/yank"
        content, headers = self._json(YankRequest(reason))
        return self._document(
            "POST", path, Version, "a version object", auth=True, headers=headers, content=content
        )

    def unyank(self, name: str, version: str) -> Version:
        """Undo a yank."""
        path = f"/v1/cubes/{cube_path(name)}/versions/{quote(version, safe='')}/unyank"
        return self._document("POST", path, Version, "a version object", auth=True, content=b"")

    def create_token(
        self, namespaces: list[str], actions: list[str], days: int = 90, description: str = ""
    ) -> TokenCreated:
        """A new token within the caller's scopes (its secret is shown this once)."""
        content, headers = self._json(TokenCreate(namespaces, actions, days, description))
        return self._document(
            "POST",
            "/v1/tokens",
            TokenCreated,
            "a created token",
            auth=True,
            headers=headers,
            content=content,
            retry_safe=False,  # sent twice, it would create two tokens
        )

    def list_tokens(self) -> list[TokenInfo]:
        """The account's tokens within the caller's scope, newest first (no secrets)."""
        return self._document("GET", "/v1/tokens", TokenList, "a token list", auth=True).tokens

    def revoke_token(self, token_id: int | None = None) -> None:
        """Revoke token ``token_id`` (an id from :meth:`list_tokens`), or the caller's own."""
        path = f"/v1/tokens/{'current' if token_id is None else token_id}"
        response = self._call("DELETE", path, auth=True)
        response.read(self.settings.max_error_bytes)
        response.close()

    def add_key(
        self, namespace: str, public_key_pem: str, endorsement: str | None = None
    ) -> KeyInfo:
        """Register a signing key for a namespace, optionally with its endorsement (MIP-1 §6.4)."""
        content, headers = self._json(KeyCreate(public_key_pem, endorsement))
        path = f"/v1/namespaces/{quote(namespace, safe='')}/keys"
        return self._document(
            "POST", path, KeyInfo, "a key", auth=True, headers=headers, content=content
        )

    def revoke_key(self, namespace: str, key_id: str, reason: str) -> KeyInfo:
        """Revoke one of a namespace's signing keys (MIP-1 §6.4)."""
        content, headers = self._json(KeyRevoke(reason))
        path = f"/v1/namespaces/{quote(namespace, safe='')}/keys/{quote(key_id, safe='')}/revoke"
        return self._document(
            "POST", path, KeyInfo, "a key", auth=True, headers=headers, content=content
        )


class BlobStream:
    """A blob download, read into the caller's buffer (:meth:`readinto`) until it returns 0.

    One reused buffer instead of a new ``bytes`` per chunk: allocating (and page-faulting) 1 MiB
    a hundred times cost ~8 ms of a 100 MB download. Never more than the blob's signed size is
    read, whatever the server sends.
    """

    def __init__(self, response: Response, remaining: int) -> None:
        self._response = response
        self._remaining = remaining

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` (less at the end); 0 once every byte came. A connection that breaks
        or closes early raises :class:`~memos_client.errors.NetworkError` (resume with Range)."""
        if self._remaining <= 0:
            return 0
        count = self._response.readinto(buffer[: self._remaining])
        self._remaining -= count
        return count


def cube_path(name: str) -> str:
    """``namespace/name`` as two escaped path segments; :class:`UsageError` for another shape."""
    namespace, _, cube = name.partition("/")
    if not namespace or not cube or "/" in cube:
        raise UsageError(f"invalid cube name {name!r}: expected 'namespace/name'")
    return f"{quote(namespace, safe='')}/{quote(cube, safe='')}"
