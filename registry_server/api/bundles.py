"""The single-file download of a version (spec §5): its ``.memcube``, assembled while it is sent."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from registry_server.api.deps import StateDep
from registry_server.api.responses import READ, errors
from registry_server.services.bundle_stream import MEMCUBE_MEDIA_TYPE, memcube_download

router = APIRouter(tags=["versions"])


@router.get(
    "/v1/cubes/{namespace}/{name}/versions/{version}/memcube",
    summary="The version as one .memcube file (MIP-1 §8)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bundle: a STORED ZIP with the manifest, envelope and blobs",
            "content": {MEMCUBE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(*READ, 404),
    },
)
async def download_memcube(
    namespace: str, name: str, version: str, state: StateDep
) -> StreamingResponse:
    """Stream the version's ``.memcube``; counts one download of the version."""
    download = await run_in_threadpool(
        memcube_download, state.engine, state.store, namespace, name, version
    )
    state.downloads.add(download.version_id, download.cube_id)
    return StreamingResponse(
        download.stream.chunks(state.store),
        media_type=MEMCUBE_MEDIA_TYPE,
        headers={
            "content-length": str(download.stream.length),
            "content-disposition": f'attachment; filename="{download.filename}"',
            "etag": f'"{download.manifest_digest}"',
            "memstore-manifest-digest": download.manifest_digest,
        },
    )
