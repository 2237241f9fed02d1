"""Blob routes (spec §3): existence, monolithic and resumable uploads, download."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mip.digests import parse_digest
from registry_server.api.deps import CurrentPrincipal, StateDep
from registry_server.api.responses import READ, WRITE, created_answer, created_or_existing, errors
from registry_server.api.schemas import UploadResultBody, UploadSessionBody, UploadSessionCreate
from registry_server.errors import (
    BadRequestError,
    InvalidRangeError,
    NotFoundError,
    RangeNotSatisfiableError,
)
from registry_server.services import blobs
from registry_server.services.auth import require_action

router = APIRouter(tags=["blobs"])

_OCTET_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
#: One range-spec of RFC 9110 §14.1.1 (ASCII digits only: ``\d`` would take other scripts' too).
_RANGE_SPEC_RE = re.compile(r"([0-9]*)[ \t]*-[ \t]*([0-9]*)")
#: Positions longer than this are past any blob (and ``int()`` refuses over 4300 digits).
_MAX_POSITION_DIGITS = 30
#: How much of a bad header an error message quotes.
_QUOTED_HEADER_CHARS = 60


class _BlobFileResponse(FileResponse):
    # Starlette reads 64 KiB per thread-pool hop; 1 MiB moves large blobs at disk/socket speed.
    chunk_size = 1 << 20


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise BadRequestError("Content-Length must be a non-negative integer")
    return int(value)


def _body(request: Request) -> AsyncIterator[bytes]:
    return request.stream()


def _require_blob(state: StateDep, digest: str) -> int:
    size = blobs.stored_blob_size(state.engine, state.store, digest)
    if size is None:
        raise NotFoundError(f"blob {digest} is not stored", code="blob_not_found")
    return size


@router.head(
    "/v1/blobs/{digest}",
    summary="Does the blob exist?",
    responses={
        200: {
            "description": "The blob is stored",
            "headers": {"Content-Length": {"schema": {"type": "integer"}}},
        },
        **errors(*READ, 404),
    },
)
def head_blob(digest: str, state: StateDep) -> Response:
    """200 with ``Content-Length`` when the blob is stored, 404 otherwise."""
    size = _require_blob(state, digest)
    return Response(status_code=200, headers={"content-length": str(size), "etag": f'"{digest}"'})


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_POSITION_DIGITS else 10**_MAX_POSITION_DIGITS


def _quoted(header: str) -> str:
    if len(header) > _QUOTED_HEADER_CHARS:
        header = header[:_QUOTED_HEADER_CHARS] + "..."
    return repr(header)


def _parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """The ``(start, end_exclusive)`` ranges a ``Range`` header asks for (RFC 9110 §14.2).

    A header that is not ``bytes=`` ranges is refused (``invalid_range``, 400) rather than
    ignored, so a client with a bug hears of it; one with a range that does not overlap the
    blob gets ``range_not_satisfiable`` (416).
    """
    unit, equals, range_set = header.partition("=")
    if not equals or unit.strip(" \t").lower() != "bytes":
        raise InvalidRangeError(
            f"Range header {_quoted(header)} is not a byte range: send e.g. 'bytes=0-1023'"
        )
    ranges = []
    specs = [spec.strip(" \t") for spec in range_set.split(",")]
    for spec in [spec for spec in specs if spec] or [""]:
        match = _RANGE_SPEC_RE.fullmatch(spec)
        if match is None or not any(match.groups()):
            raise InvalidRangeError(
                f"Range header {_quoted(header)} is malformed: send 'bytes=FIRST-LAST', "
                "'bytes=FIRST-' or 'bytes=-SUFFIX_LENGTH'"
            )
        first, last = match.groups()
        if not first:
            length = _position(last)
            if length == 0:
                raise RangeNotSatisfiableError(f"empty suffix range for a {size}-byte blob")
            ranges.append((max(0, size - length), size))
            continue
        start = _position(first)
        end = min(_position(last) + 1, size) if last else size
        if start >= size or end <= start:
            raise RangeNotSatisfiableError(
                f"range {_quoted(header)} is outside the blob's {size} bytes"
            )
        ranges.append((start, end))
    return ranges


@router.get(
    "/v1/blobs/{digest}",
    summary="Download a blob",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "A byte range"},
        302: {"description": "Redirect to a presigned URL (S3 storage)"},
        **errors(*READ, 404, 416),
    },
)
def get_blob(
    digest: str, state: StateDep, range_header: Annotated[str | None, Header(alias="range")] = None
) -> Response:
    """The blob's bytes (Range supported on local storage) or a redirect to a presigned URL.

    The Range header is checked here in both cases, so a bad one gets the same JSON error
    whether the bytes come from this server or, after the redirect, from the storage's.
    """
    size = _require_blob(state, digest)
    ranges = _parse_range(range_header, size) if range_header is not None else []
    key = blobs.blob_key(digest)
    url = state.store.download_url(key, state.settings.presign_expires_seconds)
    if url is not None:
        return RedirectResponse(url, status_code=302)
    headers = {
        "etag": f'"{digest}"',
        "accept-ranges": "bytes",
        "cache-control": "public, max-age=31536000, immutable",
    }
    if len(ranges) != 1:
        path = state.store.local_path(key)
        if path is not None:
            # Several ranges (checked above): Starlette's file response sends them as
            # multipart/byteranges; no Range at all: the whole file.
            return _BlobFileResponse(path, media_type="application/octet-stream", headers=headers)
        return StreamingResponse(
            state.store.read(key),
            media_type="application/octet-stream",
            headers={**headers, "content-length": str(size)},
        )
    ((start, end),) = ranges
    headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    headers["content-length"] = str(end - start)
    return StreamingResponse(
        state.store.read(key, start, end),
        status_code=206,
        media_type="application/octet-stream",
        headers=headers,
    )


@router.put(
    "/v1/blobs/{digest}",
    summary="Upload a blob in one request",
    openapi_extra=_OCTET_BODY,
    responses=created_or_existing(UploadResultBody, *WRITE),
)
async def put_blob(
    digest: str, request: Request, state: StateDep, principal: CurrentPrincipal
) -> Response:
    """Stream the body into storage while hashing; refuse a digest mismatch or an overrun."""
    require_action(principal, "publish")
    parse_digest(digest)
    result = await blobs.upload_blob(
        state.engine,
        state.store,
        digest,
        _body(request),
        declared_length=_content_length(request),
        limit=min(state.settings.max_monolithic_upload_bytes, state.settings.max_blob_bytes),
        principal=principal,
    )
    return _upload_answer(state, result)


def _upload_answer(state: StateDep, result: blobs.UploadResult) -> Response:
    """201 with the upload result for a new blob, 200 for one the registry already had."""
    if result.created:
        state.metrics.uploaded_bytes.inc(result.size)
    body = UploadResultBody(digest=result.digest, size=result.size, created=result.created)
    return created_answer(body, created=result.created)


def _session_body(state: StateDep, session: blobs.SessionState) -> UploadSessionBody:
    return UploadSessionBody(
        upload_id=session.upload_id,
        digest=session.digest,
        size=session.size,
        offset=session.offset,
        expires_at=session.expires_at,
        chunk_size_max=state.settings.max_chunk_bytes,
    )


@router.post(
    "/v1/uploads",
    summary="Open a resumable upload session",
    responses=created_or_existing(UploadSessionBody, *WRITE),
)
def open_upload(
    body: UploadSessionCreate, state: StateDep, principal: CurrentPrincipal
) -> Response:
    """A session for one blob, or ``exists: true`` when the registry already has it."""
    require_action(principal, "publish")
    session = blobs.open_session(
        state.engine,
        state.store,
        principal.account_id,
        body.digest,
        body.size,
        state.settings.upload_session_ttl_seconds,
        state.settings.max_blob_bytes,
    )
    if session is None:
        answer = UploadSessionBody(
            digest=body.digest, size=body.size, offset=body.size, exists=True
        )
        return created_answer(answer, created=False)
    return created_answer(_session_body(state, session), created=True)


@router.get(
    "/v1/uploads/{upload_id}",
    summary="State of an upload session",
    responses=errors(*READ, 401, 404),
)
def get_upload(upload_id: str, state: StateDep, principal: CurrentPrincipal) -> UploadSessionBody:
    """The session's offset, to resume from."""
    return _session_body(
        state, blobs.session_state(state.engine, state.store, upload_id, principal.account_id)
    )


