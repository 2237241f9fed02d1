"""Engine and sessions: SQLite (WAL) by default, PostgreSQL in production; schema set-up.

SQLAlchemy errors are translated here, once, into ``DatabaseUnavailableError``; integrity errors
are left to the services, which decide races with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, SQLModel

from registry_server.db import (  # noqa: F401  (registers the tables)
    catalog_models,
    derived_models,
    log_models,
    models,
)
from registry_server.errors import DatabaseUnavailableError, RegistryError

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS cube_fts USING fts5("
    "name, description, keywords, tags, tokenize='unicode61')"
)
_POSTGRES_FTS = (
    "CREATE INDEX IF NOT EXISTS ix_cube_search ON cube "
    "USING GIN (to_tsvector('english', search_text))"
)
#: Any constant: serialises schema creation when several servers start on one database.
_SCHEMA_LOCK = 7_405_112


def create_db_engine(url: str, pool_size: int = 10) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and explicit transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, emit BEGIN (so writes can BEGIN IMMEDIATE).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # A write transaction takes the lock up front: a deferred one that reads and then
            # writes can fail with SQLITE_BUSY when another writer got there first.
            immediate = connection.get_execution_options().get("immediate", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def init_schema(engine: Engine) -> None:
    """Create missing tables and the full-text index (idempotent; safe with parallel starts)."""
    with translate_database_errors():
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK}
                )
                SQLModel.metadata.create_all(connection)
                connection.execute(text(_POSTGRES_FTS))
        else:
            SQLModel.metadata.create_all(engine)
            with engine.begin() as connection:
                connection.execute(text(_SQLITE_FTS))


@contextmanager
def translate_database_errors() -> Iterator[None]:
    """Turn SQLAlchemy's operational failures into :class:`DatabaseUnavailableError`."""
    try:
        yield
    except (RegistryError, IntegrityError):
        raise
    except OperationalError as exc:
        raise DatabaseUnavailableError(f"database unavailable: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(f"database error: {type(exc).__name__}") from exc


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads (no commit)."""
    with translate_database_errors(), Session(engine) as session:
        yield session


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction the caller commits once; rolled back on any error."""
    with translate_database_errors(), Session(engine.execution_options(immediate=True)) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
