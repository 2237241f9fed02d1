"""Single-row reads on a plain DB-API connection per thread, for the resolver's hot paths.

Going through the SQLAlchemy pool costs a checkout, a BEGIN and a reset-on-return around every
read, several times the read itself (an indexed lookup of ready-to-send bytes). These reads need
no transaction: one autocommit connection per thread sees every committed write (SQLite WAL,
PostgreSQL read committed). Driver errors are translated here into
``DatabaseUnavailableError``; a broken connection is dropped and reopened on the next read.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine

from registry_server.errors import DatabaseUnavailableError


class HotReader:
    """Per-thread autocommit connections to the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._url = engine.url
        self._dialect = engine.dialect.name
        self._local = threading.local()

    def _connect(self) -> Any:
        if self._dialect == "sqlite":
            connection = sqlite3.connect(
                self._url.database or ":memory:", isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA busy_timeout=30000")
            return connection
        import psycopg

        dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(dsn, autocommit=True)

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
