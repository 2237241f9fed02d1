"""The catalog's facets: written with each published version, backfilled for older databases.

``record_facets`` runs inside the publishing transaction, so a version is never visible without its
facets; ``refresh_cube_facets`` runs wherever a cube's latest version is recomputed
(``resolve.rebuild_index``: publish, yank, unyank). ``prepare_catalog`` runs once per process: it creates the catalog's indexes on databases
made before they existed and derives the facets of versions published before the catalog did.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, delete, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex
from sqlmodel import Session, col

from mip.dsse import Envelope, parse_envelope
from mip.manifest import decode_manifest
from mip.models import ActivationPart, Manifest, ParameterPart
from registry_server.db.backfill import backfill_versions
from registry_server.db.catalog_models import (
    CUBE_INDEXES,
    FACET_KIND,
    FACET_LICENSE,
    FACET_MODEL,
    FACET_MODEL_ID,
    CubeFacet,
    VersionFacet,
)
from registry_server.db.models import Cube, CubeVersion, storable_text
from registry_server.db.session import translate_database_errors, write_session

logger = logging.getLogger("registry_server.catalog")


def facets_of(manifest: Manifest) -> dict[tuple[str, str], str]:
    """``(facet, value) -> label`` for a manifest: part kinds, model fingerprints, licence."""
    found: dict[tuple[str, str], str] = {}
    for part in manifest.parts:
        found[(FACET_KIND, part.kind[:500])] = part.kind
        model = (
            part.model
            if isinstance(part, ActivationPart)
            else part.base_model
            if isinstance(part, ParameterPart)
            else None
        )
        if model is not None:
            found[(FACET_MODEL, model.digest)] = model.model_id
            found[(FACET_MODEL_ID, model.model_id)] = model.model_id
    if manifest.license:
        # Licence filters match case-insensitively (SPDX ids are case-insensitive).
        found[(FACET_LICENSE, manifest.license.lower())] = manifest.license
    return found


def record_facets(session: Session, version: CubeVersion, manifest: Manifest) -> None:
    """Add the facet rows of a just-inserted version (inside the caller's transaction)."""
    assert version.id is not None
    # Keyed again after storable_text: two values may differ only by a NUL and U+FFFD.
    rows = {
        (facet, storable_text(value)): storable_text(label[:500])
        for (facet, value), label in facets_of(manifest).items()
    }
    for (facet, value), label in rows.items():
        session.add(
            VersionFacet(
                version_id=version.id,
                facet=facet,
                value=value,
                cube_id=version.cube_id,
                label=label,
            )
        )


def refresh_cube_facets(session: Session, cube: Cube, latest: CubeVersion | None) -> None:
    """Make ``cube_facet`` hold the facets of the cube's latest version (caller's transaction)."""
    session.flush()  # the latest version's facet rows may still be pending
    session.execute(delete(CubeFacet).where(col(CubeFacet.cube_id) == cube.id))
    if latest is not None:
        session.execute(
            text(
                "INSERT INTO cube_facet (facet, value, cube_id, label) "
                "SELECT facet, value, cube_id, label FROM version_facet WHERE version_id = :id"
            ),
            {"id": latest.id},
        )


def _rebuild_all_cube_facets(engine: Engine) -> None:
    """Recompute ``cube_facet`` for every cube (after a backfill, or on a fresh table)."""
    try:
        with write_session(engine) as session:
            session.execute(delete(CubeFacet))
            session.execute(
                text(
                    "INSERT INTO cube_facet (facet, value, cube_id, label) "
                    "SELECT f.facet, f.value, f.cube_id, f.label FROM version_facet f "
                    "JOIN cube_version v ON v.id = f.version_id "
                    "JOIN cube c ON c.id = f.cube_id WHERE v.version = c.latest_version"
                )
            )
            session.commit()
    except IntegrityError:
        # Another server process starting at the same moment rebuilt it first.
        logger.info("cube facets rebuilt by another process")


def load_manifest(row: CubeVersion) -> tuple[Envelope, Manifest]:
    """The stored envelope of a version and the manifest it carries."""
    envelope = parse_envelope(bytes(row.envelope))
    return envelope, decode_manifest(envelope.payload)


def prepare_catalog(engine: Engine) -> int:
    """Create missing catalog indexes and backfill facets; return how many versions were filled."""
    with translate_database_errors(), engine.begin() as connection:
        for index in CUBE_INDEXES:
            connection.execute(CreateIndex(index, if_not_exists=True))
    filled = backfill_versions(
        engine,
        text("NOT EXISTS (SELECT 1 FROM version_facet f WHERE f.version_id = cube_version.id)"),
        lambda session, row: record_facets(session, row, load_manifest(row)[1]),
        what="facets",
        batch=500,
    )
    with translate_database_errors(), engine.connect() as connection:
        empty = connection.execute(text("SELECT 1 FROM cube_facet LIMIT 1")).first() is None
        facets = connection.execute(text("SELECT 1 FROM version_facet LIMIT 1")).first()
    if filled or (empty and facets is not None):
        _rebuild_all_cube_facets(engine)
    if filled:
        logger.info("catalog: derived the facets of %d versions published before it", filled)
    return filled
