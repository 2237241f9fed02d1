"""Search route (spec §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from registry_server.api.deps import StateDep
from registry_server.api.responses import READ, errors
from registry_server.api.schemas import SearchBody, SearchHit
from registry_server.services import search

router = APIRouter(tags=["search"])


@router.get("/v1/search", summary="Full-text search over cubes", responses=errors(*READ))
def search_cubes(
    state: StateDep,
    q: Annotated[str, Query(max_length=500)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> SearchBody:
    """Cubes matching every word of ``q`` (as prefixes), best first."""
    total, results = search.search(state.engine, q, limit, offset)
    return SearchBody(query=q, total=total, results=[SearchHit(**hit) for hit in results])
