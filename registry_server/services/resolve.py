"""The resolver's view of a cube (spec §5): the versions document, version details, resolve.

The versions document is rebuilt inside every transaction that changes a cube's versions and stored
on the cube row, so serving it is one indexed read with no serialisation; download counts, which
change all the time, are spliced in when it is served.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from mip.names import normalize_cube_name
from mip.versions import SpecifierSet, Version, parse_specifier
from registry_server.db.hot_reader import HotReader
from registry_server.db.models import Cube, CubeVersion
from registry_server.db.session import read_session
from registry_server.errors import NotFoundError
from registry_server.services.facets import refresh_cube_facets


def version_key(version: str) -> str:
    """The version without build metadata (SemVer equality)."""
    return version.partition("+")[0]


def version_object(row: CubeVersion) -> dict[str, Any]:
    """One entry of a cube's ``versions`` list."""
    return {
        "version": row.version,
        "manifest_digest": row.manifest_digest,
        "dependencies": row.dependencies,
        "yanked": row.yanked,
        "yank_reason": row.yank_reason,
        "published_at": row.published_at.isoformat().replace("+00:00", "Z"),
        "size": row.total_size,
    }


def pick_latest(versions: list[CubeVersion]) -> str | None:
    """Highest non-yanked release; else highest non-yanked pre-release; else ``None``."""
    live = [Version.parse(row.version) for row in versions if not row.yanked]
    releases = [version for version in live if not version.is_prerelease]
    pool = releases or live
    return str(max(pool)) if pool else None


def sorted_versions(session: Session, cube: Cube) -> list[CubeVersion]:
    """A cube's versions in SemVer order, oldest first."""
    rows = list(session.exec(select(CubeVersion).where(CubeVersion.cube_id == cube.id)))
    return sorted(rows, key=lambda row: Version.parse(row.version))


def rebuild_index(session: Session, cube: Cube) -> None:
    """Recompute the cube's stored versions document, ETag and latest version."""
    versions = sorted_versions(session, cube)
    cube.latest_version = pick_latest(versions)
    document = {
        "name": cube.name,
        "normalized_name": cube.normalized_name,
        "description": cube.description,
        "keywords": cube.keywords,
        "latest_version": cube.latest_version,
        "versions": [version_object(row) for row in versions],
    }
    encoded = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    # The document must end with '}' so that serving can splice the download count before it.
    cube.index_document = encoded
    cube.index_etag = hashlib.sha256(encoded).hexdigest()[:32]
    session.add(cube)
    # The marketplace's search filters follow the latest version.
    latest = next((row for row in versions if row.version == cube.latest_version), None)
    refresh_cube_facets(session, cube, latest)


_INDEX_QUERY = "SELECT index_document, index_etag, downloads FROM cube WHERE normalized_name = ?"
_ENVELOPE_QUERY = (
    "SELECT v.id, v.cube_id, v.envelope, v.manifest_digest FROM cube_version v "
    "JOIN cube c ON c.id = v.cube_id WHERE c.normalized_name = ? AND v.version_key = ?"
)


def index_document(reader: HotReader, namespace: str, name: str) -> tuple[bytes, str]:
    """The versions document of ``namespace/name`` with its download count, and its ETag."""
    normalized = normalize_cube_name(f"{namespace}/{name}")
    return _index_result(reader.fetch_one(_INDEX_QUERY, (normalized,)), namespace, name)


async def index_document_async(reader: HotReader, namespace: str, name: str) -> tuple[bytes, str]:
    """:func:`index_document` for the event loop."""
    normalized = normalize_cube_name(f"{namespace}/{name}")
    row = await reader.fetch_one_async(_INDEX_QUERY, (normalized,))
    return _index_result(row, namespace, name)


def _index_result(row: tuple[Any, ...] | None, namespace: str, name: str) -> tuple[bytes, str]:
    if row is None:
        raise NotFoundError(f"cube {namespace}/{name} does not exist", code="cube_not_found")
    document, etag, downloads = row
    body = bytes(document)[:-1] + b',"downloads":%d}' % downloads
    return body, f'"{etag}-{downloads}"'


