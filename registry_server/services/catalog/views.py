"""What the pages show of a version's manifest, derived once at publish and stored.

A manifest lives inside its signed envelope, and decoding it strictly (schema, limits, duplicate
keys) is the costliest thing a page could do, on every anonymous view. So the publishing
transaction derives a :class:`ManifestView` -- the fields the cube and diff pages read, each
bounded, plus each signature's check against the namespace's keys -- and stores it as JSON in
``version_view`` (``db/catalog_models.py``). Pages read it back with one JSON parse.
:func:`backfill_views` derives the views of versions published before they existed (once, at
start-up), and :func:`load_view` derives and stores a missing one on first view (a version
published by an older server process meanwhile), so a manifest is decoded at most once per
version outside publishing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mip.dsse import Envelope, pae, parse_envelope
from mip.errors import MIPError
from mip.keys import PublicKey
from mip.manifest import decode_manifest
from mip.models import Manifest
from registry_server.db.backfill import backfill_versions
from registry_server.db.catalog_models import VersionView
from registry_server.db.models import Cube, CubeVersion, SigningKeyRecord
from registry_server.db.session import write_session

logger = logging.getLogger("registry_server.catalog")

#: Bumped when the stored form changes: older rows are derived again at start-up.
VIEW_FORMAT = 1


class ModelView(BaseModel):
    """A model fingerprint as the pages show it (``digest`` is the identity to filter on)."""

    model_id: str
    revision: str | None
    architecture: str
    dtype: str
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int
    digest: str


class AdapterView(BaseModel):
    """The LoRA settings a page shows, as the manifest holds them (any JSON value)."""

    r: Any = None
    target_modules: Any = None

    def get(self, key: str, default: Any = None) -> Any:
        """Mapping-style access, as templates read ``adapter_config.get("r")``."""
        return getattr(self, key, default)


class PartView(BaseModel):
    """One part: what every kind has, and the kind's own details (``None`` elsewhere)."""

    name: str
    kind: str
    media_type: str
    digest: str
    size: int
    count: int | None = None
    num_tokens: int | None = None
    dtype: str | None = None
    num_layers: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    model: ModelView | None = None
    base_model: ModelView | None = None
    adapter_config: AdapterView | None = None


class AuthorView(BaseModel):
    """An author's name."""

    name: str


class ProvenanceView(BaseModel):
    """What built the bundle."""

    tool: str
    source: str | None


class AccessView(BaseModel):
    """Who may read and write the memories."""

    read: list[str]
    write: list[str]


class GovernanceView(BaseModel):
    """The manifest's governance block."""

    sensitivity: str
    access: AccessView
    ttl_seconds: int | None
    expires_at: datetime | None


class SignatureRecord(BaseModel):
    """One signature of the envelope and the registered key that verified it at publish."""

    key_id: str
    verified_by: str | None


class CardView(BaseModel):
    """The cube's card (MIP-1 §5.4): the README (rendered once, ``services/derived.py``), links."""

    readme: str
    homepage: str | None
    repository: str | None


class ManifestView(BaseModel):
    """The stored, page-ready form of one version's manifest."""

    mip_version: str
    name: str
    version: str
    description: str
    keywords: list[str]
    license: str | None
    authors: list[AuthorView]
    provenance: ProvenanceView | None
    card: CardView | None
    governance: GovernanceView
    dependencies: dict[str, str]
    parts: list[PartView]
    signatures: list[SignatureRecord]


def _part_view(part: Any) -> PartView:
    # Each field of the view is the part's attribute of the same name (a fingerprint's too),
    # ``None`` where the part's kind has no such attribute; the adapter settings are read by key.
    return PartView.model_validate(part, from_attributes=True)


def manifest_view(manifest: Manifest, signatures: Iterable[SignatureRecord]) -> ManifestView:
    """The page-ready form of a decoded manifest and its envelope's signature checks."""
    governance = manifest.governance
    return ManifestView(
        mip_version=manifest.mip_version,
        name=manifest.name,
        version=manifest.version,
        description=manifest.description,
        keywords=list(manifest.keywords),
        license=manifest.license,
        authors=[AuthorView(name=author.name) for author in manifest.authors],
        provenance=(
            None
            if manifest.provenance is None
            else ProvenanceView(tool=manifest.provenance.tool, source=manifest.provenance.source)
        ),
        card=(
            None
            if manifest.card is None
            else CardView(
                readme=manifest.card.readme,
                homepage=manifest.card.homepage,
                repository=manifest.card.repository,
            )
        ),
        governance=GovernanceView(
            sensitivity=governance.sensitivity,
            access=AccessView(
                read=list(governance.access.read), write=list(governance.access.write)
            ),
            ttl_seconds=governance.ttl_seconds,
            expires_at=governance.expires_at,
        ),
        dependencies=dict(manifest.dependencies),
        parts=[_part_view(part) for part in manifest.parts],
        signatures=list(signatures),
    )


