"""Fixtures of the marketplace tests: one registry seeded with real, published bundles."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import text

from mip.keys import SigningKey
from registry_server.app import create_app
from registry_server.settings import Settings, load_settings
from tests.support import fresh_postgres_database, start_registry_process
from tests.web.odd_seeding import REFUSED_AT_PUBLISH, odd_cubes
from tests.web.seeding import create_token, publish_manifest, seed_marketplace


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


REPO = Path(__file__).resolve().parents[2]
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 15


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry process on loopback, seeded with the marketplace cubes."""
    root = tmp_path_factory.mktemp("live-market")
    data = root / "data"
    data.mkdir()
    database_url = f"sqlite:///{data / 'registry.db'}"
    tokens = {ns: create_token(database_url, ns) for ns in ("acme", "evil")}
    env = {**os.environ, "PYTHONPATH": str(REPO), "MEMSTORE_DOWNLOAD_FLUSH_SECONDS": "0.2"}
    server = start_registry_process(env, data)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            key = SigningKey.generate()
            seed_marketplace(client, tokens, key, root / "src")
            odd = create_token(database_url, "odd")
            for _, document, blobs in odd_cubes():
                if document["name"] not in REFUSED_AT_PUBLISH:  # a process: nothing to patch
                    publish_manifest(client, odd, key, document, blobs)
        yield server.url
    finally:
        server.stop()


def _require_browser() -> None:
    chromium = shutil.which("chromium")
    if chromium is None or not Path(CHROMEDRIVER).exists():
        pytest.fail(
            "headless Chromium is missing: install the Debian packages 'chromium' and "
            "'chromium-driver' (run scripts/browsers) — browser tests never skip"
        )


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile, driven through the system chromedriver."""
    _require_browser()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    # Every request the pages make is logged, so tests can check none leaves the registry.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
