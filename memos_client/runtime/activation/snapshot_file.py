"""The on-disk KV snapshot format (MIP-1 §7.2; docs/activation-memory.md): write, open, validate.

A snapshot is one safetensors file holding, for a model with L layers:

- ``layers.{i}.key`` and ``layers.{i}.value`` for ``i`` in ``0..L-1``, each of shape
  ``[num_kv_heads, num_tokens, head_dim]`` and the snapshot's dtype;
- ``token_ids``: ``I64``, shape ``[num_tokens]``;
- ``__metadata__["memcube.activation"]``: JSON of the activation part's fields other than
  kind/name/media_type/digest/size, so the file describes itself.

:func:`open_snapshot` checks every one of those rules before any tensor is used, and raises
:class:`mip.errors.TensorError` with the rule that failed; tensors are then memory-mapped
(``safetensors.safe_open``), not copied.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec

from mip.digests import Digest
from mip.errors import TensorError
from mip.limits import DEFAULT_LIMITS, Limits
from mip.models import (
    ActivationPart,
    MemoryRef,
    ModelFingerprint,
    OpenStruct,
    TensorDtype,
    describe_error,
    from_document,
)
from mip.tensors import (
    ACTIVATION_METADATA_KEY,
    activation_metadata,
    check_activation,
    metadata_json,
    read_header,
    token_ids_digest,
)

if TYPE_CHECKING:
    import torch

#: ``__metadata__`` key holding the activation part's fields.
METADATA_KEY = ACTIVATION_METADATA_KEY
#: Bytes per element of each dtype a snapshot may be stored in.
_DTYPE_SIZES = {"F32": 4, "F16": 2, "BF16": 2}


#: Stands in for the digest of a loose file, which only a bundle gives.
_NO_DIGEST = Digest("sha256:" + "0" * 64)


class ActivationHeader(OpenStruct, kw_only=True):
    """The ``memcube.activation`` metadata: an activation part without its bundle fields."""

    model: ModelFingerprint
    dtype: TensorDtype
    num_layers: Annotated[int, msgspec.Meta(ge=1)]
    num_kv_heads: Annotated[int, msgspec.Meta(ge=1)]
    head_dim: Annotated[int, msgspec.Meta(ge=1)]
    num_tokens: Annotated[int, msgspec.Meta(ge=1)]
    token_ids_sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    sources: list[MemoryRef] = msgspec.field(default_factory=list)


def token_ids_sha256(token_ids: Sequence[int]) -> str:
    """Hex sha256 of the token ids as int64 little-endian bytes (MIP-1 §7.2)."""
    return token_ids_digest(list(token_ids))


def write_snapshot(
    path: Path,
    layers: Sequence[tuple[torch.Tensor, torch.Tensor]],
    token_ids: Sequence[int],
    *,
    model: ModelFingerprint,
    sources: Sequence[MemoryRef] = (),
) -> ActivationHeader:
    """Write a snapshot of ``layers`` (each ``[kv_heads, tokens, head_dim]``) to ``path``.

    The file appears complete or not at all (temp file + ``os.replace``).
    """
    import torch
    from safetensors.torch import save_file

    from memos_client.runtime.activation.fingerprint import TORCH_TO_SAFETENSORS_DTYPE

    first_key = layers[0][0]
    num_kv_heads, num_tokens, head_dim = (int(size) for size in first_key.shape)
    if num_tokens != len(token_ids):
        raise ValueError(f"the cache holds {num_tokens} tokens but {len(token_ids)} ids were given")
    header = ActivationHeader(
        model=model,
        dtype=TORCH_TO_SAFETENSORS_DTYPE[str(first_key.dtype).removeprefix("torch.")],
        num_layers=len(layers),
        num_kv_heads=num_kv_heads,
        head_dim=head_dim,
        num_tokens=num_tokens,
        token_ids_sha256=token_ids_sha256(token_ids),
        sources=list(sources),
    )
    tensors: dict[str, torch.Tensor] = {}
    for index, (key, value) in enumerate(layers):
        tensors[f"layers.{index}.key"] = key.contiguous()
        tensors[f"layers.{index}.value"] = value.contiguous()
    tensors["token_ids"] = torch.tensor(list(token_ids), dtype=torch.int64)
    metadata = {METADATA_KEY: metadata_json(header), "format": "pt"}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(temporary), metadata=metadata)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return header


def _fail(path: Path, reason: str) -> TensorError:
    return TensorError(f"invalid KV snapshot {path.name}: {reason}")


class SnapshotFile(msgspec.Struct):
    """An opened, validated snapshot: its metadata and token ids; tensors load on demand."""

    path: Path
    header: ActivationHeader
    token_ids: list[int]

    def load_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer (key, value) tensors, memory-mapped from the file (no copy)."""
        from safetensors import safe_open

        layers = []
        with safe_open(str(self.path), framework="pt") as handle:
            for index in range(self.header.num_layers):
                key = handle.get_tensor(f"layers.{index}.key")
                value = handle.get_tensor(f"layers.{index}.value")
                layers.append((key, value))
        return layers


def open_snapshot(path: Path, limits: Limits = DEFAULT_LIMITS) -> SnapshotFile:
    """Open and validate the snapshot at ``path``; a :class:`TensorError` names the broken rule.

    The safetensors rules (MIP-1 §7.4) and the tensors-against-metadata rules (§7.2) are
    ``mip.tensors``'; on top, the metadata must match its own fingerprint's shapes and the
    stored token ids must hash to ``token_ids_sha256``. Only the header and the token ids are
    read here; the key/value tensors are mapped later by :meth:`SnapshotFile.load_layers`.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as stream:
            header = read_header(stream, size, limits)
        described = activation_metadata(header)
    except TensorError as exc:
        raise _fail(path, str(exc)) from exc
    try:
        activation = from_document(described, ActivationHeader)
    except msgspec.ValidationError as exc:
        raise _fail(path, f"{METADATA_KEY} metadata: {describe_error(exc)}") from exc
    model = activation.model
    for field in ("num_layers", "num_kv_heads", "head_dim"):
        if getattr(activation, field) != getattr(model, field):
            declared, expected = getattr(activation, field), getattr(model, field)
            raise _fail(path, f"{field}={declared} differs from its model's {expected}")
    if activation.dtype not in _DTYPE_SIZES:
        raise _fail(path, f"dtype {activation.dtype} is not one of {', '.join(_DTYPE_SIZES)}")
    # The fields were validated above; the bundle-only fields are not known for a loose file.
    part = ActivationPart(
        name=path.stem, digest=_NO_DIGEST, size=0, **msgspec.structs.asdict(activation)
    )
    try:
        check_activation(header, part)
    except TensorError as exc:
        raise _fail(path, str(exc)) from exc
    ids = header.tensors["token_ids"]
    with open(path, "rb") as stream:
        stream.seek(8 + header.header_size + ids.start)
        raw = stream.read(ids.end - ids.start)
    token_ids = list(struct.unpack(f"<{activation.num_tokens}q", raw))
    if token_ids_sha256(token_ids) != activation.token_ids_sha256:
        raise _fail(path, "token_ids do not hash to the metadata's token_ids_sha256")
    return SnapshotFile(path=path, header=activation, token_ids=token_ids)
