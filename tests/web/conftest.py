"""Fixtures of the marketplace tests: one registry seeded with real, published bundles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mip.keys import SigningKey
from registry_server.app import create_app
from registry_server.settings import Settings, load_settings
from tests.support import fresh_postgres_database
from tests.web.seeding import create_token, seed_marketplace


@dataclass
class Seeded:
    """A running app (in-process) with the marketplace cubes published."""

    client: TestClient
    settings: Settings
    key: SigningKey
    tokens: dict[str, str]
    workdir: Path


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """The marketplace cubes, published through the HTTP API of an in-process app.

    Once on SQLite (FTS5) and once on PostgreSQL (tsvector): the search queries differ.
    """
    with ExitStack() as stack:
        database_url = ""
        if request.param == "postgres":
            database_url = stack.enter_context(fresh_postgres_database("memstore_web"))
        yield from _seeded(tmp_path_factory, database_url)


def _seeded(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp("market")
    settings = load_settings(
        data_dir=root / "data", database_url=database_url, download_flush_seconds=3600
    )
    settings.data_dir.mkdir(parents=True)
    tokens = {ns: create_token(settings.resolved_database_url(), ns) for ns in ("acme", "evil")}
    key = SigningKey.generate()
    with TestClient(create_app(settings)) as client:
        state = client.app.state.registry  # type: ignore[attr-defined]
        # On PostgreSQL the envelope route reads through the registry's asyncio connection pool,
        # which is bound to TestClient's event loop and never closed with it (a ResourceWarning
        # at exit): count the two downloads on the registry's own counter instead.
        seed_marketplace(client, tokens, key, root / "src", download=not database_url)
        if database_url:
            with state.engine.connect() as connection:
                version_id, cube_id = connection.execute(
                    text(
                        "SELECT v.id, v.cube_id FROM cube_version v JOIN cube c ON c.id = v.cube_id "
                        "WHERE c.name = 'acme/handbook' AND v.version = '1.1.0'"
                    )
                ).one()
            for _ in range(2):
                state.downloads.add(version_id, cube_id)
        state.downloads.flush()
        yield Seeded(client, settings, key, tokens, root)
