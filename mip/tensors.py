"""Validation of safetensors blobs without loading them (MIP-1 §7.2, §7.3).

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON header, then the
tensor data. We check, reading only the header: the size cap, strict JSON (no duplicate keys),
known dtypes, ``shape`` and ``data_offsets`` consistent with the dtype, offsets that cover the data
buffer exactly with no holes or overlaps, and that the file is exactly as long as the header says.
Then a part's metadata is checked against the tensors it describes.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from typing import Any, BinaryIO

import msgspec

from mip.errors import TensorError
from mip.limits import DEFAULT_LIMITS, Limits
from mip.models import ActivationPart, ParameterPart, describe_error, from_document, to_document
from mip.strict_json import load_json

#: Bytes per element of each safetensors dtype.
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip

#: The ``__metadata__`` keys that make a tensor file self-describing (MIP-1 §7.2, §7.3).
ACTIVATION_METADATA_KEY = "memcube.activation"
PARAMETER_METADATA_KEY = "memcube.parameter"


def metadata_json(header: msgspec.Struct) -> str:
    """The JSON text a tensor file's ``__metadata__`` entry carries for ``header``.

    Compact, fields in declaration order, ``null`` values kept, unknown fields (such as a
    fingerprint's extensions) included.
    """
    document = to_document(header, omit_none=False)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


class TensorInfo(msgspec.Struct, frozen=True):
    """One tensor's header entry."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


class TensorHeader(msgspec.Struct, frozen=True):
    """A validated safetensors header."""

    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    header_size: int
    data_size: int

    @property
    def file_size(self) -> int:
        """The exact size the file must have."""
        return 8 + self.header_size + self.data_size


def read_header(stream: BinaryIO, size: int, limits: Limits = DEFAULT_LIMITS) -> TensorHeader:
    """Read and validate the header of a safetensors blob of ``size`` bytes from ``stream``."""
    prefix = stream.read(8)
    if len(prefix) < 8:
        raise TensorError("invalid safetensors file: shorter than its 8-byte header length")
    (header_size,) = struct.unpack("<Q", prefix)
    if header_size > limits.max_safetensors_header_bytes:
        raise TensorError(
            f"invalid safetensors header: {header_size} bytes, over the "
            f"{limits.max_safetensors_header_bytes}-byte limit"
        )
    if 8 + header_size > size:
        raise TensorError("invalid safetensors file: truncated inside its header")
    raw = stream.read(header_size)
    if len(raw) != header_size:
        raise TensorError("invalid safetensors file: truncated inside its header")
    document = load_json(raw, TensorError, "invalid safetensors header", "duplicate keys")
    if not isinstance(document, dict):
        raise TensorError("invalid safetensors header: expected a JSON object")
    metadata = document.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise TensorError("invalid safetensors header: __metadata__ must map strings to strings")
    if len(document) > limits.max_tensors:
        raise TensorError(
            f"invalid safetensors header: {len(document)} tensors, limit {limits.max_tensors}"
        )
    tensors: dict[str, TensorInfo] = {}
    for name, entry in document.items():
        tensors[name] = _tensor_info(name, entry, limits)
    data_size = size - 8 - header_size
    _check_coverage(tensors, data_size)
    return TensorHeader(tensors, metadata, header_size, data_size)


def _tensor_info(name: str, entry: Any, limits: Limits) -> TensorInfo:
    if not isinstance(entry, dict):
        raise TensorError(f"invalid safetensors header: tensor {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_SIZES:
        raise TensorError(
            f"invalid safetensors header: tensor {name!r} has unknown dtype {dtype!r}"
        )
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TensorError(f"invalid safetensors header: tensor {name!r} has an invalid shape")
    if len(shape) > limits.max_tensor_rank:
        raise TensorError(
            f"invalid safetensors header: tensor {name!r} has {len(shape)} dimensions, "
            f"limit {limits.max_tensor_rank}"
        )
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise TensorError(f"invalid safetensors header: tensor {name!r} has invalid data_offsets")
    expected = math.prod(shape) * DTYPE_SIZES[dtype]
    if offsets[1] - offsets[0] != expected:
        raise TensorError(
            f"invalid safetensors header: tensor {name!r} spans {offsets[1] - offsets[0]} bytes "
            f"but {dtype}{shape} needs {expected}"
        )
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])