@router.patch(
    "/v1/uploads/{upload_id}",
    summary="Append a chunk to an upload session",
    openapi_extra=_OCTET_BODY,
    responses=errors(*WRITE, 404, 409),
)
async def patch_upload(
    upload_id: str,
    request: Request,
    state: StateDep,
    principal: CurrentPrincipal,
    upload_offset: Annotated[int, Header(alias="upload-offset", ge=0)],
) -> UploadSessionBody:
    """Append the body at ``Upload-Offset``."""
    session = await blobs.append_chunk(
        state.engine,
        state.store,
        upload_id,
        principal.account_id,
        upload_offset,
        _body(request),
        declared_length=_content_length(request),
        max_chunk_bytes=state.settings.max_chunk_bytes,
    )
    return _session_body(state, session)


@router.put(
    "/v1/uploads/{upload_id}",
    summary="Finish an upload session",
    responses=created_or_existing(UploadResultBody, *WRITE, 404),
)
async def finish_upload(upload_id: str, state: StateDep, principal: CurrentPrincipal) -> Response:
    """Verify the concatenated chunks and commit the blob."""
    result = await run_in_threadpool(
        blobs.finish_session, state.engine, state.store, upload_id, principal
    )
    return _upload_answer(state, result)


@router.delete(
    "/v1/uploads/{upload_id}",
    status_code=204,
    summary="Abort an upload session",
    responses=errors(*WRITE, 404),
)
def delete_upload(upload_id: str, state: StateDep, principal: CurrentPrincipal) -> Response:
    """Drop the session and its chunks."""
    blobs.abort_session(state.engine, state.store, upload_id, principal.account_id)
    return Response(status_code=204)
