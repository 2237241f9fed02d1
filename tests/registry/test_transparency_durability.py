"""The log under concurrency and crashes: two server processes publishing at once write one
history; ``kill -9`` in the middle of publishes never leaves an event without its entry."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from mip.keys import SigningKey
from mip.transparency.checkpoint import Checkpoint
from registry_server.db.session import create_db_engine
from registry_server.services.auth import commit_bootstrap_token
from tests.registry.conftest import Registry, base_env
from tests.registry.cube_helpers import manifest_bytes, publish_body, unique
from tests.registry.log_helpers import audit_database, check_extends, checkpoint, pinned_key
from tests.support import fresh_postgres_database, start_registry_process

WRITERS_PER_SERVER = 2
PUBLISHES_PER_WRITER = 6


def test_two_processes_publishing_at_once_write_one_history(registry: Registry) -> None:
    urls = [server.url for server in registry.with_servers(2)]
    namespace = unique("fork")
    token = registry.create_token(namespace)
    key = SigningKey.generate()
    with registry.client(token) as client:
        log_key = pinned_key(client)
        with httpx.Client(base_url=urls[1]) as other:
            assert pinned_key(other) == log_key
        first = manifest_bytes(f"{namespace}/seed", "1.0.0", [])
        assert client.post("/v1/versions", json=publish_body(first, key)).status_code == 201
        start = checkpoint(client, log_key)
    seen: list[Checkpoint] = []
    failures: list[str] = []
    done = threading.Event()
    barrier = threading.Barrier(WRITERS_PER_SERVER * len(urls))

    def write(writer: int) -> None:
        with registry.client(token, url=urls[writer % len(urls)], timeout=120) as client:
            barrier.wait()
            for number in range(PUBLISHES_PER_WRITER):
                payload = manifest_bytes(f"{namespace}/cube-{writer}", f"1.0.{number}", [])
                answer = client.post("/v1/versions", json=publish_body(payload, key))
                if answer.status_code != 201:
                    failures.append(answer.text)

    def watch() -> None:
        clients = [httpx.Client(base_url=url, timeout=60) for url in urls]
        while not done.is_set():
            for client in clients:
                seen.append(checkpoint(client, log_key))
        for client in clients:
            client.close()

    writers = [threading.Thread(target=write, args=(n,)) for n in range(barrier.parties)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    watcher.join()
    assert failures == []
    with registry.client() as client:
        end = checkpoint(client, log_key)
        assert end.size >= start.size + WRITERS_PER_SERVER * len(urls) * PUBLISHES_PER_WRITER
        # Every head either server showed, at any moment, is a prefix of the final one and of
        # every larger head: one history, never a fork.
        heads = sorted(
            {(head.size, head.root_hash): head for head in seen}.values(), key=lambda h: h.size
        )
        assert len({head.size for head in heads}) == len(heads), "two roots for one size"
        for older, newer in zip([start, *heads], [*heads, end], strict=True):
            if older.size <= newer.size:
                check_extends(client, log_key, older, newer)
    with registry.database() as engine:
        audit_database(engine)


@pytest.fixture(params=["sqlite", "postgres"])
def crash_env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Path]]:
    """A registry of its own (it gets killed): SQLite, or a fresh PostgreSQL database."""
    env = base_env()
    if request.param == "sqlite":
        yield env, tmp_path
        return
    with fresh_postgres_database("memstore_crash") as url:
        env["MEMSTORE_DATABASE_URL"] = url
        yield env, tmp_path


def _engine(env: dict[str, str], data_dir: Path) -> Engine:

    url = env.get("MEMSTORE_DATABASE_URL") or f"sqlite:///{data_dir / 'registry.db'}"
    return create_db_engine(url, 1)


def test_kill_9_during_publishes_never_leaves_an_event_unlogged(
    crash_env: tuple[dict[str, str], Path],
) -> None:
    env, data_dir = crash_env
    namespace = unique("crash")
    server = start_registry_process(env, data_dir)
    engine = _engine(env, data_dir)
    token = commit_bootstrap_token(engine, namespace, None, 1)
    key = SigningKey.generate()
    with httpx.Client(base_url=server.url) as client:
        log_key = pinned_key(client)
        before = checkpoint(client, log_key)
    counter = iter(range(10_000))
    for _cycle in range(3):
        stop = threading.Event()
        published = threading.Semaphore(0)

        def publish(url: str = server.url, stop: threading.Event = stop,
                    published: threading.Semaphore = published) -> None:  # fmt: skip
            with httpx.Client(
                base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                while not stop.is_set():
                    number = next(counter)
                    payload = manifest_bytes(f"{namespace}/cube-{number % 3}", f"1.0.{number}", [])
                    try:
                        answer = client.post("/v1/versions", json=publish_body(payload, key))
                    except httpx.HTTPError:
                        return  # the server died under this request
                    if answer.status_code == 201:
                        published.release()

        threads = [threading.Thread(target=publish) for _ in range(3)]
        for thread in threads:
            thread.start()
        for _ in range(4):  # let a few land, then kill in the middle of the next ones
            assert published.acquire(timeout=60)
        time.sleep(0.01 * _cycle)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stop.set()
        for thread in threads:
            thread.join()
        audit_database(engine)
        server = start_registry_process(env, data_dir)
        with httpx.Client(base_url=server.url) as client:
            after = checkpoint(client, log_key)
            check_extends(client, log_key, before, after)
            before = after
    server.stop()
    entries = audit_database(engine)
    engine.dispose()
    assert len(entries) >= 12
