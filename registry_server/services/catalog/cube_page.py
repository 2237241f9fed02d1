"""The cube page's data: a version's stored manifest view, its signers, its dependencies.

Nothing here decodes a manifest: the page reads the view stored at publish
(:mod:`registry_server.services.catalog.views`). Signatures were checked at publish against the
keys registered then; a signature left unverified whose key was registered since is checked
again here with that one key (keys are only ever added), so the page stays true at bounded cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mip.dsse import pae, parse_envelope
from mip.errors import MIPError
from mip.names import normalize_cube_name
from mip.versions import Version
from registry_server.db.models import Cube, CubeVersion, Namespace, SigningKeyRecord
from registry_server.db.session import read_session
from registry_server.errors import NotFoundError
from registry_server.services.catalog.views import (
    ManifestView,
    SignatureRecord,
    load_view,
    registered_keys,
)
from registry_server.services.resolve import find_cube, find_version, sorted_versions


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
    manifest: ManifestView
    signatures: list[SignatureCheck]
    dependencies: list[Dependency]
    is_latest: bool
    previous_version: str | None = field(default=None)

    @property
    def signature_verified(self) -> bool:
        """True when at least one signature verifies with a registered key."""
        return any(check.verified for check in self.signatures)


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


def current_signatures(
    row: CubeVersion, recorded: list[SignatureRecord], keys: list[SigningKeyRecord]
) -> list[SignatureCheck]:
    """The publish-time checks, with unverified signatures of since-registered keys re-checked."""
    registered = {record.key_id: record for record in keys}
    late = [
        index
        for index, check in enumerate(recorded)
        if check.verified_by is None and check.key_id in registered
    ]
    verified_by = [check.verified_by for check in recorded]
    if late:
        envelope = parse_envelope(bytes(row.envelope))
        message = pae(envelope.payload_type, envelope.payload)
        loadable = registered_keys(registered[recorded[index].key_id] for index in late)
        for index in late:
            key = loadable.get(recorded[index].key_id)
            if index >= len(envelope.signatures) or key is None:
                continue
            if key.verify(envelope.signatures[index].sig, message):
                verified_by[index] = recorded[index].key_id
    return [
        SignatureCheck(
            key_id=check.key_id,
            registered=check.key_id in registered,
            verified=verified_by[index] is not None,
            verified_by=verified_by[index],
        )
        for index, check in enumerate(recorded)
    ]


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
        view = load_view(engine, session, row)
        known = _known_cubes(session, list(view.dependencies))
        position = next(i for i, v in enumerate(versions) if v.id == row.id)
        return CubePage(
            cube=cube,
            namespace=namespace_row,
            versions=list(reversed(versions)),
            version=row,
            manifest=view,
            signatures=current_signatures(row, view.signatures, keys),
            dependencies=[
                Dependency(dep, spec, normalize_cube_name(dep) in known)
                for dep, spec in sorted(view.dependencies.items())
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
