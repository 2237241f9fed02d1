"""msgspec models of the MIP v1 manifest and its parts (MIP-1 §5, §7).

Documents become models through :func:`from_document` and models become documents through
:func:`to_document`. Unknown fields are not refused: every model keeps them
(:func:`unknown_fields`) and :func:`to_document` writes them back, so a tool that rewrites a
manifest preserves what a newer minor version added (MIP-1 §2); a part of an unknown kind is kept
as :class:`OtherPart`.

Validation stops at the first problem; :func:`describe_error` puts it on one line, ``where: what``
(for example ``parts[0].size: Expected `int` >= 0``). msgspec checks the declared constraints
(``msgspec.Meta``) when it converts a document, not when a model is built in code; the custom
checks in ``__post_init__`` run both times.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import msgspec

from mip.digests import Digest, parse_digest
from mip.limits import (
    MAX_AUTHORS,
    MAX_CARD_README_CHARS,
    MAX_CARD_URL_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_KEYWORD_CHARS,
    MAX_KEYWORDS,
    MAX_PART_NAME_CHARS,
    MAX_RECORD_ID_CHARS,
)
from mip.names import validate_cube_name
from mip.versions import parse_specifier, parse_version

PLAINTEXT_MEDIA_TYPE = "application/vnd.memcube.plaintext.v1+msgpack"
ACTIVATION_MEDIA_TYPE = "application/vnd.memcube.activation.v1+safetensors"
PARAMETER_MEDIA_TYPE = "application/vnd.memcube.parameter.v1+safetensors"

#: Tensor dtypes a part may declare (safetensors names).
TensorDtype = Literal["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"]

#: The part kinds this version of the protocol defines (MIP-1 §7).
KNOWN_KINDS = ("plaintext", "activation", "parameter")

_SHA256_HEX = r"^[0-9a-f]{64}$"
# msgspec checks a ``pattern`` with ``re.search``, where ``$`` also matches before a final "\n":
# the JSON Schemas keep the patterns (ECMA-262 ``$`` is the end), and ``__post_init__`` checks each
# value with ``fullmatch`` against these (MIP-1 §5.2, §7).
_SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}")
_PART_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MIP_VERSION_RE = re.compile(r"(?:0|[1-9][0-9]{0,8})\.(?:0|[1-9][0-9]{0,8})")
#: The file-name suffixes an installed part's blob gets (plaintext, activation, unknown kinds).
_INSTALLED_SUFFIXES = (".msgpack", ".safetensors", ".bin")
#: RFC 3339 in the JSON Schemas; the time zone of ``created`` is checked in ``__post_init__``, to
#: say what is wrong the way the other checks do.
_DATE_TIME = msgspec.Meta(extra_json_schema={"format": "date-time"})
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


def _check_fullmatch(model: msgspec.Struct, pattern: re.Pattern[str], *fields: str) -> None:
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


def _join(where: str, field: str) -> str:
    if not where or not field:
        return where or field
    return where + field if field.startswith("[") else f"{where}.{field}"


def _locate(error: msgspec.ValidationError) -> tuple[str, str]:
    """Where (``parts[0].size``; empty for the whole document) and what of a validation error."""
    text = str(error)
    located = _LOCATED.fullmatch(text)
    what, where = (located["what"], located["where"]) if located else (text, "")
    where = where.removeprefix(".")
    if isinstance(error.__cause__, FieldError):
        where, what = _join(where, error.__cause__.field), error.__cause__.problem
    elif missing := _MISSING.fullmatch(what):
        where, what = _join(where, missing["field"]), "required field is missing"
    return where, what


def describe_error(error: msgspec.ValidationError) -> str:
    """The (first) problem of a validation error on one line: ``where: what``."""
    where, what = _locate(error)
    return f"{where}: {what}" if where else what


class Author(OpenStruct, kw_only=True):
    """A person or organisation credited with the cube."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None