def registered_keys(records: Iterable[SigningKeyRecord]) -> dict[str, PublicKey]:
    """The registered keys that still load (key id -> key).

    A key stored before MIP-1 §6.1 refused small-order keys no longer loads: it is trusted for
    nothing (its signatures show as unverified) instead of breaking every page and publish.
    """
    keys = {}
    for record in records:
        try:
            keys[record.key_id] = PublicKey.from_pem(record.public_key_pem.encode())
        except MIPError:
            continue
    return keys


def check_signatures(envelope: Envelope, keys: list[SigningKeyRecord]) -> list[SignatureRecord]:
    """Check each signature of ``envelope`` against the registered keys, one by one.

    ``mip.dsse.verify`` answers whether the envelope as a whole is trusted; the page shows each
    signer, so each signature is tried here (its key id first, as DSSE treats ids as hints).
    """
    trusted = registered_keys(keys)
    message = pae(envelope.payload_type, envelope.payload)
    checks = []
    for signature in envelope.signatures:
        candidates = [signature.keyid] if signature.keyid in trusted else []
        candidates += [key_id for key_id in trusted if key_id != signature.keyid]
        verified_by = next(
            (key_id for key_id in candidates if trusted[key_id].verify(signature.sig, message)),
            None,
        )
        checks.append(SignatureRecord(key_id=signature.keyid, verified_by=verified_by))
    return checks


def _namespace_keys(session: Session, cube_id: int) -> list[SigningKeyRecord]:
    rows = session.exec(
        select(SigningKeyRecord)
        .join(Cube, col(Cube.namespace_id) == col(SigningKeyRecord.namespace_id))
        .where(Cube.id == cube_id)
    )
    return list(rows)


def derive_view(session: Session, row: CubeVersion) -> ManifestView:
    """Decode a stored version's envelope and manifest into its view (raises ``MIPError``)."""
    envelope = parse_envelope(bytes(row.envelope))
    manifest = decode_manifest(envelope.payload)
    return manifest_view(
        manifest, check_signatures(envelope, _namespace_keys(session, row.cube_id))
    )


def record_published_view(
    session: Session, version: CubeVersion, envelope: Envelope, manifest: Manifest
) -> None:
    """Store the view of a version being published (inside the publishing transaction).

    The signatures are checked against the namespace's keys as this transaction sees them (a
    key the first publish registers included).
    """
    keys = _namespace_keys(session, version.cube_id)
    record_view(session, version, manifest_view(manifest, check_signatures(envelope, keys)))


def record_view(session: Session, version: CubeVersion, view: ManifestView) -> None:
    """Store a version's view (inside the caller's transaction)."""
    assert version.id is not None
    session.add(
        VersionView(version_id=version.id, view_format=VIEW_FORMAT, document=encode_view(view))
    )


def encode_view(view: ManifestView) -> bytes:
    """The stored JSON of a view."""
    return view.model_dump_json().encode()


def decode_view(document: bytes) -> ManifestView | None:
    """A stored view, or ``None`` when it is unreadable (then it is derived again)."""
    try:
        return ManifestView.model_validate_json(document)
    except ValidationError as exc:
        logger.warning("a stored manifest view is unreadable, deriving it again: %s", exc)
        return None


def load_view(engine: Engine, session: Session, row: CubeVersion) -> ManifestView:
    """The stored view of ``row``; a missing or outdated one is derived once and stored."""
    stored = session.get(VersionView, row.id)
    if stored is not None and stored.view_format == VIEW_FORMAT:
        view = decode_view(bytes(stored.document))
        if view is not None:
            return view
    view = derive_view(session, row)
    _store_view(engine, row, view)
    return view


def _store_view(engine: Engine, row: CubeVersion, view: ManifestView) -> None:
    try:
        with write_session(engine) as session:
            _put_view(session, row, view)
            session.commit()
    except IntegrityError:
        logger.info("manifest view of version %s stored by another request", row.id)


def _put_view(session: Session, row: CubeVersion, view: ManifestView) -> None:
    stored = session.get(VersionView, row.id)
    if stored is None:
        record_view(session, row, view)
    else:
        stored.view_format = VIEW_FORMAT
        stored.document = encode_view(view)
        session.add(stored)


def backfill_views(engine: Engine) -> int:
    """Derive the view of every version that has none (or an outdated one); return how many."""
    filled = backfill_versions(
        engine,
        text(
            "NOT EXISTS (SELECT 1 FROM version_view w WHERE "
            "w.version_id = cube_version.id AND w.view_format = :format)"
        ).bindparams(format=VIEW_FORMAT),
        lambda session, row: _put_view(session, row, derive_view(session, row)),
        what="manifest views",
    )
    if filled:
        logger.info("catalog: derived the manifest views of %d versions", filled)
    return filled
