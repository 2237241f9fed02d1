"""Names close to one that does not exist, for the marketplace's 404 page ("did you mean").

Bounded work for an anonymous request: candidates are the cubes of the same namespace (at most
:data:`MAX_NAMESPACE_CANDIDATES`) and the best full-text matches of each word of the name (at
most :data:`MAX_WORD_CANDIDATES` per word, the first four words), ranked by ``difflib``'s ratio.
"""

from __future__ import annotations

import difflib
import re

from sqlalchemy import Engine, text

from registry_server.db.session import translate_database_errors
from registry_server.services.search import query_words, search_sql

MAX_NAMESPACE_CANDIDATES = 500
MAX_WORD_CANDIDATES = 20
#: How alike (``difflib`` ratio, 0 to 1) a name must be to be suggested.
CUTOFF = 0.6
_NAMESPACE_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


def nearest_cubes(engine: Engine, namespace: str, name: str, limit: int = 5) -> list[str]:
    """Existing cube names most like ``namespace/name``, best first."""
    wanted = f"{namespace}/{name}".lower()[:300]
    normal_namespace = re.sub(r"[-_.]+", "-", namespace.lower())
    candidates: set[str] = set()
    with translate_database_errors(), engine.connect() as connection:
        if _NAMESPACE_RE.fullmatch(normal_namespace):
            rows = connection.execute(
                text("SELECT name FROM cube WHERE normalized_name LIKE :prefix LIMIT :limit"),
                {"prefix": normal_namespace + "/%", "limit": MAX_NAMESPACE_CANDIDATES},
            )
            candidates.update(row[0] for row in rows)
        for word in query_words(f"{namespace} {name}")[:4]:
            _, page_sql, params = search_sql(engine.dialect.name, [word], 0)
            rows = connection.execute(
                text(page_sql), {**params, "limit": MAX_WORD_CANDIDATES, "offset": 0}
            )
            candidates.update(row[0] for row in rows)
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(wanted, list(by_lower), n=limit, cutoff=CUTOFF)
    return [by_lower[match] for match in close]
