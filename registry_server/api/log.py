"""Transparency log routes (spec §12.4): checkpoint, proofs, entries and C2SP tiles.

``/v1/log`` is also a C2SP tlog-tiles prefix: ``/v1/log/checkpoint`` and ``/v1/log/tile/...``
are exactly the resources a tiled-log client (a witness, a monitor) fetches. Full tiles and entry
bundles are immutable: they are copied into the blob storage under ``log/tile/...`` on first
read and served from there like blobs (a file, or a redirect to a presigned URL), so a CDN or the
bucket itself can serve them.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import FileResponse, RedirectResponse

from mip.names import normalize_cube_name
from mip.transparency.merkle import leaf_hash
from mip.transparency.tiles import Tile, parse_tile_path
from registry_server.api.deps import StateDep
from registry_server.api.responses import READ, errors
from registry_server.api.schemas import (
    ConsistencyBody,
    InclusionBody,
    LogEntriesBody,
    LogEntryBody,
    LogInfoBody,
)
from registry_server.db.session import read_session
from registry_server.errors import StorageUnavailableError
from registry_server.services import transparency
from registry_server.services.resolve import find_cube, find_version

logger = logging.getLogger("registry_server")
router = APIRouter(tags=["transparency log"])

IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
CHECKPOINT_MEDIA_TYPE = "text/plain; charset=utf-8"
_OCTETS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}},
    302: {"description": "Redirect to the tile in the blob storage (S3)"},
}
#: Sizes and indexes are 64-bit in the database; larger ones are refused before any query.
_MAX = (1 << 63) - 1
TreeSize = Annotated[
    int | None,
    Query(ge=0, le=_MAX, description="Prove against this many entries (default: all)."),
]
EntryIndex = Annotated[int, Path(ge=0, le=_MAX, description="The entry's index, from 0.")]


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@router.get("/v1/log", summary="The transparency log's key and current head", responses=errors(503))
def log_info(state: StateDep) -> LogInfoBody:
    """What a client pins on first use (``verifier_key``) and the current signed head."""
    with read_session(state.engine) as session:
        size, root = transparency.tree_head(session)
    signer = state.log
    return LogInfoBody(
        origin=signer.origin,
        verifier_key=signer.verifier.verifier_key(),
        public_key_pem=signer.key.public_key.to_pem().decode(),
        tree_size=size,
        root_hash=_b64(root),
        tile_height=8,
        checkpoint=signer.checkpoint(size, root).decode(),
    )


@router.get(
    "/v1/log/checkpoint",
    summary="The latest signed checkpoint (C2SP tlog-checkpoint)",
    response_class=Response,
    responses={200: {"content": {CHECKPOINT_MEDIA_TYPE: {}}}, **errors(503)},
)
def get_checkpoint(state: StateDep) -> Response:
    """The current tree head as a signed note; not cached (it changes with every write)."""
    with read_session(state.engine) as session:
        size, root = transparency.tree_head(session)
    return Response(
        state.log.checkpoint(size, root),
        media_type=CHECKPOINT_MEDIA_TYPE,
        headers={"cache-control": "no-cache"},
    )


def _inclusion_body(state: StateDep, index: int, tree_size: int | None) -> InclusionBody:
    with read_session(state.engine) as session:
        size, root, entry, proof = transparency.inclusion(session, index, tree_size)
    return InclusionBody(
        index=index,
        tree_size=size,
        entry=entry.decode("ascii"),
        leaf_hash=_b64(leaf_hash(entry)),
        proof=[_b64(value) for value in proof],
        checkpoint=state.log.checkpoint(size, root).decode(),
    )


@router.get(
    "/v1/log/entries/{index}/inclusion",
    summary="Inclusion proof of an entry",
    responses=errors(*READ, 404),
)
def inclusion_by_index(
    index: EntryIndex, state: StateDep, tree_size: TreeSize = None
) -> InclusionBody:
    """The entry, its RFC 9162 inclusion proof and the checkpoint of ``tree_size``."""
    return _inclusion_body(state, index, tree_size)


@router.get(
    "/v1/log/cubes/{namespace}/{name}/versions/{version}/inclusion",
    summary="Inclusion proof of a version's latest publish, yank or unyank",
    responses=errors(*READ, 404),
)
def inclusion_by_version(
    namespace: str,
    name: str,
    version: str,
    state: StateDep,
    event: Literal["publish", "yank", "unyank"] = "publish",
    tree_size: TreeSize = None,
) -> InclusionBody:
    """Like ``/v1/log/entries/{index}/inclusion`` for the latest ``event`` entry of a version."""
    with read_session(state.engine) as session:
        cube = find_cube(session, namespace, name)
        row = find_version(session, cube, version)
        index = transparency.find_version_entry(
            session, normalize_cube_name(cube.name), row.version, event
        )
    return _inclusion_body(state, index, tree_size)


@router.get(
    "/v1/log/consistency",
    summary="Consistency proof between two tree sizes",
    responses=errors(*READ),
)
def get_consistency(
    state: StateDep,
    first: Annotated[int, Query(ge=0, le=_MAX, description="The smaller tree size.")],
    second: TreeSize = None,
) -> ConsistencyBody:
    """The RFC 9162 proof that the first ``first`` entries are a prefix of the first
    ``second``, and the checkpoint of ``second``."""
    with read_session(state.engine) as session:
        size, root, proof = transparency.consistency(session, first, second)
    return ConsistencyBody(
        first=first,
        second=size,
        proof=[_b64(value) for value in proof],
        checkpoint=state.log.checkpoint(size, root).decode(),
    )


@router.get("/v1/log/entries", summary="Consecutive log entries", responses=errors(*READ))
def list_entries(
    state: StateDep,
    start: Annotated[int, Query(ge=0, le=_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=transparency.MAX_ENTRIES_PER_PAGE)] = 100,
) -> LogEntriesBody:
    """Entries ``start`` onwards (at most ``limit``), in index order; empty past the end."""
    with read_session(state.engine) as session:
        size, _ = transparency.tree_head(session)
        rows = transparency.entries_page(session, start, min(limit, max(size - start, 0)))
    return LogEntriesBody(
        tree_size=size,
        entries=[
            LogEntryBody(index=index, entry=data.decode("ascii"), leaf_hash=_b64(leaf_hash(data)))
            for index, data in rows
        ],
    )


@router.get(
    "/v1/log/tile/{tile_path:path}",
    summary="A C2SP tlog-tiles tile or entry bundle",
    response_class=Response,
    responses={**_OCTETS, **errors(*READ, 404)},
)
def get_tile(tile_path: str, state: StateDep) -> Response:
    """``tile/<L>/<N>[.p/<W>]`` (hashes) or ``tile/entries/<N>[.p/<W>]`` (entries, each
    prefixed by its uint16 length); immutable, so cached for a year."""
    tile = parse_tile_path("tile/" + tile_path)
    key = f"log/{tile.path()}"
    if tile.is_full:
        cached = _from_storage(state, key)
        if cached is not None:
            return cached
    with read_session(state.engine) as session:
        data = transparency.tile_bytes(session, tile)
    if tile.is_full:
        _keep_in_storage(state, tile, key, data)
    return Response(data, media_type="application/octet-stream", headers=IMMUTABLE)


def _from_storage(state: StateDep, key: str) -> Response | None:
    try:
        if state.store.size(key) is None:
            return None
        url = state.store.download_url(key, state.settings.presign_expires_seconds)
    except StorageUnavailableError:
        return None  # the database can still answer
    if url is not None:
        return RedirectResponse(url, status_code=302)
    path = state.store.local_path(key)
    if path is None:  # pragma: no cover - every backend either presigns or has files
        return None
    return FileResponse(path, media_type="application/octet-stream", headers=IMMUTABLE)


def _keep_in_storage(state: StateDep, tile: Tile, key: str, data: bytes) -> None:
    """Copy a full tile to the blob storage (best effort: the database stays the source)."""
    try:
        writer = state.store.writer(key)
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    except StorageUnavailableError as exc:
        logger.warning("tile %s not copied to storage: %s", tile.path(), exc)
