"""HTTP client of the MemStore registry (spec/MIP-1-registry.md), shared by every command.

The client holds policy (base URL, token, timeouts, upload sizes); every request goes through
:meth:`IndexClient._send`, the one place where httpx's exceptions become
:class:`~memos_client.errors.NetworkError` and error responses become
:class:`~memos_client.errors.RegistryError` carrying the registry's stable ``code``.
It is thread-safe (one ``httpx.Client``). Installs download through
:mod:`memos_client.registry.install_client`, which needs no httpx (ADR 0007).
``memos publish`` to an ``http://`` registry uses :mod:`memos_client.registry.publish_client` instead, which
keeps the same contract for its three calls (ADR 0009).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx
import msgspec

from memos_client.errors import NetworkError, RegistryError, VerificationError
from memos_client.registry import documents as shapes
from memos_client.registry.api import (
    MONOLITHIC_LIMIT,
    USER_AGENT,
    ProgressCallback,
    PublishResult,
    UploadResult,
    registry_error,
)
from memos_client.registry.config import check_index_url
from memos_client.registry.documents import InvalidDocumentError, decode_json, invalid_response

__all__ = [
    "MONOLITHIC_LIMIT",
    "USER_AGENT",
    "CubeInfo",
    "IndexClient",
    "ProgressCallback",
    "PublishResult",
    "SearchResult",
    "UploadResult",
    "VersionInfo",
]

#: Chunk size of resumable uploads (the server may announce a smaller maximum).
UPLOAD_CHUNK = 32 << 20
#: Read size when streaming blobs.
STREAM_CHUNK = 1 << 20
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class VersionInfo(msgspec.Struct, frozen=True):
    """One version as the resolver sees it (spec §5)."""

    version: str
    manifest_digest: str
    dependencies: dict[str, str]
    yanked: bool
    yank_reason: str | None
    published_at: str
    size: int

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> VersionInfo:
        """Build from the API's version object (checked against ``registry_documents.VERSION``)."""
        return cls(
            version=document["version"],
            manifest_digest=document["manifest_digest"],
            dependencies=dict(document.get("dependencies") or {}),
            yanked=bool(document.get("yanked", False)),
            yank_reason=document.get("yank_reason"),
            published_at=str(document.get("published_at", "")),
            size=int(document.get("size", 0)),
        )


class CubeInfo(msgspec.Struct, frozen=True):
    """A cube and all its versions in SemVer order (``GET /v1/cubes/{ns}/{name}``)."""

    name: str
    normalized_name: str
    description: str
    keywords: tuple[str, ...]
    latest_version: str | None
    downloads: int
    versions: tuple[VersionInfo, ...]
    etag: str | None = None

    def get(self, version: str) -> VersionInfo | None:
        """The entry for ``version`` (build metadata ignored), if published."""
        key = version.partition("+")[0]
        return next((v for v in self.versions if v.version.partition("+")[0] == key), None)


class SearchResult(msgspec.Struct, frozen=True):
    """One search hit."""

    name: str
    description: str
    keywords: tuple[str, ...]
    latest_version: str | None
    downloads: int
    updated_at: str


