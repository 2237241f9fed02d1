"""A hostile registry on loopback: every answer the client reads is bounded in size and time.

An endless document, one announcing gigabytes, a server dripping a byte at a time (so no single
read ever times out), a slow status line, a redirect off the web or in a loop: each ends in one
error with a stable code, within the request's deadline, never a MemoryError, a hang or a
ValueError traceback. The CLI says each in one ``error:`` line.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from memos_client.errors import DeadlineExceededError, InvalidResponseError
from memos_client.install.cache import Cache
from memos_client.install.fetch import CachedRegistry
from memos_client.registry.client import ClientSettings, RegistryClient
from tests.support import Behaviour, ScriptedSocketServer, run_memos

SMALL = ClientSettings(
    read_timeout=5.0, deadline=1.5, max_document_bytes=1 << 20, min_transfer_rate=1 << 30
)


def endless(connection: socket.socket, path: str) -> None:
    """A chunked JSON answer that never ends: ``[[[[...``."""
    connection.sendall(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (1 << 16, b"[" * (1 << 16))
    while True:
        connection.sendall(chunk)


def announces_gigabytes(connection: socket.socket, path: str) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 10000000000\r\n\r\n")
    while True:
        connection.sendall(b" " * (1 << 16))


def drip(connection: socket.socket, path: str) -> None:
    """A byte every 50 ms: each read gets data long before any read timeout."""
    connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
    for _ in range(1000):
        connection.sendall(b" ")
        time.sleep(0.05)


def slow_status_line(connection: socket.socket, path: str) -> None:
    for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}":
        connection.sendall(bytes([byte]))
        time.sleep(0.05)


def redirect_to(location: str) -> Behaviour:
    def behaviour(connection: socket.socket, path: str) -> None:
        connection.sendall(
            f"HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n".encode()
        )

    return behaviour


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


CALLS: dict[str, Callable[[RegistryClient], object]] = {
    "cube document": lambda client: client.cube("acme/kb"),
    "envelope": lambda client: client.envelope("acme/kb", "1.0.0"),
    "key list": lambda client: client.keys("acme"),
    "search": lambda client: client.search("kb"),
}


#: Each hostile behaviour, the error it must end in, and what that error says.
BOUNDED: dict[str, tuple[Behaviour, type[Exception], str]] = {
    "endless": (endless, InvalidResponseError, "-byte limit"),
    "gigabytes": (announces_gigabytes, InvalidResponseError, "-byte limit"),
    "drip": (drip, DeadlineExceededError, "within the request's deadline"),
    "slow status line": (slow_status_line, DeadlineExceededError, "within the request's deadline"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("case", sorted(BOUNDED))
def test_every_answer_is_bounded_in_size_and_time(call: str, case: str) -> None:
    # A size limit cuts an endless answer at once; a drip ends at the deadline, not later.
    behaviour, error, message = BOUNDED[case]
    with (
        ScriptedSocketServer(behaviour) as server,
        RegistryClient(server.url, settings=SMALL) as client,
    ):
        started = time.monotonic()
        with pytest.raises(error, match=message) as caught:
            CALLS[call](client)
    elapsed = time.monotonic() - started
    if error is InvalidResponseError:
        assert getattr(caught.value, "code", None) == "invalid_response"
        assert elapsed < 5
    else:
        assert SMALL.deadline - 0.1 < elapsed < SMALL.deadline + 2


def test_a_dripping_blob_ends_at_its_deadline(tmp_path: Path) -> None:
    # Blobs get deadline + size / min_transfer_rate: 1000 bytes at 1 kB/s is one more second.
    settings = ClientSettings(read_timeout=5.0, deadline=0.5, min_transfer_rate=1000)
    digest = "sha256:" + "0" * 64
    with (
        ScriptedSocketServer(drip) as server,
        RegistryClient(server.url, settings=settings) as client,
    ):
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            _read_all(client, digest, 1000)
    assert 1.4 < time.monotonic() - started < 4


def _read_all(client: RegistryClient, digest: str, size: int) -> None:
    with client.open_blob(digest, size) as stream:
        while stream.readinto(memoryview(bytearray(1 << 16))):
            pass


@pytest.mark.parametrize(
    "location", ["ftp://example.org/blob", "file:///etc/passwd", "data:,x", "gopher://h/x"]
)
def test_a_redirect_off_the_web_is_an_invalid_answer(location: str) -> None:
    behaviour = redirect_to(location)
    with (
        ScriptedSocketServer(behaviour) as server,
        RegistryClient(server.url, settings=SMALL) as client,
    ):
        with pytest.raises(InvalidResponseError, match="which is not an http\\(s\\) URL"):
            client.keys("acme")
        with (
            pytest.raises(InvalidResponseError, match="not an http"),
            client.open_blob("sha256:" + "0" * 64, 10),
        ):
            pass


def test_a_redirect_loop_ends() -> None:
    with (
        ScriptedSocketServer(redirect_to("/again")) as server,
        RegistryClient(server.url, settings=SMALL) as client,
        pytest.raises(InvalidResponseError, match="more than 5 times"),
    ):
        client.keys("acme")
    assert len(server.requests) == 6


def test_the_cli_says_each_in_one_line(tmp_path: Path) -> None:
    cases: list[tuple[Behaviour, dict[str, str], int, str]] = [
        (endless, {}, 6, "-byte limit"),
        (drip, {"MEMOS_HTTP_DEADLINE": "1"}, 7, "within the request's deadline"),
        (redirect_to("ftp://example.org/x"), {}, 6, "not an http(s) URL"),
    ]
    for behaviour, env, code, message in cases:
        with ScriptedSocketServer(behaviour) as server:
            started = time.monotonic()
            result = run_memos(
                tmp_path / "home", "install", "acme/kb", env={"MEMOS_INDEX_URL": server.url, **env}
            )
        assert result.returncode == code, result.stderr
        assert result.stderr.startswith("error: "), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr
        assert time.monotonic() - started < 30


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_bad_timeout_setting_is_a_usage_error(value: str, tmp_path: Path) -> None:
    result = run_memos(
        tmp_path / "home",
        "install",
        "acme/kb",
        env={"MEMOS_INDEX_URL": "http://127.0.0.1:9", "MEMOS_HTTP_TIMEOUT": value},
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: MEMOS_HTTP_TIMEOUT={value!r} is not a number of seconds above 0\n"
    )


def test_a_zero_byte_blob_downloads(tmp_path: Path) -> None:
    empty = "sha256:" + hashlib.sha256(b"").hexdigest()

    def serve_nothing(connection: socket.socket, path: str) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    cache = Cache(tmp_path / "cache")
    with (
        ScriptedSocketServer(serve_nothing) as server,
        CachedRegistry(server.url, cache) as registry,
    ):
        path = registry.download_blob(empty, 0)
    assert path.read_bytes() == b""
    assert cache.has_blob(empty, 0)
