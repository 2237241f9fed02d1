"""Queries behind the marketplace pages: home lists, filtered search, cube and namespace views.

Each function opens one read session (or connection) and returns plain dataclasses that the
templates render; nothing here knows about HTML. Search reuses the registry's full-text index
(``services/search.py``: FTS5 on SQLite, a GIN ``tsvector`` index on PostgreSQL) and adds the
catalog's facet filters (``db/catalog_models.py``), matched against each cube's latest version.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, text
from sqlalchemy import select as core_select
from sqlmodel import Session, col, func, select

from mip.dsse import Envelope, pae
from mip.errors import MIPError
from mip.keys import PublicKey
from mip.models import Manifest
from mip.names import normalize_cube_name, validate_namespace
from mip.versions import Version
from registry_server.db.catalog_models import (
    FACET_KIND,
    FACET_LICENSE,
    FACET_MODEL,
    FACET_MODEL_ID,
    CubeFacet,
)
from registry_server.db.models import Cube, CubeVersion, Namespace, SigningKeyRecord
from registry_server.db.session import read_session, translate_database_errors
from registry_server.errors import NotFoundError
from registry_server.services.facets import load_manifest
from registry_server.services.resolve import find_cube, find_version, sorted_versions
from registry_server.services.search import query_words, search_sql

#: Part kinds offered by the search filter (MIP-1 §7).
PART_KINDS = ("plaintext", "activation", "parameter")
#: Deepest result page served (bounds OFFSET scans).
MAX_PAGE = 500
#: Most suggestions listed per filter.
MAX_FACET_CHOICES = 200


@dataclass(frozen=True)
class CubeSummary:
    """One cube in a list."""

    name: str
    description: str
    keywords: list[str]
    latest_version: str | None
    downloads: int
    updated_at: datetime

    @property
    def namespace(self) -> str:
        """The namespace part of the name."""
        return self.name.split("/", 1)[0]


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


@dataclass(frozen=True)
class FacetChoice:
    """A value a filter may take, with what people read for it."""

    value: str
    label: str


@dataclass(frozen=True)
class HomePage:
    """The home page's lists."""

    total_cubes: int
    total_namespaces: int
    recent: list[CubeSummary]
    popular: list[CubeSummary]


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of an envelope, checked against the namespace's registered keys."""

    key_id: str
    registered: bool
    verified: bool
    #: The registered key that verified it (DSSE key ids are hints), when one did.
    verified_by: str | None


@dataclass(frozen=True)
class Dependency:
    """A dependency and whether the registry knows the cube it names."""

    name: str
    specifier: str
    known: bool


@dataclass
class CubePage:
    """Everything the cube page shows for one selected version."""

    cube: Cube
    namespace: Namespace
    versions: list[CubeVersion]
    version: CubeVersion
    manifest: Manifest
    signatures: list[SignatureCheck]
    dependencies: list[Dependency]
    is_latest: bool
    previous_version: str | None = field(default=None)

    @property
    def signature_verified(self) -> bool:
        """True when at least one signature verifies with a registered key."""
        return any(check.verified for check in self.signatures)


