"""msgspec models of a manifest's parts and the model fingerprint they name (MIP-1 §7).

Each known kind has its model (:class:`PlaintextPart`, :class:`ActivationPart`,
:class:`ParameterPart`); a part of a kind this version does not know is kept as
:class:`OtherPart` (:func:`part_model` picks by ``kind``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

import msgspec

from mip.digests import Digest, parse_digest
from mip.limits import MAX_PART_NAME_CHARS, MAX_RECORD_ID_CHARS
from mip.open_struct import FieldError, OpenStruct, check_fullmatch, to_document

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
# value with ``fullmatch`` against these (MIP-1 §7).
_SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}")
_PART_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: The file-name suffixes an installed part's blob gets (plaintext, activation, unknown kinds).
_INSTALLED_SUFFIXES = (".msgpack", ".safetensors", ".bin")


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
        check_fullmatch(
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
        check_fullmatch(self, _PART_NAME_RE, "name")
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
        check_fullmatch(self, _SHA256_HEX_RE, "token_ids_sha256")


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
