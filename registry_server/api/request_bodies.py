"""The guard in front of every request body: who may send one, how much, and how slowly.

FastAPI reads a JSON body whole (and parses it) before it runs a route's dependencies, so without
this guard anyone could make the server receive and decode a body before being told that their
token is missing, and a client dripping a body a byte at a time held a connection, and whatever
the route had opened, forever. :class:`RequestBodyGuard` sits ahead of the application and, for
every request that carries a body:

- **authenticates first** when the route takes a token: a missing, unknown or expired token is
  refused (401) before one byte of the body is read, and the principal found is handed to the
  route (:data:`PRINCIPAL_SCOPE_KEY`), so authentication still costs one lookup;
- **caps the bodies of requests nobody authenticated** (routes without a token, unknown paths) at
  ``max_unauthenticated_bodies`` at a time (503 ``server_busy`` beyond);
- **bounds the size** of every body but blob uploads (which stream and have their own limits):
  413 ``request_too_large``, by ``Content-Length`` up front or by counting as the body arrives;
- **bounds the time**: after a grace period the body must keep up a minimum average rate, and no
  pause between two pieces may last longer than the idle limit; a body that falls behind is
  answered 408 ``request_timeout``.

Every refusal closes the connection (``Connection: close``), so the rest of a refused body is
never read, and so does every answer given before the body was read to its end.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_server.db.session import read_session
from registry_server.errors import RegistryError, error_document
from registry_server.services.auth import Principal, authenticate

#: Where the guard leaves the principal it authenticated, for the route's dependency.
PRINCIPAL_SCOPE_KEY = "memstore.principal"
#: Blob uploads stream into storage and are bounded by their own limits, not the JSON one.
_STREAMED = re.compile(r"/v1/(blobs|uploads)/[^/]+")
#: How often a body's progress is checked against the rate and idle limits.
WATCH_INTERVAL_SECONDS = 0.25


@dataclass(frozen=True)
class BodyLimits:
    """The guard's settings (``Settings.body_*``, ``max_request_body_bytes``)."""

    max_bytes: int
    min_rate: int
    grace_seconds: float
    idle_seconds: float
    max_unauthenticated: int


