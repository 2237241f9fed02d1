"""Full-text search over cube names, descriptions and keywords (spec §7; the tags column stays empty).

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

_WORD_RE = re.compile(r"\w+")
MAX_QUERY_WORDS = 16
#: Longest search string considered; the rest is ignored.
MAX_QUERY_CHARS = 500


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


def query_words(query: str) -> list[str]:
    r"""The words a search matches: lowercased ``\w+`` runs of the first 500 characters, split at
    ``_`` (a separator in names), the first 16. The API and the web search both use this."""
    words = [word.lower() for word in _WORD_RE.findall(query[:MAX_QUERY_CHARS])]
    words = [part for word in words for part in word.split("_") if part]
    return words[:MAX_QUERY_WORDS]


def _facet_condition(index: int, id_column: str) -> str:
    # cube_facet holds the facets of each cube's latest version: what its page shows.
    return (
        f"{id_column} IN (SELECT f{index}.cube_id FROM cube_facet f{index} "
        f"WHERE f{index}.facet IN :facets{index} AND f{index}.value = :value{index})"
    )


_COLUMNS = "c.name, c.description, c.keywords, c.latest_version, c.downloads, c.updated_at"


def search_sql(dialect: str, words: list[str], filters: int) -> tuple[str, str, dict[str, str]]:
    """``(count SQL, page SQL, parameters)`` of a search; every fragment is a constant here.

    The API (:func:`search`) and the marketplace (``catalog.search_cubes``, with facet filters)
    run the same statements, so the same query lists the same cubes in the same order.

    User input only ever travels as bound parameters (the FTS query string too, built from
    ``\\w+`` words, each quoted, so any input is a literal prefix query).
    """
    if words and dialect == "sqlite":
        # Rank inside the FTS5 table and join the cube rows of one page only: joining every
        # match before ranking costs a cube-row read per match.
        where = " AND ".join(
            ["cube_fts MATCH :q"] + [_facet_condition(i, "rowid") for i in range(filters)]
        )
        count = f"SELECT count(*) FROM cube_fts WHERE {where}"
        page = (
            f"SELECT {_COLUMNS} FROM (SELECT rowid AS id, bm25(cube_fts, 10.0, 1.0, 5.0, 5.0) "
            f"AS rank FROM cube_fts WHERE {where} ORDER BY rank LIMIT :limit OFFSET :offset) r "
            "JOIN cube c ON c.id = r.id ORDER BY r.rank, c.downloads DESC"
        )
        return count, page, {"q": " ".join(f'"{word}"*' for word in words)}
    conditions = [_facet_condition(i, "c.id") for i in range(filters)]
    order = "c.downloads DESC, c.normalized_name"
    params = {}
    if words:
        vector = "to_tsvector('english', c.search_text)"
        conditions.insert(0, f"{vector} @@ to_tsquery('english', :q)")
        order = f"ts_rank({vector}, to_tsquery('english', :q)) DESC, c.downloads DESC"
        params["q"] = " & ".join(f"{word}:*" for word in words)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    count = f"SELECT count(*) FROM cube c {where}"
    if not words:
        # Counting needs no cube row: intersect the facets' index ranges.
        sets = " INTERSECT ".join(
            f"SELECT cube_id FROM cube_facet WHERE facet IN :facets{i} AND value = :value{i}"
            for i in range(filters)
        )
        count = f"SELECT count(*) FROM ({sets}) matched" if filters else "SELECT count(*) FROM cube"
    page = f"SELECT {_COLUMNS} FROM cube c {where} ORDER BY {order} LIMIT :limit OFFSET :offset"
    return count, page, params


def search(engine: Engine, query: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """``(total, page of results)`` for ``query``, best match first.

    A query without words (empty, or only punctuation) lists every cube, most downloaded first,
    as the marketplace's search page does.
    """
    count_sql, page_sql, params = search_sql(engine.dialect.name, query_words(query), 0)
    with translate_database_errors(), engine.connect() as connection:
        total = connection.execute(text(count_sql), params).scalar_one()
        rows = connection.execute(
            text(page_sql), {**params, "limit": limit, "offset": offset}
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
