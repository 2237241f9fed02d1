"""Open document models: msgspec structs that keep the fields they do not declare (MIP-1 §2).

Documents become models through :func:`from_document` and models become documents through
:func:`to_document`. Unknown fields are not refused: every model keeps them
(:func:`unknown_fields`) and :func:`to_document` writes them back, so a tool that rewrites a
manifest preserves what a newer minor version added.

Validation stops at the first problem; :func:`describe_error` puts it on one line, ``where: what``
(for example ``parts[0].size: Expected `int` >= 0``). msgspec checks the declared constraints
(``msgspec.Meta``) when it converts a document, not when a model is built in code; the custom
checks in ``__post_init__`` run both times (raising :class:`FieldError`).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, TypeVar

import msgspec

#: Where an instance keeps its unknown fields (in its ``__dict__``, beside the declared slots).
_UNKNOWN = "__mip_unknown__"

_T = TypeVar("_T")


class FieldError(ValueError):
    """A custom check failed on one field: ``field`` says where, ``problem`` what.

    msgspec wraps the error of a ``__post_init__`` in a ``ValidationError`` located at the model;
    :func:`describe_error` adds the field to that location.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class OpenStruct(msgspec.Struct, kw_only=True, dict=True):
    """Base of every MIP document model: fields are keyword-only; unknown fields are kept.

    ``dict=True`` gives instances a ``__dict__`` where :func:`from_document` keeps the fields
    the model does not declare (see :func:`unknown_fields`).
    """


def check_fullmatch(model: msgspec.Struct, pattern: re.Pattern[str], *fields: str) -> None:
    """Refuse a field whose whole value does not match ``pattern`` (a trailing newline included)."""
    for field in fields:
        value = getattr(model, field)
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise FieldError(field, f"Expected `str` matching regex {pattern.pattern!r}")


def unknown_fields(model: OpenStruct) -> dict[str, Any]:
    """The fields of ``model`` its class does not declare, as read by :func:`from_document`.

    The dict is the model's own: what is added to it is written by :func:`to_document` (an
    extension field, MIP-1 §2). Copies (``copy.copy``, ``msgspec.structs.replace``) do not keep it.
    """
    unknown: dict[str, Any] = vars(model).setdefault(_UNKNOWN, {})
    return unknown


@cache
def _declared(model: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(model.__struct_encode_fields__)


def _keep_unknown(model: msgspec.Struct, raw: dict[str, Any]) -> None:
    """Record, on ``model`` and every model inside it, the fields of ``raw`` it does not declare."""
    declared = _declared(type(model))
    if isinstance(model, OpenStruct) and not declared.issuperset(raw):
        vars(model)[_UNKNOWN] = {k: v for k, v in raw.items() if k not in declared}
    for name, key in zip(model.__struct_fields__, model.__struct_encode_fields__, strict=True):
        value = getattr(model, name)
        if isinstance(value, msgspec.Struct):
            inner = raw.get(key)
            if isinstance(inner, dict):
                _keep_unknown(value, inner)
        elif isinstance(value, list) and value and isinstance(value[0], msgspec.Struct):
            # A list of models (authors, sources, parts) beside its raw list.
            for item, inner in zip(value, raw.get(key) or (), strict=False):
                if isinstance(inner, dict):
                    _keep_unknown(item, inner)


def _refuse_surrogates(document: Any) -> None:
    """Refuse a string anywhere in ``document`` that is not valid Unicode.

    A JSON escape such as ``"\\ud800"`` decodes to a lone surrogate: no UTF-8 writer (the
    canonical manifest bytes, msgspec, a database) can encode it.
    """
    stack = [document]
    while stack:  # not recursive: JSON may nest deeper than Python's stack
        value = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise msgspec.ValidationError(
                        "a string holds an unpaired surrogate (\\ud800-\\udfff): "
                        "text must be valid Unicode"
                    ) from None
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def from_document(document: Any, model: type[_T]) -> _T:
    """Validate a parsed JSON document as ``model``, keeping its unknown fields at every level.

    Raises ``msgspec.ValidationError`` at the first problem (see :func:`describe_error`).
    """
    _refuse_surrogates(document)
    value = msgspec.convert(document, model)
    if isinstance(value, msgspec.Struct) and isinstance(document, dict):
        _keep_unknown(value, document)
    return value


def _plain(value: Any, omit_none: bool) -> Any:
    if isinstance(value, msgspec.Struct):
        return to_document(value, omit_none=omit_none)
    if isinstance(value, list) and value and isinstance(value[0], msgspec.Struct):
        return [_plain(item, omit_none) for item in value]
    # Anything else holds no model (keywords, dependencies, adapter_config, unknown fields):
    # msgspec writes it as JSON values, nulls kept, datetimes in RFC 3339 ("Z" for UTC).
    return msgspec.to_builtins(value)


def to_document(model: msgspec.Struct, *, omit_none: bool = True) -> dict[str, Any]:
    """The JSON document of ``model``: declared fields in order, then its unknown fields.

    ``None`` values of fields are left out at every level unless ``omit_none`` is false (values
    inside free-form objects such as ``adapter_config`` are kept); datetimes become RFC 3339
    strings.
    """
    document: dict[str, Any] = {}
    for name, key in zip(model.__struct_fields__, model.__struct_encode_fields__, strict=True):
        value = getattr(model, name)
        if value is None:
            if not omit_none:
                document[key] = None
        elif type(value) in _SCALARS:
            document[key] = value
        else:
            document[key] = _plain(value, omit_none)
    unknown = getattr(model, "__dict__", {}).get(_UNKNOWN)
    if unknown:
        for key, value in unknown.items():
            if key not in document and (value is not None or not omit_none):
                document[key] = _plain(value, omit_none)
    return document


_SCALARS = frozenset({str, int, bool, float})
_LOCATED = re.compile(r"(?P<what>.*) - at `\$(?P<where>[^`]*)`", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def join_location(where: str, field: str) -> str:
    """``where`` and then ``field`` inside it, as :func:`describe_error` writes a location."""
    if not where or not field:
        return where or field
    return where + field if field.startswith("[") else f"{where}.{field}"


def locate_error(error: msgspec.ValidationError) -> tuple[str, str]:
    """Where (``parts[0].size``; empty for the whole document) and what of a validation error."""
    text = str(error)
    located = _LOCATED.fullmatch(text)
    what, where = (located["what"], located["where"]) if located else (text, "")
    where = where.removeprefix(".")
    if isinstance(error.__cause__, FieldError):
        where, what = join_location(where, error.__cause__.field), error.__cause__.problem
    elif missing := _MISSING.fullmatch(what):
        where, what = join_location(where, missing["field"]), "required field is missing"
    return where, what


def describe_error(error: msgspec.ValidationError) -> str:
    """The (first) problem of a validation error on one line: ``where: what``."""
    where, what = locate_error(error)
    return f"{where}: {what}" if where else what
