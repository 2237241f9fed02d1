"""The catalog's lists: the home page's recent and popular cubes, a namespace's cubes and keys.

Each function opens one read session and returns plain dataclasses the templates render; only the
cube columns a list shows are read (the cube row also holds the large resolver document).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import select as core_select
from sqlmodel import col, func, select

from mip.errors import MIPError
from mip.names import validate_namespace
from registry_server.db.models import Cube, Namespace, SigningKeyRecord
from registry_server.db.session import read_session
from registry_server.errors import NotFoundError

#: Deepest result page served (bounds OFFSET scans).
MAX_PAGE = 500


@dataclass(frozen=True)
class CubeSummary:
    """One cube in a list."""

    name: str
    description: str
    keywords: list[str]
    latest_version: str | None
    downloads: int
    updated_at: datetime

    @property
    def namespace(self) -> str:
        """The namespace part of the name."""
        return self.name.split("/", 1)[0]


@dataclass(frozen=True)
class HomePage:
    """The home page's lists."""

    total_cubes: int
    total_namespaces: int
    recent: list[CubeSummary]
    popular: list[CubeSummary]


@dataclass(frozen=True)
class NamespacePage:
    """A namespace, its cubes (one page) and its signing keys."""

    namespace: Namespace
    total: int
    page: int
    per_page: int
    cubes: list[CubeSummary]
    keys: list[SigningKeyRecord]
    downloads: int

    @property
    def pages(self) -> int:
        """How many pages the cubes fill."""
        return min(MAX_PAGE, max(1, -(-self.total // self.per_page)))


# Only these columns: the cube row also holds the (large) resolver document.
_SUMMARY_COLUMNS = (
    col(Cube.name),
    col(Cube.description),
    col(Cube.keywords),
    col(Cube.latest_version),
    col(Cube.downloads),
    col(Cube.updated_at),
)


def _summaries(rows: Any) -> list[CubeSummary]:
    return [
        CubeSummary(
            name=name,
            description=description,
            keywords=list(keywords),
            latest_version=latest,
            downloads=downloads,
            updated_at=updated_at,
        )
        for name, description, keywords, latest, downloads, updated_at in rows
    ]


def home_page(engine: Engine, limit: int = 10) -> HomePage:
    """Counts, the most recently updated cubes and the most downloaded ones."""
    with read_session(engine) as session:
        total_cubes = session.exec(select(func.count()).select_from(Cube)).one()
        total_namespaces = session.exec(select(func.count()).select_from(Namespace)).one()
        recent = session.execute(
            core_select(*_SUMMARY_COLUMNS).order_by(col(Cube.updated_at).desc()).limit(limit)
        ).all()
        popular = session.execute(
            core_select(*_SUMMARY_COLUMNS)
            .order_by(col(Cube.downloads).desc(), col(Cube.normalized_name))
            .limit(limit)
        ).all()
        return HomePage(
            int(total_cubes), int(total_namespaces), _summaries(recent), _summaries(popular)
        )


def namespace_page(
    engine: Engine, namespace: str, page: int = 1, per_page: int = 50
) -> NamespacePage:
    """A namespace's cubes by name, its registered keys and its total downloads."""
    page = min(max(page, 1), MAX_PAGE)
    try:
        normalized = validate_namespace(namespace)
    except MIPError as exc:
        raise NotFoundError(
            f"namespace {namespace!r} does not exist", code="namespace_not_found"
        ) from exc
    with read_session(engine) as session:
        row = session.exec(select(Namespace).where(Namespace.normalized_name == normalized)).first()
        if row is None:
            raise NotFoundError(
                f"namespace {namespace!r} does not exist", code="namespace_not_found"
            )
        total, downloads = session.exec(
            select(func.count(), func.coalesce(func.sum(Cube.downloads), 0)).where(
                Cube.namespace_id == row.id
            )
        ).one()
        cubes = session.execute(
            core_select(*_SUMMARY_COLUMNS)
            .where(col(Cube.namespace_id) == row.id)
            .order_by(col(Cube.normalized_name))
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        keys = list(
            session.exec(
                select(SigningKeyRecord)
                .where(SigningKeyRecord.namespace_id == row.id)
                .order_by(col(SigningKeyRecord.id))
            )
        )
        return NamespacePage(
            row, int(total), page, per_page, _summaries(cubes), keys, int(downloads)
        )