def _check_coverage(tensors: dict[str, TensorInfo], data_size: int) -> None:
    position = 0
    for name, info in sorted(tensors.items(), key=lambda item: (item[1].start, item[1].end)):
        if info.start < position:
            raise TensorError(f"invalid safetensors header: tensor {name!r} overlaps another")
        if info.start > position:
            raise TensorError(f"invalid safetensors header: a hole before tensor {name!r}")
        position = info.end
    if position != data_size:
        raise TensorError(
            f"invalid safetensors file: tensors cover {position} bytes but the data section "
            f"holds {data_size} (truncated or trailing bytes)"
        )


def _metadata_json(header: TensorHeader, key: str) -> dict[str, Any]:
    raw = header.metadata.get(key)
    if raw is None:
        raise TensorError(f"safetensors __metadata__ lacks {key!r}: not a MemCube tensor file")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise TensorError(f"safetensors __metadata__ {key!r} is not JSON") from exc
    if not isinstance(value, dict):
        raise TensorError(f"safetensors __metadata__ {key!r} must be a JSON object")
    return value


def activation_metadata(header: TensorHeader) -> dict[str, Any]:
    """The part metadata a self-describing KV snapshot carries in ``__metadata__``."""
    return _metadata_json(header, ACTIVATION_METADATA_KEY)


def parameter_metadata(header: TensorHeader) -> dict[str, Any]:
    """The part metadata (base model, sources) a LoRA adapter file carries in ``__metadata__``."""
    return _metadata_json(header, PARAMETER_METADATA_KEY)


def token_ids_digest(token_ids: list[int]) -> str:
    """Hex SHA-256 of token ids as int64 little-endian bytes (``token_ids_sha256``)."""
    return hashlib.sha256(struct.pack(f"<{len(token_ids)}q", *token_ids)).hexdigest()


def check_activation(header: TensorHeader, part: ActivationPart) -> None:
    """Check a KV snapshot's tensors against its part: names, dtype and shapes (MIP-1 §7.2).

    The declared counts are compared with the tensors present before anything proportional to
    them is built: ``num_layers = 50,000,000`` over a 200-byte file is refused at once.
    """
    if part.num_layers > len(header.tensors):  # then the names below stay bounded by the header
        raise TensorError(
            f"activation part {part.name!r}: declares {part.num_layers} layers, which need "
            f"{2 * part.num_layers + 1} tensors; the file holds {len(header.tensors)}"
        )
    expected_shape = (part.num_kv_heads, part.num_tokens, part.head_dim)
    names = {f"layers.{i}.{which}" for i in range(part.num_layers) for which in ("key", "value")}
    missing = sorted(names - header.tensors.keys())
    extra = sorted(header.tensors.keys() - names - {"token_ids"})
    if missing:
        raise TensorError(
            f"activation part {part.name!r}: missing tensors {', '.join(missing[:4])}"
        )
    if extra:
        raise TensorError(
            f"activation part {part.name!r}: unexpected tensors {', '.join(extra[:4])}"
        )
    for name in sorted(names):
        info = header.tensors[name]
        if info.dtype != part.dtype or info.shape != expected_shape:
            raise TensorError(
                f"activation part {part.name!r}: tensor {name} is {info.dtype}{list(info.shape)}, "
                f"the manifest declares {part.dtype}{list(expected_shape)}"
            )
    token_ids = header.tensors.get("token_ids")
    if token_ids is None or token_ids.dtype != "I64" or token_ids.shape != (part.num_tokens,):
        raise TensorError(
            f"activation part {part.name!r}: 'token_ids' must be I64[{part.num_tokens}]"
        )
    if (
        part.model.num_layers != part.num_layers
        or part.model.num_kv_heads != part.num_kv_heads
        or part.model.head_dim != part.head_dim
    ):
        raise TensorError(
            f"activation part {part.name!r}: layer/head shape disagrees with its model fingerprint"
        )


