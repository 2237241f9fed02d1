"""The catalog's facets: written with each published version, backfilled for older databases.

``record_facets`` runs inside the publishing transaction, so a version is never visible without its
facets. ``prepare_catalog`` runs once per process: it creates the catalog's indexes on databases
made before they existed and derives the facets of versions published before the catalog did.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from mip.dsse import Envelope, parse_envelope
from mip.errors import MIPError
from mip.manifest import decode_manifest
from mip.models import ActivationPart, Manifest, ParameterPart
from registry_server.db.catalog_models import (
    CUBE_INDEXES,
    FACET_KIND,
    FACET_LICENSE,
    FACET_MODEL,
    FACET_MODEL_ID,
    VersionFacet,
)
from registry_server.db.models import CubeVersion
from registry_server.db.session import translate_database_errors, write_session

logger = logging.getLogger("registry_server.catalog")

#: Versions derived per transaction while backfilling.
BACKFILL_BATCH = 500


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
    for (facet, value), label in facets_of(manifest).items():
        session.add(
            VersionFacet(
                version_id=version.id,
                facet=facet,
                value=value,
                cube_id=version.cube_id,
                label=label[:500],
            )
        )


def load_manifest(row: CubeVersion) -> tuple[Envelope, Manifest]:
    """The stored envelope of a version and the manifest it carries."""
    envelope = parse_envelope(bytes(row.envelope))
    return envelope, decode_manifest(envelope.payload)


def prepare_catalog(engine: Engine) -> int:
    """Create missing catalog indexes and backfill facets; return how many versions were filled."""
    with translate_database_errors(), engine.begin() as connection:
        for index in CUBE_INDEXES:
            index.create(connection, checkfirst=True)
    filled = 0
    after_id = 0
    while True:
        with write_session(engine) as session:
            missing = list(
                session.exec(
                    select(CubeVersion)
                    .where(col(CubeVersion.id) > after_id)
                    .where(
                        text(
                            "NOT EXISTS (SELECT 1 FROM version_facet f "
                            "WHERE f.version_id = cube_version.id)"
                        )
                    )
                    .order_by(col(CubeVersion.id))
                    .limit(BACKFILL_BATCH)
                )
            )
            if not missing:
                return filled
            for row in missing:
                # A cursor, not the NOT EXISTS alone: a version without parts or licence has no
                # facets and would otherwise be selected again forever.
                after_id = row.id or after_id
                try:
                    _, manifest = load_manifest(row)
                except MIPError as exc:
                    logger.warning("version %s: manifest unreadable, no facets: %s", row.id, exc)
                    continue
                record_facets(session, row, manifest)
                filled += 1
            session.commit()
