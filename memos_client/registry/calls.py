"""The policy of a registry client and the one way it makes a call (spec/MIP-1-registry.md).

:class:`BaseClient` holds the policy, as httpx's ``Client`` and huggingface_hub's ``HfApi`` do;
the bytes go through one :class:`~memos_client.registry.transport.Transport`:

- the base URL, and the credential issued for its origin (:mod:`memos_client.registry.config`),
  sent only to calls that need one (``auth=True``: writes, ``whoami``, tokens) and never across
  a redirect to another origin;
- bounds on everything a registry sends (:class:`ClientSettings`): a size limit on every document,
  blobs bounded by their signed size, a deadline on every request (for transfers, scaled by a
  minimum rate), at most :attr:`ClientSettings.max_redirects` redirects and only to ``http(s)``;
- one place where a status and a body become an error (:mod:`memos_client.registry.answers`).

The endpoints are :class:`~memos_client.registry.client.RegistryClient`'s methods, built on
:meth:`BaseClient._call` and :meth:`BaseClient._document`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import msgspec

from memos_client.errors import InvalidResponseError
from memos_client.registry.answers import decode, error_for
from memos_client.registry.config import check_index_url, origin
from memos_client.registry.settings import ClientSettings

if TYPE_CHECKING:
    from memos_client.registry.transport import Response, Transport, UploadBody

USER_AGENT = "memos/0.1 (MemStore client; MIP 1)"
Document = TypeVar("Document")

_REDIRECTS = (301, 302, 303, 307, 308)


class BaseClient:
    """The policy and the one way a call is made; :class:`RegistryClient` adds the endpoints."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        settings: ClientSettings | None = None,
        transport: Transport | None = None,
    ) -> None:
        """``token`` is the credential issued for ``url``'s origin (:mod:`.config` decides)."""
        self.url = check_index_url(url)
        self.token = token
        self.settings = settings or ClientSettings.from_environment()
        self._origin = origin(self.url)
        if transport is None:
            from memos_client.registry.transport import HTTPTransport

            transport = HTTPTransport(
                connect_timeout=self.settings.connect_timeout,
                read_timeout=self.settings.read_timeout,
            )
        self._transport = transport

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the one way a call is made ------------------------------------------------------------

    def _deadline(self, transfer: int = 0) -> float:
        return (
            time.monotonic() + self.settings.deadline + transfer / self.settings.min_transfer_rate
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        auth: bool = False,
        headers: dict[str, str] | None = None,
        content: bytes | UploadBody | None = None,
        deadline: float | None = None,
        retry_safe: bool = True,
        expect: tuple[int, ...] = (),
    ) -> Response:
        """Send one call, following redirects of reads; an error answer (>= 400, or a status
        outside ``expect`` below 200 or at 300) raises its error. The body is the caller's."""
        from memos_client.registry.transport import Request

        url = self.url + path
        deadline = deadline or self._deadline()
        for _ in range(self.settings.max_redirects + 1):
            request_headers = {"user-agent": USER_AGENT, **(headers or {})}
            if auth and self.token and origin(url) == self._origin:
                request_headers["authorization"] = f"Bearer {self.token}"
            response = self._transport.handle(
                Request(method, url, request_headers, deadline, content, retry_safe)
            )
            status = response.status
            if status in _REDIRECTS and method in ("GET", "HEAD") and status not in expect:
                location = response.headers.get("location", "")
                response.close()
                url = self._redirect_target(method, path, url, location)
                continue
            if status >= 400 or (status not in expect and not 200 <= status < 300):
                body = None if method == "HEAD" else response.read(self.settings.max_error_bytes)
                response.close()
                raise error_for(status, body, url, self.url)
            return response
        raise InvalidResponseError(
            f"the registry at {self.url} redirected {method} {path} more than "
            f"{self.settings.max_redirects} times; check --index-url",
            code="invalid_response",
        )

    def _redirect_target(self, method: str, path: str, url: str, location: str) -> str:
        target = urljoin(url, location.strip())
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = target if len(target) <= 200 else target[:200] + "..."
            raise InvalidResponseError(
                f"the registry at {self.url} redirected {method} {path} to {shown!r}, which is "
                "not an http(s) URL; check --index-url",
                code="invalid_response",
            )
        return target

    def _document(
        self,
        method: str,
        path: str,
        kind: type[Document],
        what: str,
        *,
        response: Response | None = None,
        **options: object,
    ) -> Document:
        """Call (unless given the ``response``), then decode the answer as ``kind`` (``what``
        names it in errors)."""
        if response is None:
            response = self._call(method, path, **options)  # type: ignore[arg-type]
        limit = self.settings.max_document_bytes
        body = response.read(limit)
        response.close()
        return decode(
            body,
            kind,
            registry=self.url,
            method=method,
            path=path,
            what=what,
            limit=limit,
            status=response.status,
        )

    @staticmethod
    def _json(document: msgspec.Struct) -> tuple[bytes, dict[str, str]]:
        return msgspec.json.encode(document), {"content-type": "application/json"}
