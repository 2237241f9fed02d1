"""The one place where a registry's answer becomes a document or an error.

An error answer ``{"error": {"code", "message"}}`` (spec §1, §9) becomes one exception per
meaning (:mod:`memos_client.errors`): by the registry's stable code when this client knows it
(:class:`mip.registry_api.ErrorCode`), else by the HTTP status. An answer without that shape (a
proxy's error page) is still an error, coded ``http_<status>``. A success answer is decoded into
its :mod:`mip.registry_api` document; anything else -- not JSON, the wrong shape, over the size
limit -- is :class:`~memos_client.errors.InvalidResponseError` naming the request.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from memos_client.errors import (
    InvalidResponseError,
    RegistryAuthError,
    RegistryConflictError,
    RegistryError,
    RegistryNotFoundError,
    RegistryUnavailableError,
)
from mip.registry_api import ErrorBody, ErrorCode

#: Characters of a registry's error message shown; the rest is cut off.
MESSAGE_LIMIT = 500

Document = TypeVar("Document")

_BY_CODE: dict[str, type[RegistryError]] = {
    **dict.fromkeys(
        (
            ErrorCode.NOT_FOUND,
            ErrorCode.CUBE_NOT_FOUND,
            ErrorCode.VERSION_NOT_FOUND,
            ErrorCode.BLOB_NOT_FOUND,
            ErrorCode.NAMESPACE_NOT_FOUND,
            ErrorCode.UPLOAD_NOT_FOUND,
            ErrorCode.TOKEN_NOT_FOUND,
            ErrorCode.NO_MATCHING_VERSION,
        ),
        RegistryNotFoundError,
    ),
    **dict.fromkeys(
        (
            ErrorCode.UNAUTHORIZED,
            ErrorCode.TOKEN_EXPIRED,
            ErrorCode.FORBIDDEN,
            ErrorCode.UNREGISTERED_KEY,
        ),
        RegistryAuthError,
    ),
    **dict.fromkeys(
        (
            ErrorCode.CONFLICT,
            ErrorCode.VERSION_EXISTS,
            ErrorCode.NAME_CONFLICT,
            ErrorCode.UPLOAD_OFFSET_MISMATCH,
        ),
        RegistryConflictError,
    ),
    **dict.fromkeys(
        (
            ErrorCode.INTERNAL_ERROR,
            ErrorCode.UNAVAILABLE,
            ErrorCode.DATABASE_UNAVAILABLE,
            ErrorCode.STORAGE_UNAVAILABLE,
        ),
        RegistryUnavailableError,
    ),
}
_BY_STATUS: dict[int, type[RegistryError]] = {
    401: RegistryAuthError,
    403: RegistryAuthError,
    404: RegistryNotFoundError,
    409: RegistryConflictError,
}

_ERROR_DECODER = msgspec.json.Decoder(ErrorBody)


def error_for(status: int, body: bytes | None, url: str, registry: str) -> RegistryError:
    """The error an answer with ``status`` and ``body`` (``None``: too long to read) describes.

    ``registry`` (its base URL) is named in a not-found message: "no such cube" is only true of
    one registry.
    """
    try:
        detail = _ERROR_DECODER.decode(body or b"").error
        code, message = detail.code, detail.message
    except (msgspec.DecodeError, msgspec.ValidationError):
        code = f"http_{status}"
        message = f"the registry answered HTTP {status} for {url}"
    # One line, of a readable length, whatever the answer held (a newline, a megabyte).
    message = " ".join(message.split())
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "..."
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if kind is None:
        kind = RegistryUnavailableError if status >= 500 else RegistryError
    if kind is RegistryNotFoundError:
        message = f"{message} ({registry})"
    return kind(message, code=code, status=status)


def invalid_response(
    registry: str, method: str, path: str, what: str, status: int | None = None
) -> InvalidResponseError:
    """The error for an answer that is not the document the API defines (``what``)."""
    path = path.partition("?")[0]  # the query is in the command the user typed
    return InvalidResponseError(
        f"the registry at {registry} answered {method} {path} with a document that is not "
        f"{what}: check --index-url",
        code="invalid_response",
        status=status,
    )


def decode(
    body: bytes | None,
    kind: type[Document],
    *,
    registry: str,
    method: str,
    path: str,
    what: str,
    limit: int,
    status: int | None = None,
) -> Document:
    """``body`` as the document ``kind`` (``what`` names it for people); ``None`` is a body
    over ``limit`` bytes."""
    if body is None:
        raise invalid_response(
            registry, method, path, f"{what} (it is over the {limit:,}-byte limit)", status
        )
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise invalid_response(registry, method, path, f"{what} ({exc})", status) from None
    except msgspec.DecodeError:
        raise invalid_response(registry, method, path, "JSON", status) from None
