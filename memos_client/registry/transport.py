"""The one way bytes go to and from a registry: :class:`Transport`, implemented by
:class:`HTTPTransport` over the standard library's ``http.client``.

A transport sends one request and hands back one response; it holds no policy (which URL, which
credential, what a status means, when to follow a redirect: :mod:`memos_client.registry.client`
decides). It does hold what makes each path fast, all measured (docs/adr/0007, 0009, 0013):

- no third-party import: ``http.client`` is already what ``urllib`` uses, and httpx cost 60-180 ms
  to import (its own CLI pulls click, rich and pygments);
- kept-alive connections per origin, reused across threads (parallel blob downloads) and
  replaced when the server closed them while idle;
- upload bodies that lie in a file (a bundle entry) go from the page cache to the socket with
  ``sendfile`` on plain-HTTP connections; an early answer (401, 413) stops the upload;
- TLS (certifi's bundle, or ``SSL_CERT_FILE``) and ``HTTP(S)_PROXY``/``NO_PROXY`` handling are set
  up on first use only.

Time is bounded per request, not per read: every request carries a ``deadline`` (a
``time.monotonic()`` instant), and each socket operation waits at most the read timeout and at
most until the deadline, so a server dripping one byte a second fails at the deadline. Socket,
TLS and protocol failures become :class:`~memos_client.errors.NetworkError` here and nowhere else
(:class:`~memos_client.errors.DeadlineExceededError` for a deadline).
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast
from urllib.parse import urlsplit

import msgspec

from memos_client.errors import DeadlineExceededError, NetworkError
from memos_client.registry.deadlines import (
    Budget,
    DeadlineError,
    HTTPConnection,
    HTTPSConnection,
    TimedConnection,
)
from memos_client.registry.proxies import Proxy, proxy_for
from memos_client.registry.sendfile import file_span, send_stream

if TYPE_CHECKING:
    import ssl
    from email.message import Message

#: Idle connections kept per origin.
POOL_SIZE = 8

ProgressCallback = Callable[[int], None]


class UploadBody(msgspec.Struct, frozen=True):
    """A request body of ``size`` bytes read from ``open()`` (a fresh stream at its first byte).

    A stream that says where its bytes lie in a regular file (``file_span()``, or a real file
    object) is sent with ``sendfile`` on plain-HTTP connections.
    """

    open: Callable[[], BinaryIO]
    size: int
    progress: ProgressCallback | None = None


class Request(msgspec.Struct, frozen=True):
    """One HTTP request; ``deadline`` is the ``time.monotonic()`` instant it must be done by
    (its response body read included)."""

    method: str
    url: str
    headers: dict[str, str]
    deadline: float
    content: bytes | UploadBody | None = None
    #: Whether it may be sent again when a kept-alive connection turns out to be closed.
    retry_safe: bool = True


class Response(Protocol):
    """An answer whose body is read by the caller, within the request's deadline."""

    @property
    def status(self) -> int:
        """The HTTP status code."""

    @property
    def headers(self) -> Message:
        """The header fields (names case-insensitive)."""

    @property
    def length(self) -> int | None:
        """The body bytes still to come when known (``Content-Length``)."""

    def read(self, limit: int) -> bytes | None:
        """The rest of the body; ``None`` when it is longer than ``limit`` bytes (nothing past
        the limit is read, and the connection is not reused)."""

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` (less at the end); 0 at the end of the body. A body that ends before
        its announced length raises :class:`NetworkError`."""

    def close(self) -> None:
        """Release the connection (kept alive when the body was read to its end)."""


class Transport(Protocol):
    """Sends one request, returns its response; translates every transport failure."""

    def handle(self, request: Request) -> Response:
        """Send ``request`` (headers and body) and return the response once its head arrived."""

    def close(self) -> None:
        """Close every connection."""


# -- the pool ----------------------------------------------------------------------------------

#: (scheme, host, port, proxy URL or "") -- connections are never shared across these.
_PoolKey = tuple[str, str, int, str]
#: The errors of a kept-alive connection that the server closed meanwhile.
_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _PooledResponse:
    """An ``http.client`` response that returns its connection to the pool once read."""

    def __init__(
        self,
        transport: HTTPTransport,
        key: _PoolKey,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        origin: str,
        body_sent: bool,
    ) -> None:
        self._transport = transport
        self._key = key
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response
        self._origin = origin
        # A server that answered before reading the whole upload waits for the rest of it.
        self._reusable = body_sent

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Message:
        return self._response.headers

    @property
    def length(self) -> int | None:
        return self._response.length

    def read(self, limit: int) -> bytes | None:
        length = self._response.length
        if length is not None and length > limit:
            self._fail()  # refused unread
            return None
        try:
            data = self._response.read(limit + 1)
        except BaseException as exc:
            self._fail()
            raise self._transport.translate(exc, self._origin, "the answer broke off") from exc
        if len(data) > limit:
            self._fail()
            return None
        self.close()
        return data

    def readinto(self, buffer: memoryview) -> int:
        try:
            count = self._response.readinto(buffer)
        except BaseException as exc:
            self._fail()
            raise self._transport.translate(exc, self._origin, "the download broke off") from exc
        if not count and self._response.length:  # http.client counts Content-Length down
            missing = self._response.length
            self._fail()
            raise NetworkError(
                f"the download from {self._origin} broke off: the connection closed "
                f"{missing} bytes early; retry to resume"
            )
        return count

    def _fail(self) -> None:
        self._reusable = False
        self.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._reusable and self._response.isclosed():
            self._transport.release(self._key, connection)
        else:
            self._response.close()
            connection.close()


class HTTPTransport:
    """:class:`Transport` over ``http.client``: pooled, kept-alive, bounded in time. Thread-safe."""

    def __init__(self, *, connect_timeout: float = 10.0, read_timeout: float = 60.0) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: dict[_PoolKey, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    def close(self) -> None:
        """Close the idle connections; one handed back later (a response another thread was
        still reading) is closed then, never kept."""
        with self._lock:
            idle, self._idle = self._idle, {}
            self._closed = True
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def release(self, key: _PoolKey, connection: http.client.HTTPConnection) -> None:
        """Keep ``connection`` (its last response fully read) for the next request to ``key``."""
        with self._lock:
            pool = self._idle.setdefault(key, [])
            if not self._closed and len(pool) < POOL_SIZE:
                pool.append(connection)
                return
        connection.close()

    # -- connections ---------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._tls is None:
                import ssl

                import certifi

                # As httpx does: certifi's bundle, unless SSL_CERT_FILE names another.
                cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
                self._tls = ssl.create_default_context(cafile=cafile)
            return self._tls

    def _connection(
        self, key: _PoolKey, proxy: Proxy | None, deadline: float
    ) -> tuple[http.client.HTTPConnection, bool]:
        """An idle kept-alive connection for ``key`` (``reused``), else a new one."""
        with self._lock:
            pool = self._idle.get(key, [])
            while pool:
                idle = pool.pop()
                if not _closed_by_peer(idle):
                    return idle, True
                idle.close()
        connection: http.client.HTTPConnection
        scheme, host, port, _ = key
        budget = Budget(self.read_timeout)
        budget.deadline = deadline
        if proxy is not None and scheme == "https":
            connection = HTTPSConnection(proxy.host, proxy.port, budget, self._context())
            connection.set_tunnel(host, port, headers=proxy.headers)
        elif proxy is not None:
            connection = HTTPConnection(proxy.host, proxy.port, budget)
        elif scheme == "https":
            connection = HTTPSConnection(host, port, budget, self._context())
        else:
            connection = HTTPConnection(host, port, budget)
        connection.timeout = min(self.connect_timeout, max(deadline - time.monotonic(), 0.001))
        return connection, False

    # -- one request ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        parts = urlsplit(request.url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        origin = f"{scheme}://{parts.netloc}"
        proxy = proxy_for(scheme, host)
        key: _PoolKey = (scheme, host, port, proxy.url if proxy else "")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        headers = dict(request.headers)
        if proxy is not None and scheme == "http":
            target = f"{scheme}://{parts.netloc}{target}"  # absolute form, for the proxy
            headers.update(proxy.headers)
        for attempt in (0, 1):
            connection, reused = self._connection(key, proxy, request.deadline)
            cast(TimedConnection, connection).budget.deadline = request.deadline
            body_sent = True
            try:
                if connection.sock is not None:
                    connection.sock.settimeout(cast(TimedConnection, connection).budget.timeout())
                connection.putrequest(
                    request.method, target, skip_host=False, skip_accept_encoding=True
                )
                for name, value in headers.items():
                    connection.putheader(name, value)
                content = request.content
                if isinstance(content, UploadBody):
                    connection.putheader("content-length", str(content.size))
                    connection.endheaders()
                    body_sent = self._send_body(connection, content)
                else:
                    if content is not None:
                        connection.putheader("content-length", str(len(content)))
                    connection.endheaders(content)
                response = connection.getresponse()
            except _DROPPED as exc:
                connection.close()
                if attempt == 0 and reused and request.retry_safe:
                    continue  # the server closed the idle connection: once more, afresh
                raise self.translate(exc, origin, "cannot reach the registry") from exc
            except BaseException as exc:
                connection.close()  # a request broken off midway cannot be continued
                if isinstance(exc, (OSError, http.client.HTTPException, ValueError)):
                    raise self.translate(exc, origin, "cannot reach the registry") from exc
                raise
            return _PooledResponse(self, key, connection, response, origin, body_sent)
        raise AssertionError("unreachable")  # pragma: no cover

    def translate(self, exc: BaseException, origin: str, what: str) -> BaseException:
        """The client error for a transport failure ``exc`` (anything else is returned as is)."""
        if isinstance(exc, DeadlineError):
            return DeadlineExceededError(
                f"{what} at {origin}: no complete answer within the request's deadline "
                "(the registry or the network is too slow); try again later"
            )
        if isinstance(exc, (OSError, http.client.HTTPException, ValueError)):
            if isinstance(exc, TimeoutError):
                detail = f"no data for {self.read_timeout:g} s"
            else:
                detail = str(exc) or type(exc).__name__
            return NetworkError(f"{what} at {origin}: {detail}")
        return exc

    def _send_body(self, connection: http.client.HTTPConnection, body: UploadBody) -> bool:
        """Send the upload after the headers; false when the server answered before its end.

        The registry may refuse from the headers alone (401, 413) and stop reading: the rest is
        not sent (it would block for good on full socket buffers), and its answer is read.
        """
        sock = cast(socket.socket, connection.sock)
        budget = cast(TimedConnection, connection).budget
        stream = body.open()
        try:
            # sendfile only where the socket carries the bytes as they are (no TLS).
            span = file_span(stream, body.size) if type(sock) is socket.socket else None
            with suppress(ConnectionResetError, BrokenPipeError):
                return send_stream(sock, stream, span, body.size, body.progress, budget)
            return False
        finally:
            close = getattr(stream, "close", None)  # a bundle's range reader has none
            if close is not None:
                close()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether the server closed a kept-alive connection while it was idle: an idle HTTP/1.1
    connection has nothing to read, so a readable one was closed (or broke the protocol)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
