"""Per-request deadlines on ``http.client`` connections: every socket read obeys them.

``http.client`` reads a response through a buffered file over the socket, and a buffered read
loops over socket reads until its buffer is full: a socket timeout bounds each read, not the
request, so a server sending a byte a second never times out. Here each socket read first sets
the socket's timeout to what is left of the request's deadline (and at most the read timeout),
so the request ends at its deadline however the bytes trickle in.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from typing import IO, Any, cast


class Budget:
    """The deadline of the request a connection is serving, read before each socket read."""

    def __init__(self, read_timeout: float) -> None:
        self.read_timeout = read_timeout
        self.deadline = float("inf")

    def timeout(self) -> float:
        """Seconds the next socket operation may wait; :class:`DeadlineExceededError` when the
        deadline has passed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineError
        return min(self.read_timeout, remaining)


class DeadlineError(TimeoutError):
    """The request's deadline passed (the transport translates it)."""


class _TimedReader(io.RawIOBase):
    """A socket's byte stream whose every read waits at most until the request's deadline."""

    def __init__(self, sock: socket.socket, budget: Budget) -> None:
        self._sock = sock
        self._raw = cast(io.RawIOBase, sock.makefile("rb", buffering=0))
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(self._budget.timeout())
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            if self._budget.deadline <= time.monotonic():
                raise DeadlineError from None
            raise

    def close(self) -> None:
        self._raw.close()
        super().close()


class _TimedSocket:
    """What ``http.client.HTTPResponse`` is given instead of the socket: its ``makefile``."""

    def __init__(self, sock: socket.socket, budget: Budget) -> None:
        self._sock = sock
        self._budget = budget

    def makefile(self, mode: str) -> IO[bytes]:
        return io.BufferedReader(_TimedReader(self._sock, self._budget), 1 << 16)


class TimedConnection:
    """What both connection kinds add: the :class:`Budget` every read of a response obeys."""

    budget: Budget

    def _timed_response(self, sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        return http.client.HTTPResponse(_TimedSocket(sock, self.budget), *args, **kwargs)  # type: ignore[arg-type]


class HTTPConnection(TimedConnection, http.client.HTTPConnection):
    """A plain-HTTP connection whose responses read within the request's deadline."""

    def __init__(self, host: str, port: int, budget: Budget) -> None:
        super().__init__(host, port)
        self.budget = budget
        self.response_class = self._timed_response  # type: ignore[assignment]


class HTTPSConnection(TimedConnection, http.client.HTTPSConnection):
    """A TLS connection whose responses read within the request's deadline."""

    def __init__(self, host: str, port: int, budget: Budget, context: ssl.SSLContext) -> None:
        super().__init__(host, port, context=context)
        self.budget = budget
        self.response_class = self._timed_response  # type: ignore[assignment]
