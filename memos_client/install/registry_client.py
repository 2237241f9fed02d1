"""The registry client as installs use it: :class:`IndexClient` plus conditional cube documents.

Imported only when a command really needs the network (httpx takes ~100 ms to import; a warm
install never does).
"""

from __future__ import annotations

from typing import Any

import httpx

from memos_client.errors import NetworkError, NotFoundError, RegistryError
from memos_client.index_client import IndexClient, _cube_path
from memos_client.index_config import load_index_settings


class SchemeTransport(httpx.BaseTransport):
    """``http://`` over the standard library; a certificate-verifying httpx transport built on
    the first ``https://`` request.

    httpx's default transport imports httpcore and ssl and loads the CA bundle when the client is
    created, which costs up to half a second on our machines; a loopback registry never needs
    it, and a registry that redirects to an HTTPS storage URL gets a fully verifying transport
    the moment it does.
    """

    def __init__(self) -> None:
        from memos_client.install.stdlib_transport import StdlibTransport

        self._plain = StdlibTransport()
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over the transport matching its scheme."""
        if request.url.scheme == "http":
            return self._plain.handle_request(request)
        if self._tls is None:
            self._tls = httpx.HTTPTransport()
        return self._tls.handle_request(request)

    def close(self) -> None:
        """Close both transports' connections."""
        self._plain.close()
        if self._tls is not None:
            self._tls.close()


class InstallClient(IndexClient):
    """Adds ``If-None-Match`` cube documents; maps 404 to :class:`NotFoundError` (exit 4)."""

    @classmethod
    def connect(cls, url: str, token: str | None = None) -> InstallClient:
        """A client for ``url``; the token defaults to MEMOS_TOKEN or `memos login`'s for ``url``."""
        if token is None:
            # A stored token belongs to the registry it was stored for, never to another one.
            token = load_index_settings(url).token
        return cls(url, token, transport=SchemeTransport())

    def _send(
        self, request: httpx.Request, *, stream: bool = False, follow: bool = False
    ) -> httpx.Response:
        try:
            return super()._send(request, stream=stream, follow=follow)
        except RegistryError as exc:
            if exc.status == 404:
                raise NotFoundError(f"{exc} ({self.index_url})", code=exc.code) from exc
            raise
        except NetworkError as exc:
            raise NetworkError(
                f"{exc}; check --index-url, or install cached cubes with --offline"
            ) from exc

    def cube_document(
        self, name: str, etag: str | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The raw cube document and its ETag; ``(None, etag)`` when unchanged (304)."""
        headers = {"if-none-match": etag} if etag else {}
        response = self._request("GET", f"/v1/cubes/{_cube_path(name)}", headers=headers)
        if response.status_code == 304:
            return None, etag
        document: dict[str, Any] = response.json()
        return document, response.headers.get("etag")