class IndexClient:
    """A client of one registry. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        index_url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.index_url = check_index_url(index_url)
        self.token = token
        headers = {"user-agent": USER_AGENT}
        if token:
            headers["authorization"] = f"Bearer {token}"
        # httpx drops Authorization when a redirect leaves the origin, so presigned blob URLs
        # never see the token.
        self._http = httpx.Client(
            base_url=self.index_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport: the one boundary ------------------------------------------------------------

    def _send(
        self, request: httpx.Request, *, stream: bool = False, follow: bool = False
    ) -> httpx.Response:
        try:
            response = self._http.send(request, stream=stream, follow_redirects=follow)
        except httpx.HTTPError as exc:
            raise NetworkError(
                f"cannot reach the registry at {self.index_url}: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            raise _registry_error(response)
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._send(self._http.build_request(method, path, **kwargs))

    def _json(
        self, method: str, path: str, shape: shapes.Shape = shapes.OBJECT, **kwargs: Any
    ) -> dict[str, Any]:
        """The answer's JSON document, checked against ``shape`` (else ``invalid_response``)."""
        return self._document(method, path, self._request(method, path, **kwargs), shape)

    def _document(
        self, method: str, path: str, response: httpx.Response, shape: shapes.Shape
    ) -> dict[str, Any]:
        try:
            document = decode_json(response.content)
        except ValueError as exc:
            raise invalid_response(
                self.index_url, method, path, "JSON", response.status_code
            ) from exc
        try:
            return shapes.checked(document, shape)
        except InvalidDocumentError as exc:
            raise invalid_response(
                self.index_url, method, path, exc.what, response.status_code
            ) from None

    # -- reads ----------------------------------------------------------------------------------

    def cube(self, name: str) -> CubeInfo:
        """A cube and all its versions (``name`` is ``namespace/name``)."""
        path = f"/v1/cubes/{_cube_path(name)}"
        response = self._request("GET", path)
        document = self._document("GET", path, response, shapes.CUBE)
        return CubeInfo(
            name=document["name"],
            normalized_name=document.get("normalized_name") or document["name"],
            description=document.get("description") or "",
            keywords=tuple(document.get("keywords", [])),
            latest_version=document.get("latest_version"),
            downloads=int(document.get("downloads", 0)),
            versions=tuple(VersionInfo.from_json(v) for v in document["versions"]),
            etag=response.headers.get("etag"),
        )

    def version(self, name: str, version: str) -> dict[str, Any]:
        """One version's details (version object, parts, downloads)."""
        return self._json(
            "GET",
            f"/v1/cubes/{_cube_path(name)}/versions/{quote(version, safe='')}",
            shapes.VERSION_DETAIL,
        )

    def resolve(self, name: str, spec: str = "", prereleases: bool | None = None) -> VersionInfo:
        """The registry's pick for ``spec`` (yanked versions only for exact pins)."""
        params: dict[str, str] = {"spec": spec}
        if prereleases is not None:
            params["prereleases"] = "true" if prereleases else "false"
        return VersionInfo.from_json(
            self._json(
                "GET", f"/v1/cubes/{_cube_path(name)}/resolve", shapes.VERSION, params=params
            )
        )

    def envelope(self, name: str, version: str) -> bytes:
        """The DSSE envelope of a version, exactly as stored (verify it before trusting it)."""
        path = f"/v1/cubes/{_cube_path(name)}/versions/{quote(version, safe='')}/envelope"
        return self._request("GET", path).content

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or ``None`` when the registry lacks it."""
        try:
            response = self._request("HEAD", f"/v1/blobs/{digest}")
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        return int(response.headers.get("content-length", "0"))

    def search(
        self, query: str, limit: int = 20, offset: int = 0
    ) -> tuple[int, list[SearchResult]]:
        """``(total, results)`` of a full-text search."""
        document = self._json(
            "GET",
            "/v1/search",
            shapes.SEARCH,
            params={"q": query, "limit": limit, "offset": offset},
        )
        results = [
            SearchResult(
                name=hit["name"],
                description=hit.get("description") or "",
                keywords=tuple(hit.get("keywords", [])),
                latest_version=hit.get("latest_version"),
                downloads=int(hit.get("downloads", 0)),
                updated_at=str(hit.get("updated_at", "")),
            )
            for hit in document["results"]
        ]
        return document["total"], results

    def keys(self, namespace: str) -> list[dict[str, Any]]:
        """Signing keys registered for a namespace."""
        path = f"/v1/namespaces/{quote(namespace, safe='')}/keys"
        return list(self._json("GET", path, shapes.KEY_LIST)["keys"])

    # -- writes ---------------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The token's account, scopes and expiry (checks the token is valid)."""
        return self._json("GET", "/v1/whoami", shapes.WHOAMI)

    def upload_blob(
        self,
        digest: str,
        size: int,
        source: Path | Callable[[], BinaryIO],  # an opener: a fresh stream at offset 0
        progress: ProgressCallback | None = None,
    ) -> UploadResult:
        """Upload blob ``digest`` of ``size`` bytes read from ``source`` (a file, or an opener).

        One streamed PUT when small; a resumable session when large or when the registry refuses
        the PUT as too large. The registry verifies the digest; nothing is visible before it has.
        """
        opener = _opener(source)
        if size <= MONOLITHIC_LIMIT:
            try:
                stream = opener()
                try:
                    document = self._json(
                        "PUT",
                        f"/v1/blobs/{digest}",
                        shapes.UPLOAD_RESULT,
                        content=_read_chunks(stream, size, progress),
                        headers={
                            "content-type": "application/octet-stream",
                            "content-length": str(size),
                        },
                    )
                finally:
                    _close(stream)
                return UploadResult(
                    document["digest"], int(document["size"]), bool(document["created"])
                )
            except RegistryError as exc:
                if exc.code != "blob_too_large":
                    raise
        return self.upload_in_session(digest, size, opener, progress)

    def upload_in_session(
        self,
        digest: str,
        size: int,
        source: Path | Callable[[], BinaryIO],
        progress: ProgressCallback | None = None,
    ) -> UploadResult:
        """Upload blob ``digest`` through a resumable session (spec §3), chunk by chunk."""
        opener = _opener(source)
        session = self._json(
            "POST", "/v1/uploads", shapes.UPLOAD_SESSION, json={"digest": digest, "size": size}
        )
        if session.get("exists"):
            return UploadResult(digest, size, created=False)
        if not session.get("upload_id") or "offset" not in session:
            raise invalid_response(
                self.index_url, "POST", "/v1/uploads", shapes.UPLOAD_SESSION.what
            )
        upload_path = f"/v1/uploads/{quote(session['upload_id'], safe='')}"
        chunk_size = min(UPLOAD_CHUNK, int(session.get("chunk_size_max") or UPLOAD_CHUNK))
        offset = int(session["offset"])
        stream = opener()
        position = 0
        try:
            while offset < size:
                if position > offset:  # the server is behind us: start reading again
                    _close(stream)
                    stream, position = opener(), 0
                while position < offset:  # skip what the server already has
                    position += len(stream.read(min(STREAM_CHUNK, offset - position)))
                chunk = stream.read(min(chunk_size, size - offset))
                position += len(chunk)
                if not chunk:
                    raise VerificationError(f"the source of {digest} ended before {size} bytes")
                try:
                    answer = self._json(
                        "PATCH",
                        upload_path,
                        _OFFSET,
                        content=chunk,
                        headers={
                            "upload-offset": str(offset),
                            "content-type": "application/octet-stream",
                        },
                    )
                except RegistryError as exc:
                    if exc.code != "upload_offset_mismatch":
                        raise
                    # resume where the server is
                    answer = self._json("GET", upload_path, _OFFSET)
                offset = answer["offset"]
                if progress is not None:
                    progress(len(chunk))
        finally:
            _close(stream)
        document = self._json("PUT", upload_path, shapes.UPLOAD_RESULT)
        return UploadResult(document["digest"], document["size"], document["created"])

    def publish(self, envelope_json: bytes, public_key_pem: str | None = None) -> PublishResult:
        """Publish a version from its DSSE envelope (the blobs must be uploaded first)."""
        try:
            envelope = json.loads(envelope_json)
        except ValueError as exc:
            raise VerificationError("the bundle's envelope is not JSON") from exc
        document = self._json(
            "POST",
            "/v1/versions",
            shapes.PUBLISH_RESULT,
            json={"envelope": envelope, "public_key_pem": public_key_pem},
        )
        return PublishResult(
            document["name"], document["version"], document["manifest_digest"], document["created"]
        )

    def yank(self, name: str, version: str, reason: str) -> VersionInfo:
        """Yank a version (resolvers then skip it unless pinned exactly)."""
        path = f"/v1/cubes/{_cube_path(name)}/versions/{quote(version, safe='')}/yank"
        return VersionInfo.from_json(
            self._json("POST", path, shapes.VERSION, json={"reason": reason})
        )

    def unyank(self, name: str, version: str) -> VersionInfo:
        """Undo a yank."""
        path = f"/v1/cubes/{_cube_path(name)}/versions/{quote(version, safe='')}/unyank"
        return VersionInfo.from_json(self._json("POST", path, shapes.VERSION))

    def create_token(
        self, namespaces: list[str], actions: list[str], days: int = 90, description: str = ""
    ) -> dict[str, Any]:
        """A new token within the caller's scopes: ``{"token", "namespaces", "actions",
        "expires_at"}`` (the secret is shown this once)."""
        return self._json(
            "POST",
            "/v1/tokens",
            shapes.TOKEN_CREATED,
            json={
                "namespaces": namespaces,
                "actions": actions,
                "expires_in_days": days,
                "description": description,
            },
        )

    def list_tokens(self) -> list[dict[str, Any]]:
        """The account's tokens within the caller's scope, newest first (no secrets)."""
        return list(self._json("GET", "/v1/tokens", shapes.TOKEN_LIST)["tokens"])

    def revoke_token(self, token_id: int | None = None) -> None:
        """Revoke token ``token_id`` (an id from :meth:`list_tokens`), or the caller's own."""
        self._request("DELETE", f"/v1/tokens/{'current' if token_id is None else token_id}")

    def add_key(self, namespace: str, public_key_pem: str) -> dict[str, Any]:
        """Register a signing key for a namespace."""
        return self._json(
            "POST",
            f"/v1/namespaces/{quote(namespace, safe='')}/keys",
            json={"public_key_pem": public_key_pem},
        )


#: What a chunk's ``PATCH`` (and a session's ``GET``) answers: where the upload stands.
_OFFSET = shapes.Shape("an upload session (with offset)", {"offset": int})


def _cube_path(name: str) -> str:
    namespace, _, cube = name.partition("/")
    if not namespace or not cube or "/" in cube:
        from memos_client.errors import UsageError

        raise UsageError(f"invalid cube name {name!r}: expected 'namespace/name'")
    return f"{quote(namespace, safe='')}/{quote(cube, safe='')}"


def _registry_error(response: httpx.Response) -> RegistryError:
    """The error a response describes (``{"error": {"code", "message"}}``, spec §1)."""
    return registry_error(response.status_code, response.content, str(response.request.url))


def _opener(source: Path | Callable[[], BinaryIO]) -> Callable[[], BinaryIO]:
    if isinstance(source, Path):
        return lambda: open(source, "rb")
    return source


def _close(stream: BinaryIO) -> None:
    close = getattr(stream, "close", None)  # a bundle's blob reader has nothing to close
    if close is not None:
        close()


def _read_chunks(stream: BinaryIO, size: int, progress: ProgressCallback | None) -> Iterator[bytes]:
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(STREAM_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        if progress is not None:
            progress(len(chunk))
        yield chunk