def token_ids_range(header: TensorHeader) -> tuple[int, int]:
    """Byte offset (from the start of the file) and length of the ``token_ids`` tensor."""
    info = header.tensors["token_ids"]
    return 8 + header.header_size + info.start, info.end - info.start


def check_token_ids(data: bytes, part: ActivationPart) -> None:
    """Check the ``token_ids`` tensor's bytes against the part's ``token_ids_sha256``."""
    if hashlib.sha256(data).hexdigest() != part.token_ids_sha256:
        raise TensorError(
            f"activation part {part.name!r}: 'token_ids' do not hash to its token_ids_sha256"
        )


def _differing_fields(described: dict[str, Any], declared: dict[str, Any]) -> str:
    keys = sorted(
        k for k in described.keys() | declared.keys() if described.get(k) != declared.get(k)
    )
    return ", ".join(keys)


def check_self_description(
    header: TensorHeader, part: ActivationPart | ParameterPart, *, required: bool = True
) -> None:
    """Check that the metadata a tensor file carries in ``__metadata__`` agrees with its part.

    MIP-1 §7.2 says a tensor file SHOULD describe itself; when it does, a runtime may read the
    file on its own, so it must not tell another story than the signed manifest. With
    ``required=False`` a file without the key passes.
    """
    key = ACTIVATION_METADATA_KEY if isinstance(part, ActivationPart) else PARAMETER_METADATA_KEY
    if not required and key not in header.metadata:
        return
    fixed = {"name": part.name, "digest": part.digest, "size": part.size}
    try:
        if isinstance(part, ActivationPart):
            described: ActivationPart | ParameterPart = from_document(
                {**activation_metadata(header), **fixed}, ActivationPart
            )
        else:
            described = from_document(
                {**parameter_metadata(header), **fixed, "adapter_config": part.adapter_config},
                ParameterPart,
            )
    except msgspec.ValidationError as exc:
        raise TensorError(
            f"{part.kind} part {part.name!r}: the tensor file's __metadata__ is not valid "
            f"part metadata ({describe_error(exc)})"
        ) from exc
    mine = to_document(described)
    theirs = to_document(part)
    if mine != theirs:
        raise TensorError(
            f"{part.kind} part {part.name!r}: the tensor file's __metadata__ disagrees with the "
            f"manifest on {_differing_fields(mine, theirs)}"
        )


def check_adapter_config(part: ParameterPart) -> None:
    """The ``adapter_config`` keys PEFT reads without checking them itself (MIP-1 §7.3).

    The manifest schema only asks for ``peft_type`` and ``r``; a ``target_modules`` of ``7``
    would install and then fail in PEFT, so the payload check (client and registry) refuses it.
    """
    config = part.adapter_config
    targets = config.get("target_modules")
    if targets is not None and not (
        isinstance(targets, str)
        or (isinstance(targets, list) and all(isinstance(t, str) for t in targets))
    ):
        raise TensorError(
            f"parameter part {part.name!r}: adapter_config.target_modules must be a string "
            "or a list of strings"
        )
    alpha = config.get("lora_alpha")
    if alpha is not None and (
        not isinstance(alpha, int | float) or isinstance(alpha, bool) or not math.isfinite(alpha)
    ):
        raise TensorError(
            f"parameter part {part.name!r}: adapter_config.lora_alpha must be a finite number"
        )


def check_parameter(header: TensorHeader, part: ParameterPart) -> None:
    """Check a LoRA adapter against its part: the config PEFT reads, then LoRA A/B pairs whose
    rank is the config's ``r`` (MIP-1 §7.3)."""
    check_adapter_config(part)
    rank = part.adapter_config["r"]
    lora = {name: info for name, info in header.tensors.items() if ".lora_" in name}
    if not lora:
        raise TensorError(f"parameter part {part.name!r}: no LoRA tensors in the adapter")
    for name, info in lora.items():
        if len(info.shape) != 2:
            raise TensorError(f"parameter part {part.name!r}: tensor {name} is not a matrix")
        rank_axis = info.shape[0] if ".lora_A" in name else info.shape[1]
        if rank_axis != rank:
            raise TensorError(
                f"parameter part {part.name!r}: tensor {name} has rank {rank_axis}, "
                f"adapter_config.r is {rank}"
            )
