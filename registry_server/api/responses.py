"""The error answers each route documents in the OpenAPI document (spec §9), one shape for all.

Every error is ``{"error": {"code", "message"}}`` (:class:`~registry_server.api.schemas.ErrorBody`)
with a stable ``code``. :func:`errors` gives a route's ``responses=`` entries for the statuses it
can answer; :func:`without_default_validation_errors` removes the 422 answers FastAPI documents
by default, which this registry never sends (its validation errors are 400 ``invalid_request``).
:func:`created_or_existing` and :func:`created_answer` document and give the 201-or-200 answer
of the idempotent creates (publish, upload, key).
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from registry_server.api.schemas import ErrorBody

#: What each error status means here, with the codes it carries.
DESCRIPTIONS = {
    400: (
        "The request does not fit the API: `invalid_request` (a parameter, header or body), or "
        "the code of what is malformed (`invalid_digest`, `invalid_name`, `invalid_version`, "
        "`invalid_specifier`, `invalid_key`, `invalid_envelope`, `invalid_manifest`, "
        "`unsupported_mip_version`, `invalid_query`, `invalid_range`, `digest_mismatch`, "
        "`upload_incomplete`, `blob_missing`, `size_mismatch`, `bad_signature`, "
        "`self_dependency`)"
    ),
    401: "No token, or one that is unknown or revoked (`unauthorized`) or expired (`token_expired`)",
    403: "The token lacks the namespace or the action (`forbidden`), or the key is not registered "
    "(`unregistered_key`)",
    404: "Nothing there: `cube_not_found`, `version_not_found`, `blob_not_found`, "
    "`namespace_not_found`, `upload_not_found`, `token_not_found`, `no_matching_version` or "
    "`not_found`",
    408: "The request body arrived too slowly or stalled (`request_timeout`); the connection is "
    "closed",
    409: "The request conflicts with the registry's state: `version_exists`, `name_conflict`, "
    "`upload_offset_mismatch` or `conflict`",
    413: "The body is over a size limit (`blob_too_large`, `request_too_large`)",
    416: "The range lies outside the blob (`range_not_satisfiable`)",
    503: "A dependency failed (`database_unavailable`, `storage_unavailable`), or too many "
    "requests without a token are sending bodies (`server_busy`): retry later",
}

#: What a route that reads a token and a body may answer besides its own errors.
WRITE = (400, 401, 403, 408, 413, 503)
#: What a route that only reads may answer besides its own errors.
READ = (400, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting the error body for each of ``statuses``."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]}
        for status in sorted(set(statuses))
    }


def created_or_existing(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of an idempotent create: ``model`` with 201 (new) or 200 (already there)."""
    return {200: {"model": model}, 201: {"model": model}, **errors(*statuses)}


def created_answer(body: BaseModel, *, created: bool) -> Response:
    """The answer of an idempotent create: 201 for a new thing, 200 for one already there."""
    return Response(
        body.model_dump_json(), status_code=201 if created else 200, media_type="application/json"
    )


def without_default_validation_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Drop FastAPI's default 422 answers and their schemas (idempotent)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document
