"""The shapes of the registry's JSON answers (spec/MIP-1-registry.md, schemas/openapi.json),
checked where an answer is decoded, before any field of it is used.

A registry, a proxy or a wrong ``--index-url`` can answer anything: an array, ``null`` fields, a
document nested too deeply to decode. :func:`decode_json` and :func:`checked` turn every such
answer into :class:`InvalidDocumentError`, which the clients report as a ``RegistryError`` coded
``invalid_response`` (:func:`invalid_response`). A shape lists the fields the client reads: a
required field must be present with its type, an optional one may be missing but not mistyped;
fields the client does not read are not checked (newer registries may add some).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from memos_client.errors import RegistryError

_NULL = type(None)


class InvalidDocumentError(ValueError):
    """A document does not have the expected shape; ``what`` names what it should have been."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class ListOf(msgspec.Struct, frozen=True):
    """A JSON array whose items all have one shape."""

    item: Any


class MapOf(msgspec.Struct, frozen=True):
    """A JSON object with string keys whose values all have one shape."""

    value: Any


class Shape(msgspec.Struct, frozen=True):
    """A JSON object: ``required`` and ``optional`` fields by name, each with its shape."""

    what: str
    required: dict[str, Any]
    optional: dict[str, Any] = msgspec.field(default_factory=dict)


def _valid(value: Any, shape: Any) -> bool:
    if isinstance(shape, Shape):
        return (
            isinstance(value, dict)
            and all(key in value and _valid(value[key], s) for key, s in shape.required.items())
            and all(key not in value or _valid(value[key], s) for key, s in shape.optional.items())
        )
    if isinstance(shape, ListOf):
        return isinstance(value, list) and all(_valid(item, shape.item) for item in value)
    if isinstance(shape, MapOf):
        return isinstance(value, dict) and all(
            isinstance(key, str) and _valid(item, shape.value) for key, item in value.items()
        )
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # JSON true is not a number
    return isinstance(value, kinds)


def checked(value: Any, shape: Shape) -> dict[str, Any]:
    """``value`` when it has ``shape``; else :class:`InvalidDocumentError`."""
    if not _valid(value, shape):
        raise InvalidDocumentError(shape.what)
    result: dict[str, Any] = value
    return result


def decode_json(body: bytes) -> Any:
    """A JSON document; :class:`ValueError` for invalid JSON, including nesting too deep to
    decode (``json`` raises ``RecursionError`` there)."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def invalid_response(
    index_url: str, method: str, path: str, what: str, status: int | None = None
) -> RegistryError:
    """The error for an answer that is not the document the API defines."""
    return RegistryError(
        f"the registry at {index_url} answered {method} {path} with a document that is not "
        f"{what}: check --index-url",
        code="invalid_response",
        status=status,
    )


_STRINGS = ListOf(str)
_OPTIONAL_TEXT = (str, _NULL)

#: A version object (API §5); only what resolvers and ``memos show`` read is required.
VERSION = Shape(
    "a version object (with version and manifest_digest)",
    {"version": str, "manifest_digest": str},
    {
        "dependencies": MapOf(str),
        "yanked": bool,
        "yank_reason": _OPTIONAL_TEXT,
        "published_at": str,
        "size": int,
        "name": _OPTIONAL_TEXT,
    },
)
#: ``GET /v1/cubes/{ns}/{name}``: a cube and its versions.
CUBE = Shape(
    "a cube document (an object with name and a list of versions)",
    {"name": str, "versions": ListOf(VERSION)},
    {
        "normalized_name": str,
        "description": _OPTIONAL_TEXT,
        "keywords": _STRINGS,
        "latest_version": _OPTIONAL_TEXT,
        "downloads": int,
    },
)
_PART = Shape("a part", {"kind": str, "name": str, "size": int, "digest": str})
#: ``GET /v1/cubes/{ns}/{name}/versions/{version}``: one version with its parts.
VERSION_DETAIL = Shape(
    "a version document (with version, manifest_digest and published_at)",
    {**VERSION.required, "published_at": str},
    {**VERSION.optional, "downloads": int, "parts": ListOf(_PART)},
)
_HIT = Shape(
    "a search hit",
    {"name": str},
    {
        "description": _OPTIONAL_TEXT,
        "keywords": _STRINGS,
        "latest_version": _OPTIONAL_TEXT,
        "downloads": int,
        "updated_at": str,
    },
)
#: ``GET /v1/search``.
SEARCH = Shape("a search result (with total and results)", {"total": int, "results": ListOf(_HIT)})
#: ``GET /v1/namespaces/{ns}/keys``.
KEY_LIST = Shape(
    "a key list (an object with a list of keys)",
    {"keys": ListOf(Shape("a key", {"public_key_pem": str}, {"key_id": str}))},
)
#: ``GET /v1/whoami``.
WHOAMI = Shape(
    "an identity (with account and namespaces)",
    {"account": str, "namespaces": _STRINGS},
    {"actions": _STRINGS, "expires_at": _OPTIONAL_TEXT},
)
#: ``PUT /v1/blobs/{digest}`` and the last ``PUT`` of an upload session.
UPLOAD_RESULT = Shape(
    "an upload result (with digest, size and created)",
    {"digest": str, "size": int, "created": bool},
)
#: ``POST /v1/uploads`` and ``GET``/``PATCH /v1/uploads/{id}`` (spec §3).
UPLOAD_SESSION = Shape(
    "an upload session (with exists, or upload_id and offset)",
    {},
    {
        "exists": bool,
        "upload_id": _OPTIONAL_TEXT,
        "offset": int,
        "chunk_size_max": (int, _NULL),
    },
)
#: ``POST /v1/versions``.
PUBLISH_RESULT = Shape(
    "a publish result (with name, version, manifest_digest and created)",
    {"name": str, "version": str, "manifest_digest": str, "created": bool},
)
#: ``POST /v1/tokens``.
TOKEN_CREATED = Shape(
    "a created token (with token, namespaces, actions and expires_at)",
    {"token": str, "namespaces": _STRINGS, "actions": _STRINGS, "expires_at": str},
)
#: ``GET /v1/tokens``.
TOKEN_LIST = Shape(
    "a token list (an object with a list of tokens)",
    {
        "tokens": ListOf(
            Shape(
                "a token",
                {
                    "id": int,
                    "prefix": str,
                    "namespaces": _STRINGS,
                    "actions": _STRINGS,
                    "revoked": bool,
                    "current": bool,
                },
                {"expires_at": _OPTIONAL_TEXT, "description": _OPTIONAL_TEXT},
            )
        )
    },
)
#: Any JSON object (answers the client only prints).
OBJECT = Shape("a JSON object", {})
