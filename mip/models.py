"""msgspec models of the MIP v1 manifest (MIP-1 §5); its parts are in :mod:`mip.parts`.

The machinery every model shares (unknown fields kept, documents in and out, one-line errors) is
:mod:`mip.open_struct`; both modules' names are re-exported here, so ``from mip.models import X``
is the one import a caller needs.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from mip.digests import Digest
from mip.limits import (
    MAX_AUTHORS,
    MAX_CARD_README_CHARS,
    MAX_CARD_URL_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_KEYWORD_CHARS,
    MAX_KEYWORDS,
)
from mip.names import validate_cube_name
from mip.open_struct import (
    FieldError,
    OpenStruct,
    check_fullmatch,
    describe_error,
    from_document,
    join_location,
    locate_error,
    to_document,
    unknown_fields,
)
from mip.parts import (
    ACTIVATION_MEDIA_TYPE,
    KNOWN_KINDS,
    PARAMETER_MEDIA_TYPE,
    PLAINTEXT_MEDIA_TYPE,
    ActivationPart,
    MemoryRef,
    ModelFingerprint,
    OtherPart,
    ParameterPart,
    Part,
    PlaintextPart,
    TensorDtype,
    installed_stem,
    part_model,
)
from mip.versions import parse_specifier, parse_version

__all__ = [
    "ACTIVATION_MEDIA_TYPE",
    "KNOWN_KINDS",
    "PARAMETER_MEDIA_TYPE",
    "PLAINTEXT_MEDIA_TYPE",
    "AccessPolicy",
    "ActivationPart",
    "Author",
    "Card",
    "FieldError",
    "Governance",
    "Manifest",
    "MemoryRef",
    "ModelFingerprint",
    "OpenStruct",
    "OtherPart",
    "ParameterPart",
    "Part",
    "PlaintextPart",
    "Provenance",
    "TensorDtype",
    "describe_error",
    "from_document",
    "installed_stem",
    "part_model",
    "to_document",
    "unknown_fields",
    "url_problem",
]

#: ``mip_version`` checked with ``fullmatch`` (msgspec's ``pattern`` lets a final "\n" through).
_MIP_VERSION_RE = re.compile(r"(?:0|[1-9][0-9]{0,8})\.(?:0|[1-9][0-9]{0,8})")
#: RFC 3339 in the JSON Schemas; the time zone of ``created`` is checked in ``__post_init__``, to
#: say what is wrong the way the other checks do.
_DATE_TIME = msgspec.Meta(extra_json_schema={"format": "date-time"})


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


def _convert_parts(raw: list[Any]) -> list[Part]:
    parts: list[Part] = []
    for index, item in enumerate(raw):
        if isinstance(item, PlaintextPart | ActivationPart | ParameterPart | OtherPart):
            parts.append(item)  # a part built in code
            continue
        try:
            parts.append(msgspec.convert(item, part_model(item)))
        except msgspec.ValidationError as exc:
            where, what = locate_error(exc)
            raise FieldError(join_location(f"parts[{index}]", where), what) from exc
    return parts


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
        check_fullmatch(self, _MIP_VERSION_RE, "mip_version")
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
