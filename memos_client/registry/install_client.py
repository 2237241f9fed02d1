"""The registry as installs talk to it: cube documents, envelopes, namespace keys, blob streams.

Four kinds of GET, spoken through the standard library's ``urllib.request`` (docs/adr/0007):
importing httpx costs 60-180 ms on our machines -- its package imports its own command-line
client, which pulls in click, rich and pygments whenever they are installed -- a third of a cold
install of a 100 MB cube, for requests that need none of it. The policy is the registry client's
(:class:`memos_client.registry.index_client.IndexClient`), in one place here:

- the token goes to the registry's origin only: redirects to storage on another origin (S3
  presigned URLs) are followed without ``Authorization``;
- error bodies ``{"error": {"code", "message"}}`` (spec §1) become :class:`RegistryError` with
  the registry's stable code, 404 :class:`NotFoundError` (exit 4);
- socket, TLS and protocol failures become :class:`NetworkError`, raised from :meth:`_open` and
  the body reader only;
- ``HTTP(S)_PROXY`` / ``NO_PROXY`` are honoured; HTTPS verifies certificates against certifi's
  bundle (as httpx does), loaded on the first HTTPS request only.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

from memos_client.errors import NetworkError, NotFoundError, RegistryError, UsageError
from memos_client.registry import documents as shapes
from memos_client.registry.api import registry_error
from memos_client.registry.config import check_index_url, load_index_settings
from memos_client.registry.documents import InvalidDocumentError, decode_json, invalid_response

#: Seconds without progress before a request fails (connect, or between reads).
TIMEOUT = 60.0
#: The same as ``memos_client.registry.index_client.USER_AGENT`` (not imported from there: httpx).
USER_AGENT = "memos/0.1 (MemStore client; MIP 1)"


def _cube_path(name: str) -> str:
    namespace, _, cube = name.partition("/")
    if not namespace or not cube or "/" in cube:
        raise UsageError(f"invalid cube name {name!r}: expected 'namespace/name'")
    return f"{quote(namespace, safe='')}/{quote(cube, safe='')}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), parts.port or default


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects; ``Authorization`` (an unredirected header) goes along only while the
    redirect stays on the origin of the request it answers."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        token = req.unredirected_hdrs.get("Authorization")
        if new is not None and token and _origin(new.full_url) == _origin(req.full_url):
            new.add_unredirected_header("Authorization", token)
        return new


class _VerifiedTLS(urllib.request.HTTPSHandler):
    """HTTPS with one certificate-verifying context, built on the first HTTPS request."""

    def __init__(self) -> None:
        super().__init__()
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        with self._lock:
            if self._context is None:
                import certifi

                self._context = ssl.create_default_context(cafile=certifi.where())
        return self.do_open(http.client.HTTPSConnection, req, context=self._context)


def _opener() -> urllib.request.OpenerDirector:
    # Only HTTP(S): no file://, ftp:// or data: handlers, so a redirect cannot leave the web.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        _VerifiedTLS(),
        _SameOriginRedirects(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class _NotModifiedError(Exception):
    """A conditional request was answered 304: the cached copy is current."""


class InstallClient:
    """A registry for the install commands. Thread-safe (blobs download in parallel threads)."""

    def __init__(self, index_url: str, token: str | None = None) -> None:
        self.index_url = check_index_url(index_url)
        self.token = token
        self._opener = _opener()

    @classmethod
    def connect(cls, url: str, token: str | None = None) -> InstallClient:
        """A client for ``url``; the token defaults to MEMOS_TOKEN or `memos login`'s for ``url``."""
        if token is None:
            # A stored token belongs to the registry it was stored for, never to another one.
            token = load_index_settings(url).token
        return cls(url, token)

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""

    # -- transport: the one boundary ------------------------------------------------------------

    def _open(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """GET ``path``: the response (below 400), else the error it describes; a conditional
        request's 304 Not Modified raises :class:`_NotModifiedError`."""
        try:
            # The opener has HTTP and HTTPS handlers only: no file: or custom schemes.
            request = urllib.request.Request(self.index_url + path, headers=headers or {})  # noqa: S310
            request.add_header("User-Agent", USER_AGENT)
            if self.token:
                request.add_unredirected_header("Authorization", f"Bearer {self.token}")
            response: http.client.HTTPResponse = self._opener.open(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 304 and request.has_header("If-none-match"):
                    raise _NotModifiedError from exc
                try:
                    body = exc.read()
                except (OSError, http.client.HTTPException):
                    body = b""  # the status alone still says what went wrong
                raise self._error(exc.code, body, request.full_url) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # URLError (an OSError) wraps refused connections, DNS and TLS failures; ValueError is
            # a URL urllib cannot parse.
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise NetworkError(
                f"cannot reach the registry at {self.index_url}: {reason or type(exc).__name__}; "
                "check --index-url, or install cached cubes with --offline"
            ) from exc
        return response

    def _error(self, status: int, body: bytes, url: str) -> RegistryError | NotFoundError:
        error = registry_error(status, body, url)
        if status == 404:
            return NotFoundError(f"{error} ({self.index_url})", code=error.code)
        return error

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        with response:
            try:
                return response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise NetworkError(
                    f"the registry at {self.index_url} broke off a response: {exc}"
                ) from exc

    def get_json(self, path: str, shape: shapes.Shape = shapes.OBJECT) -> dict[str, Any]:
        """A JSON document (``path`` starts with ``/v1``) of ``shape``."""
        body = self._body(self._open(path, {"Accept": "application/json"}))
        return self._decode(path, body, shape)

    def _decode(self, path: str, body: bytes, shape: shapes.Shape) -> dict[str, Any]:
        """The document ``body`` holds; ``invalid_response`` unless it is JSON of ``shape``."""
        try:
            document = decode_json(body)
        except ValueError as exc:
            raise invalid_response(self.index_url, "GET", path, "JSON") from exc
        try:
            return shapes.checked(document, shape)
        except InvalidDocumentError as exc:
            raise invalid_response(self.index_url, "GET", path, exc.what) from None

    # -- what installs ask for ------------------------------------------------------------------

    def cube_document(
        self, name: str, etag: str | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The cube document (of the shape ``registry_documents.CUBE``) and its ETag;
        ``(None, etag)`` when unchanged (304)."""
        path = f"/v1/cubes/{_cube_path(name)}"
        try:
            response = self._open(path, {"If-None-Match": etag} if etag else {})
        except _NotModifiedError:
            return None, etag
        new_etag = response.headers.get("etag")
        return self._decode(path, self._body(response), shapes.CUBE), new_etag

    def envelope(self, name: str, version: str) -> bytes:
        """The DSSE envelope of a version, exactly as stored (verify it before trusting it)."""
        path = f"/v1/cubes/{_cube_path(name)}/versions/{quote(version, safe='')}/envelope"
        return self._body(self._open(path))

    def keys(self, namespace: str) -> list[dict[str, Any]]:
        """Signing keys registered for a namespace."""
        path = f"/v1/namespaces/{quote(namespace, safe='')}/keys"
        return list(self.get_json(path, shapes.KEY_LIST)["keys"])

    @contextmanager
    def stream_blob(self, digest: str, offset: int = 0) -> Iterator[BlobStream]:
        """The blob's bytes from ``offset`` on (redirects to storage are followed)."""
        response = self._open(
            f"/v1/blobs/{digest}", {"Range": f"bytes={offset}-"} if offset else {}
        )
        with response:
            if offset and response.status != 206:
                raise RegistryError(
                    f"the registry ignored a range request for {digest}",
                    code="range_ignored",
                    status=response.status,
                )
            yield BlobStream(response, self.index_url)


class BlobStream:
    """A blob download, read into the caller's buffer (:meth:`readinto`) until it returns 0.

    One reused buffer instead of a new ``bytes`` per chunk: allocating (and page-faulting) 1 MiB
    a hundred times cost ~8 ms of a 100 MB download. Each call waits until the buffer is full
    (or the blob ends), so progress and cancellation move a buffer at a time: 1 MiB, where 256
    KiB took 12 ms more CPU per 100 MB.
    """

    def __init__(self, response: http.client.HTTPResponse, index_url: str) -> None:
        self._response = response
        self._index_url = index_url

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` (less at the end); 0 once every byte came. A connection that breaks
        or closes early raises :class:`NetworkError` (the caller resumes with Range)."""
        try:
            count = self._response.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            raise NetworkError(
                f"download from {self._index_url} broke off: {exc}; retry to resume"
            ) from exc
        if not count and self._response.length:  # http.client counts down Content-Length
            raise NetworkError(
                f"download from {self._index_url} broke off: the connection closed "
                f"{self._response.length} bytes early; retry to resume"
            )
        return count
