"""Pydantic models of the MIP v1 manifest and its parts (MIP-1 §5, §7).

Every model keeps unknown fields (``extra="allow"``) so a reader of a newer minor version
round-trips what it does not understand; a part of an unknown kind is kept as :class:`OtherPart`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from mip.digests import Digest, parse_digest
from mip.names import validate_cube_name
from mip.versions import parse_specifier, parse_version

PLAINTEXT_MEDIA_TYPE = "application/vnd.memcube.plaintext.v1+msgpack"
ACTIVATION_MEDIA_TYPE = "application/vnd.memcube.activation.v1+safetensors"
PARAMETER_MEDIA_TYPE = "application/vnd.memcube.parameter.v1+safetensors"

#: Tensor dtypes a part may declare (safetensors names).
TensorDtype = Literal["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"]


def describe_validation_error(error: ValidationError) -> str:
    """Every problem of a pydantic error on one line: ``where: what; where: what``."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        # A model-level check has no location: its message stands alone.
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


class _Open(BaseModel):
    """Base of every manifest model: unknown fields are kept, values are validated on assignment."""

    model_config = ConfigDict(extra="allow", frozen=False, populate_by_name=True)


class Author(_Open):
    """A person or organisation credited with the cube."""

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)


class AccessPolicy(_Open):
    """Which local principals may read or write the cube's memories; ``*`` means anyone."""

    read: list[str] = Field(default_factory=lambda: ["*"])
    write: list[str] = Field(default_factory=lambda: ["*"])


class Governance(_Open):
    """Governance defaults of the cube's memories (MIP-1 §5.3)."""

    access: AccessPolicy = Field(default_factory=AccessPolicy)
    ttl_seconds: int | None = Field(default=None, ge=1)
    expires_at: datetime | None = None
    sensitivity: Literal["public", "internal", "confidential", "restricted"] = "public"


class Provenance(_Open):
    """Where the bundle came from: the tool that built it and the source it was built from."""

    tool: str = Field(max_length=200)
    source: str | None = Field(default=None, max_length=2000)


class ModelFingerprint(_Open):
    """The identity of a model a tensor part belongs to (MIP-1 §7.2).

    Two fingerprints match when their :attr:`digest` is equal: every field but ``model_id`` and
    ``revision`` (names, not identity) goes into it.
    """

    model_id: str = Field(max_length=500)
    revision: str | None = Field(default=None, max_length=200)
    architecture: str = Field(max_length=200)
    config_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tokenizer_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    chat_template_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    dtype: str = Field(max_length=32)
    num_layers: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    max_position_embeddings: int | None = Field(default=None, ge=1)

    @property
    def digest(self) -> str:
        """A hex digest over the identity fields; equal digests mean the same model."""
        identity = self.model_dump(mode="json", exclude={"model_id", "revision"})
        encoded = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()


class MemoryRef(_Open):
    """A memory id and the version of it a tensor part was computed from."""

    id: str = Field(min_length=1, max_length=256)
    version: int = Field(ge=1)


class _PartBase(_Open):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    media_type: str = Field(max_length=200)
    digest: Digest
    size: int = Field(ge=0)

    @field_validator("digest", mode="before")
    @classmethod
    def _check_digest(cls, value: Any) -> Digest:
        return parse_digest(value)


class PlaintextPart(_PartBase):
    """Plaintext memories: a msgpack stream of records (MIP-1 §7.1)."""

    kind: Literal["plaintext"] = "plaintext"
    media_type: str = PLAINTEXT_MEDIA_TYPE
    count: int = Field(ge=0)


class ActivationPart(_PartBase):
    """A KV snapshot of ``model`` over the text of ``sources`` (MIP-1 §7.2)."""

    kind: Literal["activation"] = "activation"
    media_type: str = ACTIVATION_MEDIA_TYPE
    model: ModelFingerprint
    dtype: TensorDtype
    num_layers: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    num_tokens: int = Field(ge=1)
    token_ids_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    sources: list[MemoryRef] = Field(default_factory=list)


class ParameterPart(_PartBase):
    """A PEFT LoRA adapter for ``base_model`` (MIP-1 §7.3).

    The blob is ``adapter_model.safetensors``; ``adapter_config`` is ``adapter_config.json``.
    """

    kind: Literal["parameter"] = "parameter"
    media_type: str = PARAMETER_MEDIA_TYPE
    base_model: ModelFingerprint
    adapter_config: dict[str, Any]
    sources: list[MemoryRef] = Field(default_factory=list)

    @field_validator("adapter_config")
    @classmethod
    def _check_adapter_config(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("peft_type") != "LORA":
            raise ValueError("adapter_config.peft_type must be 'LORA'")
        if not isinstance(value.get("r"), int) or value["r"] < 1:
            raise ValueError("adapter_config.r must be a positive integer")
        return value


class OtherPart(_PartBase):
    """A part of a kind this library does not know (a newer minor version): kept, not used."""

    kind: str = Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"not": {"enum": ["plaintext", "activation", "parameter"]}},
    )


def _part_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in ("plaintext", "activation", "parameter") else "other"


Part = Annotated[
    Annotated[PlaintextPart, Tag("plaintext")]
    | Annotated[ActivationPart, Tag("activation")]
    | Annotated[ParameterPart, Tag("parameter")]
    | Annotated[OtherPart, Tag("other")],
    Discriminator(_part_tag),
]


class Manifest(_Open):
    """The manifest of one cube version: metadata plus the list of its parts (MIP-1 §5)."""

    mip_version: str = Field(pattern=r"^[0-9]+\.[0-9]+$")
    name: str
    version: str
    description: str = Field(default="", max_length=10_000)
    license: str | None = Field(default=None, max_length=200)
    keywords: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    authors: list[Author] = Field(default_factory=list, max_length=100)
    created: datetime
    dependencies: dict[str, str] = Field(default_factory=dict)
    governance: Governance = Field(default_factory=Governance)
    provenance: Provenance | None = None
    parts: list[Part] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return validate_cube_name(value)

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        parse_version(value)
        return value

    @field_validator("created")
    @classmethod
    def _check_created(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created must carry a time zone (RFC 3339, e.g. 2026-01-01T00:00:00Z)")
        return value

    @field_validator("dependencies")
    @classmethod
    def _check_dependencies(cls, value: dict[str, str]) -> dict[str, str]:
        for name, specifier in value.items():
            validate_cube_name(name)
            parse_specifier(specifier)
        return value

    @model_validator(mode="after")
    def _check_parts(self) -> Manifest:
        names = [part.name for part in self.parts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"part names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def blob_sizes(self) -> dict[Digest, int]:
        """Every blob the manifest references, with its declared size."""
        sizes: dict[Digest, int] = {}
        for part in self.parts:
            previous = sizes.setdefault(part.digest, part.size)
            if previous != part.size:
                raise ValueError(f"blob {part.digest} is declared with two different sizes")
        return sizes
