"""Version routes (spec §4-§6): publish, the resolver's cube document, envelopes, yank."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from starlette.concurrency import run_in_threadpool

from registry_server.api import hot_reads
from registry_server.api.deps import CurrentPrincipal, StateDep
from registry_server.api.responses import READ, WRITE, created_answer, created_or_existing, errors
from registry_server.api.schemas import (
    CubeIndexBody,
    PublishRequest,
    PublishResultBody,
    VersionBody,
    VersionDetailBody,
    YankRequest,
)
from registry_server.services import derived, publish, resolve

router = APIRouter(tags=["versions"])

ENVELOPE_MEDIA_TYPE = hot_reads.ENVELOPE_MEDIA_TYPE.decode()


def _response(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
    response = Response(body, status_code=status)
    for key, value in headers:
        response.headers[key.decode()] = value.decode()
    return response


@router.post(
    "/v1/versions",
    summary="Publish a signed version",
    responses=created_or_existing(PublishResultBody, *WRITE, 404, 409),
)
async def publish_version(
    body: PublishRequest, state: StateDep, principal: CurrentPrincipal
) -> Response:
    """Validate, authorise, verify and commit a version in one transaction."""
    result = await run_in_threadpool(
        publish.publish_version,
        state.engine,
        principal,
        json.dumps(body.envelope).encode(),
        body.public_key_pem,
        state.store,
    )
    if result.created:
        state.metrics.publishes.inc()
    # What the pages and the .memcube download need, derived once (services/derived.py).
    await run_in_threadpool(
        derived.prepare_published, state.engine, state.store, result.name, result.version
    )
    answer = PublishResultBody(
        name=result.name,
        version=result.version,
        manifest_digest=result.manifest_digest,
        created=result.created,
    )
    return created_answer(answer, created=result.created)


@router.get(
    "/v1/cubes/{namespace}/{name}",
    summary="A cube and all its versions (the resolver's view)",
    response_model=CubeIndexBody,
    responses={304: {"description": "Not modified (If-None-Match)"}, **errors(*READ, 404)},
)
def get_cube(
    namespace: str,
    name: str,
    state: StateDep,
    if_none_match: Annotated[str | None, Header(alias="if-none-match")] = None,
) -> Response:
    """Versions in SemVer order with digests, dependencies and yank flags.

    Served by :class:`~registry_server.api.hot_reads.HotReadMiddleware`; this route documents it
    and answers when the app runs without that middleware.
    """
    status, headers, body = hot_reads.cube_response(state, namespace, name, if_none_match)
    return _response(status, headers, body)


@router.get(
    "/v1/cubes/{namespace}/{name}/resolve",
    summary="The best version for a specifier (yanked only for exact pins)",
    response_model=VersionBody,
    responses=errors(*READ, 404),
)
def resolve_version(
    namespace: str,
    name: str,
    state: StateDep,
    spec: str = "",
    prereleases: bool | None = None,
) -> dict[str, Any]:
    """The highest matching version."""
    return resolve.resolve(state.engine, namespace, name, spec, prereleases)


@router.get(
    "/v1/cubes/{namespace}/{name}/versions/{version}",
    summary="One version's details",
    response_model=VersionDetailBody,
    responses=errors(*READ, 404),
)
def get_version(namespace: str, name: str, version: str, state: StateDep) -> dict[str, Any]:
    """The version object, its parts and its download count."""
    return resolve.version_details(state.engine, namespace, name, version)


@router.get(
    "/v1/cubes/{namespace}/{name}/versions/{version}/envelope",
    summary="The version's DSSE envelope, exactly as stored",
    response_class=Response,
    responses={200: {"content": {ENVELOPE_MEDIA_TYPE: {}}}, **errors(*READ, 404)},
)
def get_envelope(namespace: str, name: str, version: str, state: StateDep) -> Response:
    """The signed manifest; counts one download (served by the hot-read middleware too)."""
    status, headers, body = hot_reads.envelope_response(state, namespace, name, version)
    return _response(status, headers, body)


@router.post(
    "/v1/cubes/{namespace}/{name}/versions/{version}/yank",
    summary="Yank a version",
    response_model=VersionBody,
    responses=errors(*WRITE, 404),
)
def yank_version(
    namespace: str,
    name: str,
    version: str,
    body: YankRequest,
    state: StateDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Mark the version yanked: resolvers skip it unless pinned exactly."""
    return publish.set_yanked(state.engine, principal, namespace, name, version, body.reason)


@router.post(
    "/v1/cubes/{namespace}/{name}/versions/{version}/unyank",
    summary="Unyank a version",
    response_model=VersionBody,
    responses=errors(*WRITE, 404),
)
def unyank_version(
    namespace: str, name: str, version: str, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Clear the version's yank."""
    return publish.set_yanked(state.engine, principal, namespace, name, version, None)
