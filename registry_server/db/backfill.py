"""Backfilling a derived table for versions published before it existed, in batches.

The catalog's facets and manifest views are written inside each publish's transaction; a database
made before one of them existed gets them here, once per process start. A cursor on the version id
(not the ``NOT EXISTS`` alone) makes progress even when a version derives to no rows, and a second
process backfilling the same database at the same moment only costs a rolled-back batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, TextClause
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mip.errors import MIPError
from registry_server.db.models import CubeVersion
from registry_server.db.session import write_session

logger = logging.getLogger("registry_server.catalog")


def backfill_versions(
    engine: Engine,
    missing: TextClause,
    derive: Callable[[Session, CubeVersion], None],
    *,
    what: str,
    batch: int = 200,
) -> int:
    """Run ``derive`` (which adds rows to the session) for every version ``missing`` selects.

    Returns how many versions were derived. A version whose manifest cannot be read is logged
    and skipped: backfilling never stops a registry from starting.
    """
    filled = 0
    after_id = 0
    while True:
        with write_session(engine) as session:
            rows = list(
                session.exec(
                    select(CubeVersion)
                    .where(col(CubeVersion.id) > after_id)
                    .where(missing)
                    .order_by(col(CubeVersion.id))
                    .limit(batch)
                )
            )
            if not rows:
                return filled
            for row in rows:
                after_id = row.id or after_id
                try:
                    derive(session, row)
                except MIPError as exc:
                    logger.warning("version %s: manifest unreadable, no %s: %s", row.id, what, exc)
                    continue
                filled += 1
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                logger.info("%s of versions up to id %s stored by another process", what, after_id)