@dataclass(frozen=True)
class NamespacePage:
    """A namespace, its cubes (one page) and its signing keys."""

    namespace: Namespace
    total: int
    page: int
    per_page: int
    cubes: list[CubeSummary]
    keys: list[SigningKeyRecord]
    downloads: int

    @property
    def pages(self) -> int:
        """How many pages the cubes fill."""
        return min(MAX_PAGE, max(1, -(-self.total // self.per_page)))


# Only these columns: the cube row also holds the (large) resolver document.
_SUMMARY_COLUMNS = (
    col(Cube.name),
    col(Cube.description),
    col(Cube.keywords),
    col(Cube.latest_version),
    col(Cube.downloads),
    col(Cube.updated_at),
)


def _summaries(rows: Any) -> list[CubeSummary]:
    return [
        CubeSummary(
            name=name,
            description=description,
            keywords=list(keywords),
            latest_version=latest,
            downloads=downloads,
            updated_at=updated_at,
        )
        for name, description, keywords, latest, downloads, updated_at in rows
    ]


def home_page(engine: Engine, limit: int = 10) -> HomePage:
    """Counts, the most recently updated cubes and the most downloaded ones."""
    with read_session(engine) as session:
        total_cubes = session.exec(select(func.count()).select_from(Cube)).one()
        total_namespaces = session.exec(select(func.count()).select_from(Namespace)).one()
        recent = session.execute(
            core_select(*_SUMMARY_COLUMNS).order_by(col(Cube.updated_at).desc()).limit(limit)
        ).all()
        popular = session.execute(
            core_select(*_SUMMARY_COLUMNS)
            .order_by(col(Cube.downloads).desc(), col(Cube.normalized_name))
            .limit(limit)
        ).all()
        return HomePage(
            int(total_cubes), int(total_namespaces), _summaries(recent), _summaries(popular)
        )


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


#: How long the filter suggestions are reused before being queried again.
CHOICES_TTL_SECONDS = 60.0
_choices_cache: dict[str, tuple[float, dict[str, list[FacetChoice]]]] = {}
_choices_lock = threading.Lock()


def facet_choices(engine: Engine) -> dict[str, list[FacetChoice]]:
    """Licences and models of the cubes' latest versions, for the filter form's suggestions.

    Suggestions may lag by :data:`CHOICES_TTL_SECONDS`; the filters themselves never do.
    """
    key = str(engine.url)
    now = time.monotonic()
    with _choices_lock:
        cached = _choices_cache.get(key)
        if cached is not None and now - cached[0] < CHOICES_TTL_SECONDS:
            return cached[1]
    choices: dict[str, list[FacetChoice]] = {FACET_LICENSE: [], FACET_MODEL: []}
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
    with _choices_lock:
        _choices_cache[key] = (now, choices)
    return choices


def check_signatures(envelope: Envelope, keys: list[SigningKeyRecord]) -> list[SignatureCheck]:
    """Check each signature of ``envelope`` against the registered keys, one by one.

    ``mip.dsse.verify`` answers whether the envelope as a whole is trusted; the page shows each
    signer, so each signature is tried here (its key id first, as DSSE treats ids as hints).
    """
    trusted = {record.key_id: PublicKey.from_pem(record.public_key_pem.encode()) for record in keys}
    message = pae(envelope.payload_type, envelope.payload)
    checks = []
    for signature in envelope.signatures:
        candidates = [signature.keyid] if signature.keyid in trusted else []
        candidates += [key_id for key_id in trusted if key_id != signature.keyid]
        verified_by = next(
            (key_id for key_id in candidates if trusted[key_id].verify(signature.sig, message)),
            None,
        )
        checks.append(
            SignatureCheck(
                key_id=signature.keyid,
                registered=signature.keyid in trusted,
                verified=verified_by is not None,
                verified_by=verified_by,
            )
        )
    return checks


def _parse_version_or_404(cube: Cube, version: str) -> None:
    try:
        Version.parse(version)
    except MIPError as exc:
        raise NotFoundError(
            f"{cube.name} has no version {version!r}: it is not a version number",
            code="version_not_found",
        ) from exc


def find_cube_or_404(session: Session, namespace: str, name: str) -> Cube:
    """The cube, or :class:`NotFoundError` also for names that cannot exist."""
    try:
        normalize_cube_name(f"{namespace}/{name}")
    except MIPError as exc:
        raise NotFoundError(
            f"cube {namespace}/{name} does not exist", code="cube_not_found"
        ) from exc
    return find_cube(session, namespace, name)


def find_version_or_404(session: Session, cube: Cube, version: str) -> CubeVersion:
    """The version, or :class:`NotFoundError` also for strings that are no version."""
    _parse_version_or_404(cube, version)
    return find_version(session, cube, version)


def cube_page(engine: Engine, namespace: str, name: str, version: str | None) -> CubePage:
    """The cube page's data for ``version`` (default: the latest, else the highest)."""
    with read_session(engine) as session:
        cube = find_cube_or_404(session, namespace, name)
        versions = sorted_versions(session, cube)
        if not versions:
            raise NotFoundError(f"cube {cube.name} has no versions", code="version_not_found")
        if version is None:
            wanted = cube.latest_version or versions[-1].version
            row = next((v for v in versions if v.version == wanted), versions[-1])
        else:
            row = find_version_or_404(session, cube, version)
        namespace_row = session.get(Namespace, cube.namespace_id)
        assert namespace_row is not None
        keys = list(
            session.exec(
                select(SigningKeyRecord).where(SigningKeyRecord.namespace_id == namespace_row.id)
            )
        )
        envelope, manifest = load_manifest(row)
        known = _known_cubes(session, list(manifest.dependencies))
        position = next(i for i, v in enumerate(versions) if v.id == row.id)
        return CubePage(
            cube=cube,
            namespace=namespace_row,
            versions=list(reversed(versions)),
            version=row,
            manifest=manifest,
            signatures=check_signatures(envelope, keys),
            dependencies=[
                Dependency(dep, spec, normalize_cube_name(dep) in known)
                for dep, spec in sorted(manifest.dependencies.items())
            ],
            is_latest=row.version == cube.latest_version,
            # The default comparison skips yanked versions: compare with what people install.
            previous_version=next(
                (v.version for v in reversed(versions[:position]) if not v.yanked), None
            ),
        )


def _known_cubes(session: Session, names: list[str]) -> set[str]:
    if not names:
        return set()
    normalized = [normalize_cube_name(name) for name in names]
    return set(
        session.exec(select(Cube.normalized_name).where(col(Cube.normalized_name).in_(normalized)))
    )


def namespace_page(
    engine: Engine, namespace: str, page: int = 1, per_page: int = 50
) -> NamespacePage:
    """A namespace's cubes by name, its registered keys and its total downloads."""
    page = min(max(page, 1), MAX_PAGE)
    try:
        normalized = validate_namespace(namespace)
    except MIPError as exc:
        raise NotFoundError(
            f"namespace {namespace!r} does not exist", code="namespace_not_found"
        ) from exc
    with read_session(engine) as session:
        row = session.exec(select(Namespace).where(Namespace.normalized_name == normalized)).first()
        if row is None:
            raise NotFoundError(
                f"namespace {namespace!r} does not exist", code="namespace_not_found"
            )
        total, downloads = session.exec(
            select(func.count(), func.coalesce(func.sum(Cube.downloads), 0)).where(
                Cube.namespace_id == row.id
            )
        ).one()
        cubes = session.execute(
            core_select(*_SUMMARY_COLUMNS)
            .where(col(Cube.namespace_id) == row.id)
            .order_by(col(Cube.normalized_name))
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        keys = list(
            session.exec(
                select(SigningKeyRecord)
                .where(SigningKeyRecord.namespace_id == row.id)
                .order_by(col(SigningKeyRecord.id))
            )
        )
        return NamespacePage(
            row, int(total), page, per_page, _summaries(cubes), keys, int(downloads)
        )
