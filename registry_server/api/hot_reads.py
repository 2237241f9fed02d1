"""The resolver's two hot reads served straight from ASGI, ahead of FastAPI's routing.

``GET /v1/cubes/{ns}/{name}`` and ``GET .../versions/{v}/envelope`` are what every install does,
many times. FastAPI's per-request machinery (routing, dependency injection, a thread-pool hop for
sync endpoints) costs several times the work itself, which is one indexed read of bytes stored
ready to send. This middleware answers those two paths directly with the same service calls and
the same error shape; the FastAPI routes stay as the documented (OpenAPI) form of the same API
and answer every other method and path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from types import SimpleNamespace

from starlette.types import ASGIApp, Receive, Scope, Send

from mip.errors import MIPError
from registry_server.api.deps import AppState
from registry_server.errors import RegistryError, error_document
from registry_server.services import resolve

_CUBE_RE = re.compile(r"/v1/cubes/([^/]+)/([^/]+)")
_ENVELOPE_RE = re.compile(r"/v1/cubes/([^/]+)/([^/]+)/versions/([^/]+)/envelope")
ENVELOPE_MEDIA_TYPE = b"application/vnd.dsse.envelope.v1+json"
# Route templates for the metrics middleware, which labels requests by ``scope["route"].path``.
_CUBE_ROUTE = SimpleNamespace(path="/v1/cubes/{namespace}/{name}")
_ENVELOPE_ROUTE = SimpleNamespace(path="/v1/cubes/{namespace}/{name}/versions/{version}/envelope")


def _error_body(exc: RegistryError | MIPError) -> tuple[int, bytes]:
    status = exc.status if isinstance(exc, RegistryError) else 400
    message = exc.message if isinstance(exc, RegistryError) else str(exc)
    return status, json.dumps(error_document(exc.code, message)).encode()


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def cube_response(state: AppState, namespace: str, name: str, if_none_match: str | None) -> Answer:
    """Status, headers and body of ``GET /v1/cubes/{ns}/{name}``."""
    return _cube_answer(resolve.index_document(state.reader, namespace, name), if_none_match)


def _cube_answer(found: tuple[bytes, str], if_none_match: str | None) -> Answer:
    document, etag = found
    headers = [(b"etag", etag.encode())]
    if if_none_match == etag:
        return 304, headers, b""
    return 200, [(b"content-type", b"application/json"), *headers], document


def envelope_response(state: AppState, namespace: str, name: str, version: str) -> Answer:
    """Status, headers and body of ``GET .../versions/{v}/envelope`` (counts a download)."""
    return _envelope_answer(state, resolve.envelope(state.reader, namespace, name, version))


def _envelope_answer(state: AppState, found: tuple[int, int, bytes, str]) -> Answer:
    version_id, cube_id, envelope, digest = found
    state.downloads.add(version_id, cube_id)
    headers = [
        (b"content-type", ENVELOPE_MEDIA_TYPE),
        (b"memstore-manifest-digest", digest.encode()),
        (b"cache-control", b"public, max-age=300"),
    ]
    return 200, headers, envelope


class HotReadMiddleware:
    """Answers the two hot GET paths directly; passes everything else on."""

    def __init__(self, app: ASGIApp, state: Callable[[], AppState]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        envelope_match = _ENVELOPE_RE.fullmatch(path)
        cube_match = None if envelope_match else _CUBE_RE.fullmatch(path)
        if envelope_match is None and cube_match is None:
            await self.app(scope, receive, send)
            return
        state = self.state()
        try:
            if envelope_match is not None:
                scope["route"] = _ENVELOPE_ROUTE
                # The server already percent-decoded scope['path'].
                namespace, name, version = envelope_match.groups()
                found = await resolve.envelope_async(state.reader, namespace, name, version)
                status, headers, body = _envelope_answer(state, found)
            else:
                assert cube_match is not None
                scope["route"] = _CUBE_ROUTE
                namespace, name = cube_match.groups()
                if_none_match = next(
                    (v.decode("latin-1") for k, v in scope["headers"] if k == b"if-none-match"),
                    None,
                )
                document = await resolve.index_document_async(state.reader, namespace, name)
                status, headers, body = _cube_answer(document, if_none_match)
        except (RegistryError, MIPError) as exc:
            status, body = _error_body(exc)
            headers = [(b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