def find_cube(session: Session, namespace: str, name: str, *, lock: bool = False) -> Cube:
    """The cube ``namespace/name`` (by normal form), or raise 404; ``lock`` for writers."""
    normalized = normalize_cube_name(f"{namespace}/{name}")
    statement = select(Cube).where(Cube.normalized_name == normalized)
    cube = session.exec(statement.with_for_update() if lock else statement).first()
    if cube is None:
        raise NotFoundError(f"cube {namespace}/{name} does not exist", code="cube_not_found")
    return cube


def find_version(session: Session, cube: Cube, version: str) -> CubeVersion:
    """One version of a cube (build metadata ignored), or raise 404."""
    Version.parse(version)
    row = session.exec(
        select(CubeVersion).where(
            CubeVersion.cube_id == cube.id, CubeVersion.version_key == version_key(version)
        )
    ).first()
    if row is None:
        raise NotFoundError(
            f"{cube.name} has no version {version}: see GET /v1/cubes/{cube.normalized_name}",
            code="version_not_found",
        )
    return row


def version_details(engine: Engine, namespace: str, name: str, version: str) -> dict[str, Any]:
    """The version object plus name, parts summary and downloads."""
    with read_session(engine) as session:
        cube = find_cube(session, namespace, name)
        row = find_version(session, cube, version)
        return {
            "name": cube.name,
            **version_object(row),
            "parts": row.parts,
            "downloads": row.downloads,
        }


def envelope(
    reader: HotReader, namespace: str, name: str, version: str
) -> tuple[int, int, bytes, str]:
    """``(version id, cube id, envelope bytes, manifest digest)`` of one version (hot path)."""
    normalized = normalize_cube_name(f"{namespace}/{name}")
    Version.parse(version)
    row = reader.fetch_one(_ENVELOPE_QUERY, (normalized, version_key(version)))
    return _envelope_result(row, namespace, name, version)


async def envelope_async(
    reader: HotReader, namespace: str, name: str, version: str
) -> tuple[int, int, bytes, str]:
    """:func:`envelope` for the event loop."""
    normalized = normalize_cube_name(f"{namespace}/{name}")
    Version.parse(version)
    row = await reader.fetch_one_async(_ENVELOPE_QUERY, (normalized, version_key(version)))
    return _envelope_result(row, namespace, name, version)


def _envelope_result(
    row: tuple[Any, ...] | None, namespace: str, name: str, version: str
) -> tuple[int, int, bytes, str]:
    if row is None:
        raise NotFoundError(
            f"{namespace}/{name} {version} does not exist", code="version_not_found"
        )
    return int(row[0]), int(row[1]), bytes(row[2]), str(row[3])


def is_exact_pin(specifiers: SpecifierSet) -> bool:
    """True for ``==X.Y.Z``: the one kind of requirement that may select a yanked version."""
    return (
        len(specifiers.clauses) == 1
        and specifiers.clauses[0].operator == "=="
        and specifiers.clauses[0].components == 3
    )


def resolve(
    engine: Engine, namespace: str, name: str, spec: str, prereleases: bool | None
) -> dict[str, Any]:
    """The highest version matching ``spec``; yanked versions only for an exact pin (PEP 592)."""
    specifiers = parse_specifier(spec)
    exact = is_exact_pin(specifiers)
    with read_session(engine) as session:
        cube = find_cube(session, namespace, name)
        candidates = [
            row
            for row in sorted_versions(session, cube)
            if (exact or not row.yanked)
            and specifiers.contains(Version.parse(row.version), prereleases)
        ]
        if not candidates:
            raise NotFoundError(
                f"no version of {cube.name} matches {spec!r}"
                + ("" if exact else " (yanked versions match only exact pins like ==1.2.3)"),
                code="no_matching_version",
            )
        return {"name": cube.name, **version_object(candidates[-1])}
