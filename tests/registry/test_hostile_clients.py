"""Clients that drip, stall, hang up or send bodies without a token (issue #15), on real sockets.

A registry process per configuration with short body limits: after 1 s a body must average
1,000 bytes/s and never pause over 2 s.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from mip.keys import SigningKey
from tests.registry.conftest import Registry, start_registry
from tests.registry.cube_helpers import blob_digest, manifest_bytes, publish_body, unique

LIMITS = {
    "MEMSTORE_BODY_GRACE_SECONDS": "1",
    "MEMSTORE_BODY_MIN_RATE": "1000",
    "MEMSTORE_BODY_IDLE_SECONDS": "2",
}
#: Longest a refusal may take to arrive here: the limits above, the watch's tick, a busy machine.
ANSWER_WITHIN = 15.0


@pytest.fixture(scope="module", params=["sqlite-local", "postgres-s3"])
def guarded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    registry = start_registry(request, tmp_path_factory, request.param, LIMITS)
    try:
        yield registry
    finally:
        for process in registry.servers:
            process.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Whether the server closed the connection after answering.
    closed: bool

    @property
    def code(self) -> str:
        return str(json.loads(self.body)["error"]["code"])


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    connection = socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_WITHIN)
    return connection


def _head(method: str, path: str, length: int, token: str | None = None, **extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: registry", f"Content-Length: {length}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{key.replace('_', '-')}: {value}" for key, value in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(connection: socket.socket, timeout: float = ANSWER_WITHIN) -> Answer:
    """Read one response; then whether the server closed the connection."""
    connection.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    connection.settimeout(2)
    try:
        closed = connection.recv(1) == b""
    except (TimeoutError, ConnectionResetError):
        closed = False
    return Answer(int(status_line.split()[1]), headers, body[:length], closed)


def _drip(connection: socket.socket, data: bytes, interval: float, stop: threading.Event) -> None:
    """Send ``data`` one byte per ``interval`` until the server stops reading or ``stop``."""
    for index in range(len(data)):
        if stop.wait(interval):
            return
        try:
            connection.sendall(data[index : index + 1])
        except OSError:
            return


class _Drippers:
    """Slow clients: connections that each drip a body (:func:`_drip`), in threads of their own.

    Leaving the ``with`` block stops the threads, waits for them and closes every connection.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.connections: list[socket.socket] = []
        self.threads: list[threading.Thread] = []

    def connect(self, url: str) -> socket.socket:
        """A new connection to the server at ``url``, closed at the end of the block."""
        connection = _connect(url)
        self.connections.append(connection)
        return connection

    def drip(self, connection: socket.socket, data: bytes, interval: float) -> None:
        """Send ``data`` into ``connection`` one byte per ``interval``, in a thread."""
        thread = threading.Thread(target=_drip, args=(connection, data, interval, self.stop))
        thread.start()
        self.threads.append(thread)

    def __enter__(self) -> _Drippers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        for connection in self.connections:
            connection.close()


def _publish_payload(namespace: str) -> bytes:
    key = SigningKey.generate()
    payload = manifest_bytes(f"{namespace}/drip", "1.0.0", [])
    return json.dumps(publish_body(payload, key)).encode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/versions"),
        ("PUT", f"/v1/blobs/{blob_digest(b'x')}"),
        ("POST", "/v1/uploads"),
        ("PATCH", "/v1/uploads/0123456789abcdef0123456789abcdef"),
        ("POST", "/v1/tokens"),
        ("POST", "/v1/namespaces/anyone/keys"),
        ("POST", "/v1/cubes/anyone/thing/versions/1.0.0/yank"),
    ],
)
@pytest.mark.parametrize("token", [None, "mst_not-a-token"])
def test_a_body_without_a_valid_token_is_refused_before_it_is_read(
    guarded: Registry, method: str, path: str, token: str | None
) -> None:
    with _connect(guarded.url) as connection:
        # The head promises a megabyte and sends none of it: the answer must not wait for it.
        connection.sendall(
            _head(method, path, 1 << 20, token, Upload_Offset="0", Content_Type="application/json")
        )
        started = time.monotonic()
        answer = _read_answer(connection)
    assert time.monotonic() - started < ANSWER_WITHIN
    assert answer.status == 401, answer
    assert answer.code == "unauthorized"
    assert answer.headers.get("connection") == "close"
    assert answer.closed


