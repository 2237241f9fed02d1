"""Single-row reads on plain driver connections, for the resolver's hot paths.

Going through the SQLAlchemy pool costs a checkout, a BEGIN and a reset-on-return around every
read, several times the read itself (an indexed lookup of ready-to-send bytes). These reads need
no transaction: one autocommit connection per thread sees every committed write (SQLite WAL,
PostgreSQL read committed). Driver errors are translated here into
``DatabaseUnavailableError``; a broken connection is dropped and reopened on the next read.

From the event loop, :meth:`HotReader.fetch_one_async` reads SQLite inline (a page-cache lookup
is faster than any hand-off) and PostgreSQL through ``psycopg_pool``'s
``AsyncConnectionPool``, so requests overlap their round trips instead of blocking the loop on
each. The pool, not this module, keeps the slot accounting: a request cancelled while it waits
for or holds a connection (a client that hangs up) gives its slot back.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from registry_server.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

#: Asyncio connections per process for PostgreSQL hot reads.
ASYNC_POOL_SIZE = 8
#: How long a hot read waits for a pooled connection before answering ``database_unavailable``.
ASYNC_POOL_TIMEOUT = 10.0


class HotReader:
    """Autocommit connections to the engine's database: one per thread, plus an asyncio pool."""

    def __init__(
        self,
        engine: Engine,
        *,
        pool_size: int = ASYNC_POOL_SIZE,
        pool_timeout: float = ASYNC_POOL_TIMEOUT,
    ) -> None:
        self._url = engine.url
        self._dialect = engine.dialect.name
        self._local = threading.local()
        self._pool: AsyncConnectionPool[Any] | None = None
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout

    def _dsn(self) -> str:
        return self._url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _async_pool(self) -> AsyncConnectionPool[Any]:
        """The process's pool, opened on first use (it must be made inside the event loop)."""
        if self._pool is None:
            from psycopg_pool import AsyncConnectionPool

            # Assigned before the first await, so concurrent first requests share one pool.
            self._pool = AsyncConnectionPool(
                self._dsn(),
                kwargs={"autocommit": True},
                min_size=0,
                max_size=self._pool_size,
                timeout=self._pool_timeout,
                open=False,
                name="hot-reads",
            )
        await self._pool.open()
        return self._pool

    async def fetch_one_async(
        self, query: str, parameters: tuple[Any, ...]
    ) -> tuple[Any, ...] | None:
        """:meth:`fetch_one` for the event loop (PostgreSQL round trips do not block it)."""
        if self._dialect == "sqlite":
            return self.fetch_one(query, parameters)
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = await self._async_pool()
        try:
            async with pool.connection() as connection:
                cursor = await connection.execute(query.replace("?", "%s"), parameters)
                row = await cursor.fetchone()
        except PoolTimeout as exc:
            raise DatabaseUnavailableError(
                f"database unavailable: no connection within {self._pool_timeout:g} s ({exc})"
            ) from exc
        except psycopg.Error as exc:
            # The pool discards a connection that a failed query left broken.
            raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
        return None if row is None else tuple(row)

    async def aclose(self) -> None:
        """Close the asyncio pool (the app's shutdown); thread connections close with threads."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _connect(self) -> Any:
        if self._dialect == "sqlite":
            connection = sqlite3.connect(
                self._url.database or ":memory:", isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA busy_timeout=30000")
            return connection
        import psycopg

        return psycopg.connect(self._dsn(), autocommit=True)

    def fetch_one(self, query: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The first row of ``query`` (written with ``?`` placeholders), or ``None``."""
        if self._dialect != "sqlite":
            query = query.replace("?", "%s")
        connection = getattr(self._local, "connection", None)
        try:
            if connection is None:
                connection = self._local.connection = self._connect()
            row = connection.execute(query, parameters).fetchone()
        except Exception as exc:
            self._local.connection = None
            if connection is not None:
                with suppress(Exception):  # already broken; nothing more to do
                    connection.close()
            if _is_driver_error(exc):
                raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
            raise
        return None if row is None else tuple(row)


def _is_driver_error(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover  (SQLite-only installs)
        return False
    return isinstance(exc, psycopg.Error)
