"""The search form's suggestions (licences, models), reused for a while between queries.

One :class:`FacetChoicesCache` per application, made by the app factory and kept in its state
(``AppState.facet_choices``): no module-level cache shared by every app a process builds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import col, func, select

from registry_server.db.catalog_models import FACET_LICENSE, FACET_MODEL, CubeFacet
from registry_server.db.session import read_session

#: How long the filter suggestions are reused before being queried again.
CHOICES_TTL_SECONDS = 60.0
#: Most suggestions listed per filter.
MAX_FACET_CHOICES = 200


@dataclass(frozen=True)
class FacetChoice:
    """A value a filter may take, with what people read for it."""

    value: str
    label: str


Choices = dict[str, list[FacetChoice]]


def query_facet_choices(engine: Engine) -> Choices:
    """Licences and models of the cubes' latest versions, straight from the database."""
    choices: Choices = {FACET_LICENSE: [], FACET_MODEL: []}
    with read_session(engine) as session:
        for facet in choices:
            rows = session.exec(
                select(CubeFacet.value, func.max(CubeFacet.label))
                .where(CubeFacet.facet == facet)
                .group_by(col(CubeFacet.value))
                .order_by(col(CubeFacet.value))
                .limit(MAX_FACET_CHOICES)
            ).all()
            choices[facet] = [FacetChoice(value, label or value) for value, label in rows]
    return choices


class FacetChoicesCache:
    """The suggestions of one registry database, queried at most once per ``ttl_seconds``.

    Suggestions may lag by that long; the filters themselves never do.
    """

    def __init__(
        self,
        engine: Engine,
        ttl_seconds: float = CHOICES_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, Choices] | None = None

    def get(self) -> Choices:
        """The current suggestions (from the cache while fresh)."""
        now = self._clock()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < self._ttl:
                return self._cached[1]
        choices = query_facet_choices(self._engine)
        with self._lock:
            self._cached = (now, choices)
        return choices
