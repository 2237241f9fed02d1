"""The body guard's cap on bodies nobody authenticated, on a real uvicorn server and sockets.

Every route of the registry's API that reads a body takes a token, so the guard authenticates
before any byte is read and the cap never engages there; it bounds whatever route might read a
body without one. This test gives the guard such a route.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from registry_server.api.request_bodies import BodyLimits, RequestBodyGuard
from tests.registry.test_hostile_clients import _connect, _Drippers, _head, _read_answer
from tests.support import free_port, wait_until

LIMITS = BodyLimits(
    max_bytes=1 << 20, min_rate=1000, grace_seconds=1, idle_seconds=2, max_unauthenticated=2
)


async def _echo(request: Request) -> Response:
    return Response(await request.body())


def _no_token() -> None:  # pragma: no cover  (no route depends on it)
    raise AssertionError("not called")


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    app: Any = Starlette(routes=[Route("/echo", _echo, methods=["POST"])])
    guarded = RequestBodyGuard(
        app,
        limits=LIMITS,
        engine=lambda: None,
        routes=app.routes,
        token_dependency=_no_token,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            guarded, host="127.0.0.1", port=port, lifespan="off", ws="none", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "uvicorn")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_bodies_without_a_token_are_capped(echo_url: str) -> None:
    with _Drippers() as drippers:
        slow = [drippers.connect(echo_url) for _ in range(LIMITS.max_unauthenticated)]
        for connection in slow:
            connection.sendall(_head("POST", "/echo", 1000))
            drippers.drip(connection, b"x" * 1000, 0.2)
        time.sleep(0.3)  # both are being read now
        with _connect(echo_url) as extra:
            extra.sendall(_head("POST", "/echo", 5) + b"hello")
            refused = _read_answer(extra)
        assert refused.status == 503, refused
        assert refused.code == "server_busy"
        assert refused.headers["retry-after"] == "1"
        assert refused.closed
        # The slow ones are cut off by the rate limit, which frees their slots.
        assert [_read_answer(connection).status for connection in slow] == [408, 408]
    with _connect(echo_url) as connection:
        connection.sendall(_head("POST", "/echo", 5) + b"hello")
        answer = _read_answer(connection)
    assert (answer.status, answer.body, answer.closed) == (200, b"hello", False)
