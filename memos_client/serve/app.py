"""The ``memos serve`` application: REST under ``/v1`` and MCP streamable HTTP at ``/mcp``.

Every request but ``GET /v1/health`` carries ``Authorization: Bearer TOKEN``; the token names
the principal the call acts as (:mod:`memos_client.serve.tokens`). Bodies are bounded
(:data:`MAX_BODY_BYTES`). Failures answer ``{"error": {"code", "message"}}`` with a stable code:
``unauthorized`` 401, ``access_denied`` / ``install_not_allowed`` 403, ``not_found`` /
``unknown_memory`` / ``unknown_cube`` 404, ``method_not_allowed`` 405, ``request_too_large``
413, ``invalid_request`` / ``usage`` 422 and ``internal`` 500 (the traceback goes to the server
log, never into the answer).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from memos_client.errors import MemosError
from memos_client.serve.rest import router
from memos_client.serve.tools import MemoryTools, http_status

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from memos_client.serve.tokens import TokenBook

logger = logging.getLogger("memos.serve")

#: The largest request body (REST and MCP): a memory text is at most 100k characters.
MAX_BODY_BYTES = 4 * 1024 * 1024
OPEN_PATHS = frozenset({"/v1/health"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_body(code: str, message: str) -> dict[str, Any]:
    """The registry's error body."""
    return {"error": {"code": code, "message": message}}


async def _answer(send: Send, status: int, code: str, message: str, **headers: str) -> None:
    response = JSONResponse(error_body(code, message), status_code=status, headers=headers)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a JSONResponse never reads
    return {"type": "http.disconnect"}


class Gate:
    """ASGI middleware: bearer token -> principal, and the body size bound."""

    def __init__(self, app: ASGIApp, tokens: TokenBook | None, default_principal: str) -> None:
        self.app = app
        self.tokens = tokens
        self.default_principal = default_principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] not in OPEN_PATHS:
            principal = self.principal(dict(scope["headers"]).get(b"authorization"))
            if principal is None:
                await _answer(
                    send,
                    401,
                    "unauthorized",
                    "a bearer token is required: send `Authorization: Bearer TOKEN` "
                    "(`memos serve token` prints it)",
                    **{"www-authenticate": "Bearer"},
                )
                return
            scope["memos.principal"] = principal
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await _answer(send, 413, "request_too_large", _too_large_message())
            return
        started = False
        refused = False
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen, refused, started
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                # Answer now and tell the application the client left: whatever it sends after
                # this is dropped (it never sees the rest of the body).
                refused = True
                if not started:
                    started = True
                    await _answer(send, 413, "request_too_large", _too_large_message())
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)

    def principal(self, header: bytes | None) -> str | None:
        """The principal of an ``Authorization`` header."""
        return resolve_principal(self.tokens, self.default_principal, header)


def resolve_principal(tokens: TokenBook | None, default: str, header: bytes | None) -> str | None:
    """The principal of an ``Authorization: Bearer`` header; ``default`` when tokens are off."""
    if tokens is None:
        return default
    if header is None:
        return None
    scheme, _, token = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return tokens.principal_for(token.strip())


def _too_large_message() -> str:
    return f"the request body is over {MAX_BODY_BYTES} bytes"


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "access_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    """Every failure as the error body with a stable code; no traceback in any answer."""

    @app.exception_handler(MemosError)
    async def memos_error(request: Request, exc: MemosError) -> JSONResponse:
        status = http_status(exc)
        if status >= 500:
            logger.error("request failed: %s", exc)
        return JSONResponse(error_body(exc.code, str(exc)), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body("invalid_request", _validation_message(exc)), status_code=422
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "invalid_request")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal", "internal error: see the server's log"), status_code=500
        )


def create_api() -> FastAPI:
    """The REST application alone (its OpenAPI document is ``schemas/memos-serve.openapi.json``)."""
    app = FastAPI(
        title="MemStore runtime API (memos serve)",
        version="1",
        description="The local MemOS runtime over HTTP: the MCP tools as REST endpoints.",
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(router)
    install_error_handlers(app)
    return app


def create_app(
    tools: MemoryTools,
    tokens: TokenBook | None,
    *,
    bind_host: str = "127.0.0.1",
    on_start: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> FastAPI:
    """REST + MCP over ``tools``; ``tokens=None`` only on loopback (every caller is the
    runtime's principal)."""
    from memos_client.serve.mcp_server import build_mcp_server

    default = tools.runtime.principal

    def principal_of(ctx: Context) -> str:
        header = (ctx.headers or {}).get("authorization")
        found = resolve_principal(
            tokens, default, header.encode("latin-1") if header is not None else None
        )
        # The gate already refused requests without a known token.
        return found if found is not None else default

    mcp = build_mcp_server(tools, principal_of)
    mcp_app = mcp.streamable_http_app(
        streamable_http_path="/mcp", max_request_body_size=MAX_BODY_BYTES, host=bind_host
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            on_start()
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            if on_stop is not None:
                on_stop()

    app = create_api()
    app.router.lifespan_context = lifespan
    app.state.tools = tools
    app.router.routes.extend(mcp_app.routes)
    app.add_middleware(Gate, tokens=tokens, default_principal=default)
    return app
