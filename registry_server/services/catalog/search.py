"""The marketplace's search: full-text words plus facet filters, matched against latest versions.

Search runs the API's query builder (``services/search.py``: FTS5 on SQLite, a GIN ``tsvector``
index on PostgreSQL) with the catalog's facet filters (``db/catalog_models.py``), matched against
each cube's latest version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, text

from registry_server.db.catalog_models import FACET_KIND, FACET_LICENSE, FACET_MODEL, FACET_MODEL_ID
from registry_server.db.session import translate_database_errors
from registry_server.services.catalog.lists import MAX_PAGE, CubeSummary
from registry_server.services.search import query_words, search_sql

#: Part kinds offered by the search filter (MIP-1 §7).
PART_KINDS = ("plaintext", "activation", "parameter")


@dataclass(frozen=True)
class SearchFilters:
    """What the search form asks for; empty fields do not filter."""

    query: str = ""
    kind: str = ""
    model: str = ""
    license: str = ""

    @property
    def words(self) -> list[str]:
        """The query's words, lowercased, split like cube names are indexed (as the API's)."""
        return query_words(self.query)

    @property
    def active(self) -> bool:
        """True when the form asks for anything at all."""
        return bool(self.words or self.kind or self.model or self.license)


@dataclass(frozen=True)
class SearchPage:
    """One page of search results."""

    filters: SearchFilters
    total: int
    page: int
    per_page: int
    results: list[CubeSummary]

    @property
    def pages(self) -> int:
        """How many pages the results fill (at most :data:`MAX_PAGE`)."""
        return min(MAX_PAGE, max(1, -(-self.total // self.per_page)))


def search_cubes(
    engine: Engine, filters: SearchFilters, page: int = 1, per_page: int = 20
) -> SearchPage:
    """Cubes matching every given word (as prefixes) and every filter, best first."""
    page = min(max(page, 1), MAX_PAGE)
    wanted: list[tuple[tuple[str, ...], str]] = []
    if filters.kind:
        wanted.append(((FACET_KIND,), filters.kind))
    if filters.model:
        wanted.append(((FACET_MODEL, FACET_MODEL_ID), filters.model))
    if filters.license:
        wanted.append(((FACET_LICENSE,), filters.license.lower()))
    count_text, page_text, params = search_sql(engine.dialect.name, filters.words, len(wanted))
    parameters: dict[str, Any] = dict(params)
    count_sql, page_sql = text(count_text), text(page_text)
    for index, (facets, value) in enumerate(wanted):
        parameters[f"facets{index}"] = facets
        parameters[f"value{index}"] = value[:500]
        count_sql = count_sql.bindparams(bindparam(f"facets{index}", expanding=True))
        page_sql = page_sql.bindparams(bindparam(f"facets{index}", expanding=True))
    with translate_database_errors(), engine.connect() as connection:
        total = connection.execute(count_sql, parameters).scalar_one()
        rows = connection.execute(
            page_sql, {**parameters, "limit": per_page, "offset": (page - 1) * per_page}
        ).all()
    results = []
    for name, description, keywords, latest, downloads, updated_at in rows:
        if isinstance(keywords, str):  # SQLite hands JSON columns back as text through Core
            keywords = json.loads(keywords)
        if isinstance(updated_at, str):
            updated_at = datetime.fromisoformat(updated_at)
        results.append(
            CubeSummary(name, description, list(keywords), latest, downloads, updated_at)
        )
    return SearchPage(filters, int(total), page, per_page, results)