class AccessPolicy(OpenStruct, kw_only=True):
    """Which local principals may read or write the cube's memories; ``*`` means anyone."""

    read: list[str] = msgspec.field(default_factory=lambda: ["*"])
    write: list[str] = msgspec.field(default_factory=lambda: ["*"])


class Governance(OpenStruct, kw_only=True):
    """Governance defaults of the cube's memories (MIP-1 §5.3)."""

    access: AccessPolicy = msgspec.field(default_factory=AccessPolicy)
    ttl_seconds: Annotated[int, msgspec.Meta(ge=1)] | None = None
    expires_at: Annotated[datetime, _DATE_TIME] | None = None
    sensitivity: Literal["public", "internal", "confidential", "restricted"] = "public"


class Provenance(OpenStruct, kw_only=True):
    """Where the bundle came from: the tool that built it and the source it was built from."""

    tool: Annotated[str, msgspec.Meta(max_length=200)]
    source: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


#: A card link: ``http://`` or ``https://``; :func:`url_problem` checks the rest.
_CARD_URL = msgspec.Meta(
    max_length=MAX_CARD_URL_CHARS, pattern=r"^https?://\S+$", extra_json_schema={"format": "uri"}
)
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def url_problem(url: str) -> str | None:
    """What is wrong with a card link (MIP-1 §5.4), or ``None`` when it is acceptable.

    Only absolute ``http``/``https`` URLs with a host; no whitespace, control characters or
    backslashes (a ``$`` in a pattern would let a trailing newline through, and browsers read a
    backslash as a slash); no user name or password (``https://trusted.example@evil.example``
    shows one host and opens another).
    """
    if not url.startswith(("http://", "https://")):
        return "must be an http:// or https:// URL"
    if _URL_FORBIDDEN.search(url):
        return "must not contain spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    return None


class Card(OpenStruct, kw_only=True):
    """The cube's card (MIP-1 §5.4): its README and links, what a registry page shows.

    ``readme`` is CommonMark; readers render it as untrusted text (no raw HTML, no remote
    images). Packing takes it from the source's ``README.md``.
    """

    readme: Annotated[str, msgspec.Meta(max_length=MAX_CARD_README_CHARS)] = ""
    homepage: Annotated[str, _CARD_URL] | None = None
    repository: Annotated[str, _CARD_URL] | None = None

    def __post_init__(self) -> None:
        for field in ("homepage", "repository"):
            value = getattr(self, field)
            problem = None if value is None else url_problem(value)
            if problem is not None:
                raise FieldError(field, problem)


