"""Single-row reads on plain driver connections, for the resolver's hot paths.

Going through the SQLAlchemy pool costs a checkout, a BEGIN and a reset-on-return around every
read, several times the read itself (an indexed lookup of ready-to-send bytes). These reads need
no transaction: one autocommit connection per thread sees every committed write (SQLite WAL,
PostgreSQL read committed). Driver errors are translated here into
``DatabaseUnavailableError``; a broken connection is dropped and reopened on the next read.

From the event loop, :meth:`HotReader.fetch_one_async` reads SQLite inline (a page-cache lookup
is faster than any hand-off) and PostgreSQL through a small pool of asyncio connections, so
requests overlap their round trips instead of blocking the loop on each.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine

from registry_server.errors import DatabaseUnavailableError

#: Asyncio connections per process for PostgreSQL hot reads.
ASYNC_POOL_SIZE = 8


class HotReader:
    """Autocommit connections to the engine's database: one per thread, plus an asyncio pool."""

    def __init__(self, engine: Engine) -> None:
        self._url = engine.url
        self._dialect = engine.dialect.name
        self._local = threading.local()
        self._pool: asyncio.Queue[Any] | None = None
        self._opened = 0

    def _dsn(self) -> str:
        return self._url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def fetch_one_async(
        self, query: str, parameters: tuple[Any, ...]
    ) -> tuple[Any, ...] | None:
        """:meth:`fetch_one` for the event loop (PostgreSQL round trips do not block it)."""
        if self._dialect == "sqlite":
            return self.fetch_one(query, parameters)
        import psycopg

        if self._pool is None:
            self._pool = asyncio.Queue()
        if self._pool.empty() and self._opened < ASYNC_POOL_SIZE:
            self._opened += 1
            try:
                connection = await psycopg.AsyncConnection.connect(self._dsn(), autocommit=True)
            except psycopg.Error as exc:
                self._opened -= 1
                raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
        else:
            connection = await self._pool.get()
        try:
            cursor = await connection.execute(query.replace("?", "%s"), parameters)
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            self._opened -= 1
            with suppress(Exception):  # already broken; nothing more to do
                await connection.close()
            raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
        self._pool.put_nowait(connection)
        return None if row is None else tuple(row)

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
