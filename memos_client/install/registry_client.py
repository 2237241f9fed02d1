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


class InstallClient(IndexClient):
    """Adds ``If-None-Match`` cube documents; maps 404 to :class:`NotFoundError` (exit 4)."""

    @classmethod
    def connect(cls, url: str, token: str | None = None) -> InstallClient:
        """A client for ``url``; the token defaults to MEMOS_TOKEN or `memos login`'s for ``url``."""
        if token is None:
            # A stored token belongs to the registry it was stored for, never to another one.
            token = load_index_settings(url).token
        return cls(url, token)

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