class ModelFingerprint(OpenStruct, kw_only=True):
    """The identity of a model a tensor part belongs to (MIP-1 §7.2).

    Two fingerprints match when their :attr:`digest` is equal: every field but ``model_id`` and
    ``revision`` (names, not identity) goes into it, unknown (extension) fields included.
    """

    model_id: Annotated[str, msgspec.Meta(max_length=500)]
    revision: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    architecture: Annotated[str, msgspec.Meta(max_length=200)]
    config_sha256: Annotated[str, msgspec.Meta(pattern=_SHA256_HEX)]
    tokenizer_sha256: Annotated[str, msgspec.Meta(pattern=_SHA256_HEX)]
    chat_template_sha256: Annotated[str, msgspec.Meta(pattern=_SHA256_HEX)] | None = None
    dtype: Annotated[str, msgspec.Meta(max_length=32)]
    num_layers: Annotated[int, msgspec.Meta(ge=1)]
    num_attention_heads: Annotated[int, msgspec.Meta(ge=1)]
    num_kv_heads: Annotated[int, msgspec.Meta(ge=1)]
    head_dim: Annotated[int, msgspec.Meta(ge=1)]
    hidden_size: Annotated[int, msgspec.Meta(ge=1)]
    vocab_size: Annotated[int, msgspec.Meta(ge=1)]
    max_position_embeddings: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def __post_init__(self) -> None:
        _check_fullmatch(
            self, _SHA256_HEX_RE, "config_sha256", "tokenizer_sha256", "chat_template_sha256"
        )

    def identity(self) -> dict[str, Any]:
        """The fields that make the model what it is (``null`` values included)."""
        document = to_document(self, omit_none=False)
        del document["model_id"], document["revision"]
        return document

    @property
    def digest(self) -> str:
        """A hex digest over the identity fields; equal digests mean the same model."""
        encoded = json.dumps(self.identity(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()


class MemoryRef(OpenStruct, kw_only=True):
    """A memory id and the version of it a tensor part was computed from."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_RECORD_ID_CHARS)]
    version: Annotated[int, msgspec.Meta(ge=1)]


class _PartBase(OpenStruct, kw_only=True):
    name: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=MAX_PART_NAME_CHARS, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
        ),
    ]
    media_type: Annotated[str, msgspec.Meta(max_length=200)]
    digest: Digest
    size: Annotated[int, msgspec.Meta(ge=0)]

    def __post_init__(self) -> None:
        _check_fullmatch(self, _PART_NAME_RE, "name")
        try:
            parse_digest(self.digest)
        except ValueError as exc:
            raise FieldError("digest", str(exc)) from exc


class PlaintextPart(_PartBase, kw_only=True):
    """Plaintext memories: a msgpack stream of records (MIP-1 §7.1)."""

    kind: Literal["plaintext"] = "plaintext"
    media_type: str = PLAINTEXT_MEDIA_TYPE
    count: Annotated[int, msgspec.Meta(ge=0)]


class ActivationPart(_PartBase, kw_only=True):
    """A KV snapshot of ``model`` over the text of ``sources`` (MIP-1 §7.2)."""

    kind: Literal["activation"] = "activation"
    media_type: str = ACTIVATION_MEDIA_TYPE
    model: ModelFingerprint
    dtype: TensorDtype
    num_layers: Annotated[int, msgspec.Meta(ge=1)]
    num_kv_heads: Annotated[int, msgspec.Meta(ge=1)]
    head_dim: Annotated[int, msgspec.Meta(ge=1)]
    num_tokens: Annotated[int, msgspec.Meta(ge=1)]
    token_ids_sha256: Annotated[str, msgspec.Meta(pattern=_SHA256_HEX)]
    sources: list[MemoryRef] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fullmatch(self, _SHA256_HEX_RE, "token_ids_sha256")


class ParameterPart(_PartBase, kw_only=True):
    """A PEFT LoRA adapter for ``base_model`` (MIP-1 §7.3).

    The blob is ``adapter_model.safetensors``; ``adapter_config`` is ``adapter_config.json``.
    """

    kind: Literal["parameter"] = "parameter"
    media_type: str = PARAMETER_MEDIA_TYPE
    base_model: ModelFingerprint
    adapter_config: dict[str, Any]
    sources: list[MemoryRef] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        config = self.adapter_config
        if config.get("peft_type") != "LORA":
            raise FieldError("adapter_config", "adapter_config.peft_type must be 'LORA'")
        rank = config.get("r")
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise FieldError("adapter_config", "adapter_config.r must be a positive integer")


class OtherPart(_PartBase, kw_only=True):
    """A part of a kind this library does not know (a newer minor version): kept, not used."""

    kind: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=64, extra_json_schema={"not": {"enum": list(KNOWN_KINDS)}}
        ),
    ]


Part = PlaintextPart | ActivationPart | ParameterPart | OtherPart

_PART_MODELS: dict[str, type[PlaintextPart | ActivationPart | ParameterPart]] = {
    "plaintext": PlaintextPart,
    "activation": ActivationPart,
    "parameter": ParameterPart,
}


def part_model(document: Any) -> type[Part]:
    """The model of a raw part: by its ``kind``, :class:`OtherPart` for a kind not known here."""
    kind = document.get("kind") if isinstance(document, dict) else None
    return _PART_MODELS.get(kind, OtherPart) if isinstance(kind, str) else OtherPart


def _convert_parts(raw: list[Any]) -> list[Part]:
    parts: list[Part] = []
    for index, item in enumerate(raw):
        if isinstance(item, PlaintextPart | ActivationPart | ParameterPart | OtherPart):
            parts.append(item)  # a part built in code
            continue
        try:
            parts.append(msgspec.convert(item, part_model(item)))
        except msgspec.ValidationError as exc:
            where, what = _locate(exc)
            raise FieldError(_join(f"parts[{index}]", where), what) from exc
    return parts


def installed_stem(name: str) -> str:
    """What two part names must not share (MIP-1 §7): the name case-folded, less one suffix.

    A client installs a part as a file named after it (``NAME.msgpack``, ``NAME.safetensors``,
    ``NAME.bin``) or a directory (``NAME/``), possibly on a case-insensitive file system: a
    parameter part ``a.msgpack`` beside a plaintext part ``a`` would be one path.
    """
    folded = name.lower()
    for suffix in _INSTALLED_SUFFIXES:
        if folded.endswith(suffix):
            return folded[: -len(suffix)]
    return folded


def _refuse_installed_name_clashes(parts: list[Part]) -> None:
    seen: dict[str, str] = {}
    for part in parts:
        other = seen.setdefault(installed_stem(part.name), part.name)
        if other != part.name:
            raise ValueError(
                f"part names {other!r} and {part.name!r} would install to the same path: "
                "names must differ after case folding and without a .msgpack, .safetensors "
                "or .bin suffix"
            )


if TYPE_CHECKING:
    _Parts = list[Part]
else:
    # msgspec decodes a union of structs only by a tag, and a tagged union has no fallback for
    # the kinds a newer minor version adds (OtherPart): parts come in raw and __post_init__
    # gives each one the model of its kind.
    _Parts = list[Any]


class Manifest(OpenStruct, kw_only=True):
    """The manifest of one cube version: metadata plus the list of its parts (MIP-1 §5)."""

    mip_version: Annotated[str, msgspec.Meta(pattern=r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")]
    name: str
    version: str
    description: Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION_CHARS)] = ""
    license: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    keywords: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=MAX_KEYWORD_CHARS)]],
        msgspec.Meta(max_length=MAX_KEYWORDS),
    ] = msgspec.field(default_factory=list)
    authors: Annotated[list[Author], msgspec.Meta(max_length=MAX_AUTHORS)] = msgspec.field(
        default_factory=list
    )
    created: Annotated[datetime, _DATE_TIME]
    dependencies: dict[str, str] = msgspec.field(default_factory=dict)
    governance: Governance = msgspec.field(default_factory=Governance)
    provenance: Provenance | None = None
    card: Card | None = None
    parts: _Parts

    def __post_init__(self) -> None:
        _check_fullmatch(self, _MIP_VERSION_RE, "mip_version")
        for field, check in (("name", validate_cube_name), ("version", parse_version)):
            try:
                check(getattr(self, field))
            except ValueError as exc:
                raise FieldError(field, str(exc)) from exc
        if self.created.tzinfo is None:
            raise FieldError(
                "created", "created must carry a time zone (RFC 3339, e.g. 2026-01-01T00:00:00Z)"
            )
        for name, specifier in self.dependencies.items():
            try:
                validate_cube_name(name)
                parse_specifier(specifier)
            except ValueError as exc:
                raise FieldError("dependencies", str(exc)) from exc
        self.parts = _convert_parts(self.parts)
        counts = Counter(part.name for part in self.parts)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"part names must be unique; repeated: {', '.join(duplicates)}")
        _refuse_installed_name_clashes(self.parts)

    def blob_sizes(self) -> dict[Digest, int]:
        """Every blob the manifest references, with its declared size."""
        sizes: dict[Digest, int] = {}
        for part in self.parts:
            previous = sizes.setdefault(part.digest, part.size)
            if previous != part.size:
                raise ValueError(f"blob {part.digest} is declared with two different sizes")
        return sizes
