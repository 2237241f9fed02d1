"""The hot-read connections: reads see committed writes; driver failures become 503 errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from registry_server.db.hot_reader import HotReader
from registry_server.errors import DatabaseUnavailableError


def test_reads_see_committed_writes_without_a_transaction(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES ('a', 1)"))
    reader = HotReader(engine)
    assert reader.fetch_one("SELECT v FROM t WHERE k = ?", ("a",)) == (1,)
    with engine.begin() as connection:
        connection.execute(text("UPDATE t SET v = 2 WHERE k = 'a'"))
    assert reader.fetch_one("SELECT v FROM t WHERE k = ?", ("a",)) == (2,)
    assert asyncio.run(reader.fetch_one_async("SELECT v FROM t WHERE k = ?", ("a",))) == (2,)
    assert reader.fetch_one("SELECT v FROM t WHERE k = ?", ("missing",)) is None
    engine.dispose()


def test_driver_failures_become_database_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite'}")
    reader = HotReader(engine)
    with pytest.raises(DatabaseUnavailableError, match="database unavailable"):
        reader.fetch_one("SELECT 1", ())
    broken = HotReader(create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}"))
    with pytest.raises(DatabaseUnavailableError, match="no such table"):
        broken.fetch_one("SELECT v FROM missing_table", ())


def test_postgres_failures_become_database_unavailable() -> None:
    from tests.support import free_port

    engine = create_engine(f"postgresql+psycopg://127.0.0.1:{free_port()}/nothing")
    reader = HotReader(engine)
    with pytest.raises(DatabaseUnavailableError):
        reader.fetch_one("SELECT 1", ())
    with pytest.raises(DatabaseUnavailableError):
        asyncio.run(reader.fetch_one_async("SELECT 1", ()))
