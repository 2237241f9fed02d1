"""The hot-read connections: reads see committed writes; driver failures become 503 errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from registry_server.db.hot_reader import ASYNC_POOL_SIZE, HotReader
from registry_server.errors import DatabaseUnavailableError
from tests.support import free_port, fresh_postgres_database


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
    engine = create_engine(f"postgresql+psycopg://127.0.0.1:{free_port()}/nothing")
    reader = HotReader(engine, pool_timeout=1)
    with pytest.raises(DatabaseUnavailableError):
        reader.fetch_one("SELECT 1", ())

    async def read() -> None:
        try:
            with pytest.raises(DatabaseUnavailableError, match="no connection within 1 s"):
                await reader.fetch_one_async("SELECT 1", ())
        finally:
            await reader.aclose()

    asyncio.run(read())


@pytest.mark.postgres
def test_cancelled_reads_give_their_connections_back() -> None:
    """Reads cancelled while waiting for, or holding, a pooled connection lose no slot.

    The hand-rolled pool this replaced lost a slot for each cancellation between taking a
    connection and returning it; after ``ASYNC_POOL_SIZE`` of them every hot read hung.
    """
    with fresh_postgres_database() as url:
        engine = create_engine(url)
        reader = HotReader(engine, pool_size=ASYNC_POOL_SIZE, pool_timeout=5)

        async def load() -> None:
            try:
                for round_number in range(3):
                    # Many more readers than slots, each cancelled mid-query or mid-wait.
                    tasks = [
                        asyncio.create_task(reader.fetch_one_async("SELECT pg_sleep(0.2)", ()))
                        for _ in range(ASYNC_POOL_SIZE * 6)
                    ]
                    await asyncio.sleep(0.05 + 0.05 * round_number)
                    for task in tasks:
                        task.cancel()
                    results = await asyncio.gather(*tasks, return_exceptions=True)
                    # On a loaded machine a few may finish first; none may fail otherwise.
                    assert all(
                        isinstance(r, asyncio.CancelledError) or r == ("",) for r in results
                    ), results
                    assert any(isinstance(r, asyncio.CancelledError) for r in results)
                # Every slot is usable again: as many concurrent reads as the pool holds answer.
                answers = await asyncio.wait_for(
                    asyncio.gather(
                        *(
                            reader.fetch_one_async("SELECT ?::int", (index,))
                            for index in range(ASYNC_POOL_SIZE * 2)
                        )
                    ),
                    timeout=10,
                )
                assert answers == [(index,) for index in range(ASYNC_POOL_SIZE * 2)]
            finally:
                await reader.aclose()

        try:
            asyncio.run(load())
        finally:
            engine.dispose()
