"""Full-text search over cube names, descriptions, keywords and tags (spec §7).

SQLite: an FTS5 table ``cube_fts`` (rowid = cube id) ranked by BM25 with names weighted highest.
PostgreSQL: a GIN index on ``to_tsvector('english', cube.search_text)`` ranked by ``ts_rank``.
Each query word matches as a prefix; all words must match.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from registry_server.db.models import Cube
from registry_server.db.session import translate_database_errors
from registry_server.errors import InvalidQueryError

_WORD_RE = re.compile(r"\w+")
MAX_QUERY_WORDS = 16


def _name_words(name: str) -> str:
    return " ".join(_WORD_RE.findall(name.replace("_", " ")))


def update_search_entry(session: Session, cube: Cube) -> None:
    """Refresh the cube's search entry (inside the publishing transaction)."""
    keywords = " ".join(cube.keywords)
    tags = " ".join(cube.tags)
    cube.search_text = " ".join(
        part for part in (_name_words(cube.name), cube.description, keywords, tags) if part
    )
    session.add(cube)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DELETE FROM cube_fts WHERE rowid = :id"), {"id": cube.id})
        session.execute(
            text(
                "INSERT INTO cube_fts (rowid, name, description, keywords, tags) "
                "VALUES (:id, :name, :description, :keywords, :tags)"
            ),
            {
                "id": cube.id,
                "name": _name_words(cube.name),
                "description": cube.description,
                "keywords": keywords,
                "tags": tags,
            },
        )


def _iso(value: Any) -> str:
    if isinstance(value, str):  # SQLite through Core: 'YYYY-MM-DD HH:MM:SS.ffffff', UTC
        value = datetime.fromisoformat(value)
    return str(value.replace(tzinfo=None).isoformat()) + "Z"


def search(engine: Engine, query: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """``(total, page of results)`` for ``query``, best match first."""
    words = [word.lower() for word in _WORD_RE.findall(query)][:MAX_QUERY_WORDS]
    # '_' is a word character for the regex but a separator in names.
    words = [part for word in words for part in word.split("_") if part]
    if not words:
        raise InvalidQueryError("empty search query: give at least one word")
    columns = "c.name, c.description, c.keywords, c.latest_version, c.downloads, c.updated_at"
    if engine.dialect.name == "sqlite":
        match = " ".join(f'"{word}"*' for word in words)
        base = "FROM cube_fts f JOIN cube c ON c.id = f.rowid WHERE cube_fts MATCH :q"
        order = "ORDER BY bm25(cube_fts, 10.0, 1.0, 5.0, 5.0), c.downloads DESC"
    else:
        match = " & ".join(f"{word}:*" for word in words)
        vector = "to_tsvector('english', c.search_text)"
        base = f"FROM cube c WHERE {vector} @@ to_tsquery('english', :q)"
        order = f"ORDER BY ts_rank({vector}, to_tsquery('english', :q)) DESC, c.downloads DESC"
    with translate_database_errors(), engine.connect() as connection:
        total = connection.execute(text(f"SELECT count(*) {base}"), {"q": match}).scalar_one()
        rows = connection.execute(
            text(f"SELECT {columns} {base} {order} LIMIT :limit OFFSET :offset"),
            {"q": match, "limit": limit, "offset": offset},
        ).all()
    results = []
    for name, description, keywords, latest, downloads, updated_at in rows:
        if isinstance(keywords, str):  # SQLite returns JSON columns as text through Core
            keywords = json.loads(keywords)
        results.append(
            {
                "name": name,
                "description": description,
                "keywords": keywords,
                "latest_version": latest,
                "downloads": downloads,
                "updated_at": _iso(updated_at),
            }
        )
    return int(total), results