def test_a_dripped_publish_is_cut_off(guarded: Registry) -> None:
    namespace = unique("drip")
    token = guarded.create_token(namespace)
    body = _publish_payload(namespace)
    with _Drippers() as drippers:
        connection = drippers.connect(guarded.url)
        connection.sendall(
            _head("POST", "/v1/versions", len(body), token, Content_Type="application/json")
        )
        started = time.monotonic()
        drippers.drip(connection, body, 0.2)
        answer = _read_answer(connection)
    elapsed = time.monotonic() - started
    assert answer.status == 408, answer
    assert answer.code == "request_timeout"
    assert "1000 bytes/s" in json.loads(answer.body)["error"]["message"]
    assert answer.closed
    assert 1.0 <= elapsed < ANSWER_WITHIN


def test_a_stalled_blob_upload_is_cut_off_and_leaves_nothing(guarded: Registry) -> None:
    namespace = unique("stall")
    token = guarded.create_token(namespace)
    data = b"stalled blob " * 4000
    digest = blob_digest(data)
    with _connect(guarded.url) as connection:
        connection.sendall(_head("PUT", f"/v1/blobs/{digest}", len(data), token))
        connection.sendall(data[: len(data) // 2])  # fast, then nothing: the idle limit applies
        started = time.monotonic()
        answer = _read_answer(connection)
    assert answer.status == 408, answer
    assert answer.code == "request_timeout"
    assert answer.closed
    assert 1.5 <= time.monotonic() - started < ANSWER_WITHIN
    with guarded.client() as client:
        assert client.head(f"/v1/blobs/{digest}").status_code == 404
    if guarded.kind == "sqlite-local":
        assert list((guarded.data_dir / "blobs" / ".tmp").iterdir()) == []


def test_many_slow_uploads_do_not_hold_the_registry(guarded: Registry) -> None:
    """Dozens of dripping bodies, with and without tokens: all cut off; others still served."""
    namespace = unique("flood")
    token = guarded.create_token(namespace)
    body = _publish_payload(namespace)
    with _Drippers() as drippers:
        for index in range(40):
            connection = drippers.connect(guarded.url)
            if index % 2:
                head = _head("POST", "/v1/versions", len(body), token)
            else:
                head = _head("PUT", f"/v1/blobs/{blob_digest(b'y')}", 1 << 20)
            connection.sendall(head)
            drippers.drip(connection, body, 0.3)
        # Meanwhile the registry answers everyone else at once.
        with guarded.client(token) as client:
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            payload = manifest_bytes(f"{namespace}/served", "1.0.0", [])
            published = client.post(
                "/v1/versions", json=publish_body(payload, SigningKey.generate())
            )
            assert published.status_code == 201, published.text
            assert time.monotonic() - started < ANSWER_WITHIN
        answers = [_read_answer(connection) for connection in drippers.connections]
    assert sorted({answer.status for answer in answers}) == [401, 408]
    assert all(answer.closed for answer in answers)


def test_a_client_hanging_up_mid_upload_is_logged_quietly(guarded: Registry) -> None:
    namespace = unique("gone")
    token = guarded.create_token(namespace)
    data = b"abandoned " * 20_000
    digest = blob_digest(data)
    log = guarded.servers[0].log
    before = log.read_bytes()
    with _connect(guarded.url) as connection:
        connection.sendall(_head("PUT", f"/v1/blobs/{digest}", len(data), token))
        connection.sendall(data[:50_000])
        time.sleep(0.3)
    # Hung up: the server notices, discards the partial upload and says so in one line.
    with guarded.client() as client:
        deadline = time.monotonic() + ANSWER_WITHIN
        while b"client went away" not in log.read_bytes()[len(before) :]:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        assert client.head(f"/v1/blobs/{digest}").status_code == 404
    added = log.read_bytes()[len(before) :].decode()
    assert "Traceback" not in added
    assert "unexpected error" not in added
    assert "client went away during PUT /v1/blobs/" in added


def test_hot_reads_survive_clients_hanging_up_mid_request(guarded: Registry) -> None:
    """Hundreds of resolver reads whose clients reset the connection at once, then normal ones."""
    namespace = unique("hot")
    token = guarded.create_token(namespace)
    with guarded.client(token) as client:
        payload = manifest_bytes(f"{namespace}/c", "1.0.0", [])
        published = client.post("/v1/versions", json=publish_body(payload, SigningKey.generate()))
        assert published.status_code == 201, published.text
    paths = [f"/v1/cubes/{namespace}/c", f"/v1/cubes/{namespace}/c/versions/1.0.0/envelope"]
    for index in range(300):
        connection = _connect(guarded.url)
        request = f"GET {paths[index % 2]} HTTP/1.1\r\nHost: registry\r\n\r\n".encode()
        connection.sendall(request)
        # Reset, not close: the server's read or write fails mid-request.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    results: list[int] = []

    def read() -> None:
        with guarded.client() as client:
            results.extend(client.get(path).status_code for path in paths for _ in range(5))

    readers = [threading.Thread(target=read) for _ in range(16)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=ANSWER_WITHIN * 4)
    assert results == [200] * 160
