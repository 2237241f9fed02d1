"""Fixtures: real registry server processes on loopback, in two configurations.

``registry`` is parametrized: ``sqlite-local`` (embedded SQLite + a blob directory) and
``postgres-s3`` (a fresh database on the PostgreSQL at 127.0.0.1:5432 + a bucket on moto's
standalone S3 server). Every test using it runs against both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    ServerProcess,
    answers,
    free_port,
    fresh_postgres_database,
    start_registry_process,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: Small limits so that "too large" and resumable sessions are cheap to test.
MONOLITHIC_LIMIT = 256 * 1024
CHUNK_LIMIT = 128 * 1024


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {**os.environ, **S3_CREDENTIALS}
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(endpoint + "/moto-api/"), 60, "moto server")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=15)


def make_bucket(endpoint: str) -> str:
    """A fresh bucket on the S3 server."""
    import boto3

    bucket = f"memstore-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL, dropped at the end of the session."""
    with fresh_postgres_database() as url:
        yield url


@dataclass
class Registry:
    """A running registry and what tests need to drive it."""

    kind: str
    url: str
    env: dict[str, str]
    data_dir: Path
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env.get("MEMSTORE_DATABASE_URL") or f"sqlite:///{self.data_dir / 'registry.db'}"

    def engine(self) -> Any:
        from registry_server.db.session import create_db_engine

        return create_db_engine(self.database_url, 1)

    @contextmanager
    def database(self) -> Iterator[Any]:
        """An engine on this registry's database, disposed of at the end of the block."""
        engine = self.engine()
        try:
            yield engine
        finally:
            engine.dispose()

    def create_token(self, namespace: str, account: str | None = None, days: int = 30) -> str:
        """Bootstrap account + namespace and return a token (the admin command's service)."""
        from registry_server.services.auth import commit_bootstrap_token

        engine = self.engine()
        try:
            return commit_bootstrap_token(engine, namespace, account, days)
        finally:
            engine.dispose()

    def client(
        self, token: str | None = None, *, url: str | None = None, timeout: float = 30
    ) -> httpx.Client:
        """A client of this registry (or of its server process at ``url``), with ``token``."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=url or self.url, headers=headers, timeout=timeout)

    def admin(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``memos-registry admin COMMAND ARGS --data-dir …`` against this registry."""
        return subprocess.run(
            [
                *(sys.executable, "-m", "registry_server", "admin", command, *args),
                *("--data-dir", str(self.data_dir)),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=REPO,
        )

    def s3(self) -> Any:
        """A boto3 client of this registry's moto S3 server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.env["MEMSTORE_S3_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def with_servers(self, count: int) -> list[ServerProcess]:
        """At least ``count`` server processes on this registry's data: the first ``count``."""
        while len(self.servers) < count:
            self.start_another()
        return self.servers[:count]

    def start_another(self) -> ServerProcess:
        """A second server process sharing this one's database and storage."""
        server = start_registry_process(self.env, self.data_dir)
        self.servers.append(server)
        return server


def base_env() -> dict[str, str]:
    """The environment of a registry process in the tests: small limits, S3 credentials."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEMSTORE_")}
    env.update(S3_CREDENTIALS)
    env["PYTHONPATH"] = str(REPO)
    env["MEMSTORE_MAX_MONOLITHIC_UPLOAD_BYTES"] = str(MONOLITHIC_LIMIT)
    env["MEMSTORE_MAX_CHUNK_BYTES"] = str(CHUNK_LIMIT)
    env["MEMSTORE_DOWNLOAD_FLUSH_SECONDS"] = "0.2"
    return env


def start_registry(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    settings: dict[str, str] | None = None,
    database_url: str | None = None,
) -> Registry:
    """A new registry process of ``kind`` on its own data directory and bucket.

    ``settings`` adds ``MEMSTORE_*`` variables (small timeouts for the hostile-client tests);
    PostgreSQL is the session's database (and its log key) unless ``database_url`` names another.
    """
    data_dir = tmp_path_factory.mktemp(kind)
    env = base_env()
    if kind == "postgres-s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        env["MEMSTORE_DATABASE_URL"] = database_url or request.getfixturevalue("postgres_url")
        if database_url is None:
            # Every server on the session's database serves one transparency log: one key.
            env["MEMSTORE_LOG_KEY_FILE"] = str(tmp_path_factory.getbasetemp() / "log-key.pem")
        env["MEMSTORE_STORAGE_URL"] = f"s3://{make_bucket(endpoint)}/registry"
        env["MEMSTORE_S3_ENDPOINT_URL"] = endpoint
    env.update(settings or {})
    server = start_registry_process(env, data_dir)
    return Registry(kind, server.url, env, data_dir, [server])


@pytest.fixture(scope="session", params=["sqlite-local", "postgres-s3"])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A registry server process in each configuration."""
    registry = start_registry(request, tmp_path_factory, request.param)
    try:
        yield registry
    finally:
        for process in registry.servers:
            process.stop()
