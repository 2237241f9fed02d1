"""Fixtures of the marketplace tests: one registry seeded with real, published bundles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mip.keys import SigningKey
from registry_server.app import create_app
from registry_server.settings import Settings, load_settings
from tests.web.seeding import create_token, seed_marketplace


@dataclass
class Seeded:
    """A running app (in-process) with the marketplace cubes published."""

    client: TestClient
    settings: Settings
    key: SigningKey
    tokens: dict[str, str]
    workdir: Path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The marketplace cubes, published through the HTTP API of an in-process app."""
    root = tmp_path_factory.mktemp("market")
    settings = load_settings(data_dir=root / "data", download_flush_seconds=3600)
    settings.data_dir.mkdir(parents=True)
    tokens = {ns: create_token(settings.resolved_database_url(), ns) for ns in ("acme", "evil")}
    key = SigningKey.generate()
    with TestClient(create_app(settings)) as client:
        seed_marketplace(client, tokens, key, root / "src")
        client.app.state.registry.downloads.flush()  # type: ignore[attr-defined]
        yield Seeded(client, settings, key, tokens, root)
