"""An httpx transport for plain ``http://`` on the standard library's ``http.client``.

Installs talk to the registry through :class:`memos_client.index_client.IndexClient` (httpx),
but httpx's own transport imports httpcore, h11 and ssl and builds a TLS context on creation:
half a second of a cold install on our machines, for a loopback registry that never uses TLS.
This transport keeps one keep-alive connection per host and thread (downloads run in parallel
threads) and translates socket errors into httpx's exceptions, so the client above -- redirect
handling, the ``Authorization`` rule, error translation -- is unchanged.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator

import httpx

_READ = 1 << 20


class _Body(httpx.SyncByteStream):
    """The response body, read from the socket as the caller iterates."""

    def __init__(self, response: http.client.HTTPResponse, release: threading.Event) -> None:
        self._response = response
        self._done = release

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._response.read1(_READ):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise httpx.ReadError(f"connection broke while reading the body: {exc}") from exc
        if self._response.length not in (None, 0):
            raise httpx.ReadError("connection closed before the whole body arrived")

    def close(self) -> None:
        self._response.close()
        self._done.set()


class StdlibTransport(httpx.BaseTransport):
    """HTTP/1.1 over ``http.client``; ``http://`` only."""

    def __init__(self, timeout: float = 60.0) -> None:
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []  # every thread's, for close()
        self._all_lock = threading.Lock()

    def _connection(self, host: str, port: int, fresh: bool) -> http.client.HTTPConnection:
        pool: dict[tuple[str, int], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        connection = pool.get((host, port))
        if connection is None or fresh:
            if connection is not None:
                connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
            pool[(host, port)] = connection
            with self._all_lock:
                self._all.append(connection)
        return connection

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; retry once on a fresh connection if a kept-alive one went stale."""
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"StdlibTransport serves http:// only, not {url}")
        target = url.raw_path.decode("ascii")
        body = request.read()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        port = url.port or 80
        for attempt in (0, 1):
            connection = self._connection(url.host, port, fresh=attempt == 1)
            reused = connection.sock is not None
            try:
                connection.putrequest(
                    request.method, target, skip_host=True, skip_accept_encoding=True
                )
                for name, value in headers:
                    connection.putheader(name, value)
                connection.endheaders(body or None)
                response = connection.getresponse()
                break
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
                connection.close()
                if attempt == 0 and reused:
                    continue  # the server closed an idle kept-alive connection: reconnect once
                raise httpx.ReadError(str(exc)) from exc
            except TimeoutError as exc:
                connection.close()
                raise httpx.ReadTimeout(str(exc)) from exc
            except (ConnectionRefusedError, socket.gaierror) as exc:
                connection.close()
                raise httpx.ConnectError(str(exc)) from exc
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise httpx.ConnectError(str(exc)) from exc
        released = threading.Event()
        return httpx.Response(
            status_code=response.status,
            headers=response.getheaders(),
            stream=_Body(response, released),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def close(self) -> None:
        """Close every connection, whichever thread opened it."""
        with self._all_lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