def _has_body(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _needs_token(route: BaseRoute, marker: Callable[..., Any]) -> bool:
    """Whether the route's dependencies include ``marker`` (the authenticated principal)."""
    if not isinstance(route, APIRoute):
        return False
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is marker:
            return True
        pending.extend(dependant.dependencies)
    return False


async def answer(send: Send, status: int, code: str, message: str, *, close: bool) -> None:
    """Send the registry's JSON error body (``Connection: close`` when the body is left unread)."""
    body = json.dumps(error_document(code, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _BodyWatch:
    """Receives one request's body for the app, within the size, rate and idle limits."""

    def __init__(self, receive: Receive, limits: BodyLimits, size_limit: int | None) -> None:
        self._receive = receive
        self._limits = limits
        self._size_limit = size_limit
        self._loop = asyncio.get_running_loop()
        self._started = self._last = self._loop.time()
        self._received = 0
        self._waiting: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False
        #: True once the last piece of the body arrived (or the client went away).
        self.complete = False
        #: ``(status, code, message)`` of the refusal that replaces the app's answer.
        self.failure: tuple[int, str, str] | None = None

    def _deadline(self) -> float:
        limits = self._limits
        behind = self._started + limits.grace_seconds + self._received / limits.min_rate
        return min(behind, self._last + limits.idle_seconds)

    def _check(self) -> None:
        self._timer = None
        if self._waiting is None:
            return
        if self._loop.time() > self._deadline():
            self._timed_out = True
            self._waiting.cancel()
            return
        self._timer = self._loop.call_later(WATCH_INTERVAL_SECONDS, self._check)

    def stop(self) -> None:
        """Stop watching (the request is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def receive(self) -> Message:
        """The app's ``receive``: the next piece of the body, or a disconnect when refused."""
        if self.failure is not None:
            return {"type": "http.disconnect"}
        task = asyncio.current_task()
        self._waiting = task
        if self._timer is None:
            self._timer = self._loop.call_later(WATCH_INTERVAL_SECONDS, self._check)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if not self._timed_out or task is None or task.uncancel() > 0:
                raise
            self._timed_out = False
            limits = self._limits
            self.failure = (
                408,
                "request_timeout",
                f"the request body arrived too slowly ({self._received} bytes so far): send at "
                f"least {limits.min_rate} bytes/s after the first {limits.grace_seconds:g} s, "
                f"with no pause over {limits.idle_seconds:g} s",
            )
            return {"type": "http.disconnect"}
        finally:
            self._waiting = None
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._last = self._loop.time()
            if not message.get("more_body", False):
                self.complete = True
                self.stop()
            if self._size_limit is not None and self._received > self._size_limit:
                self.failure = (
                    413,
                    "request_too_large",
                    f"request body is over the {self._size_limit}-byte limit "
                    "(blobs go to PUT /v1/blobs/{digest})",
                )
                # End the body here; the app's answer to the cut body is replaced.
                return {"type": "http.request", "body": b"", "more_body": False}
        elif message["type"] == "http.disconnect":
            self.complete = True
            self.stop()
        return message


class RequestBodyGuard:
    """Authenticates before bodies, caps unauthenticated ones, bounds their size and time."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: BodyLimits,
        engine: Callable[[], Any],
        routes: Sequence[BaseRoute],
        token_dependency: Callable[..., Any],
    ) -> None:
        self.app = app
        self.limits = limits
        self._engine = engine
        self._routes = routes
        self._token_dependency = token_dependency
        self._needs_token: dict[int, bool] = {}
        self._unauthenticated = 0

    def _route_needs_token(self, scope: Scope) -> bool:
        for route in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                key = id(route)
                if key not in self._needs_token:
                    self._needs_token[key] = _needs_token(route, self._token_dependency)
                return self._needs_token[key]
        return False

    def _authenticate(self, authorization: str | None) -> Principal:
        with read_session(self._engine()) as session:
            return authenticate(session, authorization)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        size_limit = None if _STREAMED.fullmatch(scope["path"]) else self.limits.max_bytes
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if (
            size_limit is not None
            and declared is not None
            and declared.strip().isdigit()
            and int(declared) > size_limit
        ):
            await answer(
                send,
                413,
                "request_too_large",
                f"request body is over the {size_limit}-byte limit "
                "(blobs go to PUT /v1/blobs/{digest})",
                close=True,
            )
            return
        if self._route_needs_token(scope):
            authorization = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
            )
            try:
                principal = await run_in_threadpool(self._authenticate, authorization)
            except RegistryError as exc:
                await answer(send, exc.status, exc.code, exc.message, close=True)
                return
            scope[PRINCIPAL_SCOPE_KEY] = principal
            await self._watched(scope, receive, send, size_limit)
            return
        if self._unauthenticated >= self.limits.max_unauthenticated:
            await answer(
                send,
                503,
                "server_busy",
                "too many requests without a token are sending bodies: retry shortly",
                close=True,
            )
            return
        self._unauthenticated += 1
        try:
            await self._watched(scope, receive, send, size_limit)
        finally:
            self._unauthenticated -= 1

    async def _watched(
        self, scope: Scope, receive: Receive, send: Send, size_limit: int | None
    ) -> None:
        watch = _BodyWatch(receive, self.limits, size_limit)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if watch.failure is not None and not started:
                return  # the app's answer to a refused body is replaced below
            if message["type"] == "http.response.start" and not watch.complete:
                # Answered before the body ended: close, so its rest is never read.
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"connection", b"close")],
                }
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, watch.receive, guarded_send)
        except Exception:
            # An app that lets the cut-off body's disconnect escape (Starlette raises
            # ClientDisconnect): the refusal below is the answer. Anything else is the app's.
            if watch.failure is None or started:
                raise
        finally:
            watch.stop()
        if watch.failure is not None and not started:
            status, code, text = watch.failure
            await answer(send, status, code, text, close=True)
