"""Helpers shared by the test suites: loopback ports, polling with a deadline, throw-away databases,
registry server processes, `memos` in a fresh interpreter, what a fresh interpreter imports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import httpx
import pytest

from mip.closing import ClosedOnExit

if TYPE_CHECKING:
    from memos_client.registry.client import BlobStream

#: The repository root (what ``python -c`` probes run in, so they import this checkout).
REPO = Path(__file__).resolve().parents[1]
#: A model fingerprint (MIP-1 §7.1) of a tiny Llama: 2 layers, 4 heads, 2 KV heads, head_dim 4.
TINY_FINGERPRINT: dict[str, Any] = {
    "model_id": "org/tiny",
    "architecture": "LlamaForCausalLM",
    "config_sha256": "1" * 64,
    "tokenizer_sha256": "2" * 64,
    "dtype": "float16",
    "num_layers": 2,
    "num_attention_heads": 4,
    "num_kv_heads": 2,
    "head_dim": 4,
    "hidden_size": 16,
    "vocab_size": 100,
}
#: The PostgreSQL the integration tests use (trust auth; `scripts/services` starts it).
POSTGRES_ADMIN_URL = "postgresql://127.0.0.1:5432/test"


@contextmanager
def raises_exactly(error: type[Exception], message: str) -> Iterator[None]:
    """``pytest.raises(error)``, and the error's message is exactly ``message`` (one error per
    spec violation, each tested by its exact words)."""
    with pytest.raises(error) as caught:
        yield
    assert str(caught.value) == message


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_memos(
    home: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``memos ARGS`` in a fresh interpreter, as a user runs it, against this checkout.

    ``home`` is ``MEMOS_HOME`` (the cache goes under it); no other ``MEMOS_*`` variable of the
    caller's leaks in; nothing is downloaded (``HF_HUB_OFFLINE``). ``env`` adds variables.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    environment |= {
        "PYTHONPATH": str(REPO),
        "MEMOS_HOME": str(home),
        "MEMOS_CACHE_DIR": str(home / "cache"),
        "HF_HUB_OFFLINE": "1",
    }
    environment |= env or {}
    return subprocess.run(
        [sys.executable, "-m", "memos_client", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def modules_imported_by(statement: str, watched: Iterable[str]) -> list[str]:
    """Which of the ``watched`` module names a fresh interpreter holds after ``statement``."""
    probe = (
        f"import json, sys; {statement}; "
        f"print(json.dumps(sorted(set({sorted(watched)!r}) & set(sys.modules))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def read_blob_stream(stream: BlobStream) -> bytes:
    """Everything an install client's blob stream gives (its buffer-filling reads, joined)."""
    buffer = memoryview(bytearray(1 << 16))
    parts = []
    while count := stream.readinto(buffer):
        parts.append(bytes(buffer[:count]))
    return b"".join(parts)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true, or fail after ``timeout`` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def fresh_postgres_database(prefix: str = "memstore_test") -> Iterator[str]:
    """A new database on the local PostgreSQL (SQLAlchemy URL), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"the PostgreSQL at 127.0.0.1:5432 is not reachable (scripts/services): {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def answers(url: str) -> bool:
    """Whether ``url`` answers with anything but a server error."""
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


@dataclass
class ServerProcess:
    """One running ``memos-registry serve``; its output goes to ``log``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Terminate it (kill after 15 s)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server_process(
    argv: Callable[[int], list[str]],
    env: Mapping[str, str],
    log: Callable[[int], Path],
    health_path: str,
    what: str,
) -> ServerProcess:
    """Start the server ``argv(port)`` on a free loopback port, its output to ``log(port)``, and
    wait until ``health_path`` answers; ``what`` names it if it exits instead."""
    port = free_port()
    log_path = log(port)
    with open(log_path, "wb") as sink:
        process = subprocess.Popen(argv(port), env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or answers(url + health_path), 60, url)
    except AssertionError:
        process.kill()
        raise
    if process.poll() is not None:
        raise AssertionError(f"{what} exited: {log_path.read_text()}")
    return ServerProcess(url, process, log_path)


def start_registry_process(env: dict[str, str], data_dir: Path) -> ServerProcess:
    """Start ``memos-registry serve`` on a free loopback port and wait until /healthz answers."""
    return start_server_process(
        lambda port: [
            sys.executable,
            "-m",
            "registry_server",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--no-access-log",
        ],
        env,
        lambda port: data_dir / f"server-{port}.log",
        "/healthz",
        "registry server",
    )


#: What a scripted connection does once it has read the request head: (socket, path).
Behaviour = Callable[[socket.socket, str], None]


class ScriptedSocketServer(ClosedOnExit):
    """Accepts connections on loopback and lets ``behaviour`` answer each one's first request
    at the socket level (hostile and broken servers: drips, endless bodies, dropped
    connections). ``finished`` is set each time a connection has been closed."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[str] = []
        self.connections = 0
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedSocketServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting connections (those being answered finish on their threads)."""
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                data = connection.recv(65536)
                if not data:
                    return
                head += data
            path = head.split(b" ", 2)[1].decode()
            self.requests.append(path)
            with suppress(OSError):  # the client hung up: what it should do
                self.behaviour(connection, path)
        self.finished.set()


class LoopbackHTTPServer(ClosedOnExit):
    """A scripted HTTP server on a free loopback port, serving on a thread while entered."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
