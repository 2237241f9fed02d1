"""safetensors validation (MIP-1 §7.2, §7.3): headers, KV snapshots and LoRA adapters.

Files are made with numpy and the safetensors library, then broken one rule at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import save

from mip.errors import TensorError
from mip.limits import Limits
from mip.models import ActivationPart, ParameterPart, from_document
from mip.tensors import (
    TensorHeader,
    check_activation,
    check_parameter,
    check_self_description,
    check_token_ids,
    read_header,
    token_ids_digest,
    token_ids_range,
)
from tests.support import TINY_FINGERPRINT, raises_exactly

TOKEN_IDS = [5, 6, 7]
MODEL = dict(TINY_FINGERPRINT)


def activation_fields(**changes: Any) -> dict[str, Any]:
    """What a KV snapshot's ``__metadata__["memcube.activation"]`` holds."""
    return {
        "model": MODEL,
        "dtype": "F16",
        "num_layers": 2,
        "num_kv_heads": 2,
        "head_dim": 4,
        "num_tokens": len(TOKEN_IDS),
        "token_ids_sha256": token_ids_digest(TOKEN_IDS),
        "sources": [{"id": "m1", "version": 1}],
    } | changes


def kv_file(
    fields: dict[str, Any] | None = None,
    *,
    dtype: Any = np.float16,
    tokens: int = 3,
    layers: int = 2,
    token_ids: list[int] = TOKEN_IDS,
    extra: dict[str, np.ndarray] | None = None,
) -> bytes:
    rng = np.random.default_rng(0)
    tensors = {
        f"layers.{i}.{which}": rng.standard_normal((2, tokens, 4)).astype(dtype)
        for i in range(layers)
        for which in ("key", "value")
    }
    tensors["token_ids"] = np.array(token_ids, dtype=np.int64)
    tensors.update(extra or {})
    meta = json.dumps(fields or activation_fields())
    return save(tensors, metadata={"memcube.activation": meta})


DEFAULT = Limits()


def header_of(data: bytes, limits: Limits = DEFAULT) -> TensorHeader:
    return read_header(io.BytesIO(data), len(data), limits)


def activation_part(data: bytes, **changes: Any) -> ActivationPart:
    return from_document(
        activation_fields(**changes)
        | {"name": "kv", "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)},
        ActivationPart,
    )


def full_check(data: bytes, part: ActivationPart) -> None:
    header = header_of(data)
    check_activation(header, part)
    start, length = token_ids_range(header)
    check_token_ids(data[start : start + length], part)
    check_self_description(header, part)


def test_a_numpy_made_kv_snapshot_passes() -> None:
    data = kv_file()
    header = header_of(data)
    assert header.file_size == len(data)
    assert header.tensors["token_ids"].shape == (3,)
    full_check(data, activation_part(data))


def test_token_ids_digest_is_of_int64_le_bytes() -> None:
    expected = hashlib.sha256(np.array(TOKEN_IDS, dtype="<i8").tobytes()).hexdigest()
    assert token_ids_digest(TOKEN_IDS) == expected


def raw_file(header: dict[str, Any], data: bytes, length: int | None = None) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded) if length is None else length) + encoded + data


def entry(dtype: str, shape: list[int], start: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00", "invalid safetensors file: shorter than its 8-byte header length"),
        (struct.pack("<Q", 17 << 20) + b"{}", f"invalid safetensors header: {17 << 20} bytes, over the {16 << 20}-byte limit"),
        (struct.pack("<Q", 100) + b"{}", "invalid safetensors file: truncated inside its header"),
        (raw_file({}, b"", length=2)[:-1] + b"\xff", "invalid safetensors header: not UTF-8 JSON ('utf-8' codec can't decode byte 0xff in position 1: invalid start byte)"),
        (raw_file([], b""), "invalid safetensors header: expected a JSON object"),  # type: ignore[arg-type]
        (struct.pack("<Q", 16) + b'{"a":1 , "a":2 }', "invalid safetensors header: duplicate keys"),
        (raw_file({"__metadata__": {"k": 1}}, b""), "invalid safetensors header: __metadata__ must map strings to strings"),
        (raw_file({"t": 5}, b""), "invalid safetensors header: tensor 't' is not an object"),
        (raw_file({"t": entry("F48", [1], 0, 6)}, b"\x00" * 6), "invalid safetensors header: tensor 't' has unknown dtype 'F48'"),
        (raw_file({"t": entry("F32", [-1], 0, 4)}, b"\x00" * 4), "invalid safetensors header: tensor 't' has an invalid shape"),
        (raw_file({"t": entry("F32", [True], 0, 4)}, b"\x00" * 4), "invalid safetensors header: tensor 't' has an invalid shape"),
        (raw_file({"t": entry("F32", [1], 4, 0)}, b"\x00" * 4), "invalid safetensors header: tensor 't' has invalid data_offsets"),
        (raw_file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\x00" * 4), "invalid safetensors header: tensor 't' has invalid data_offsets"),
        (raw_file({"t": entry("F32", [2], 0, 4)}, b"\x00" * 4), "invalid safetensors header: tensor 't' spans 4 bytes but F32[2] needs 8"),
        (raw_file({"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 2, 6)}, b"\x00" * 6), "invalid safetensors header: tensor 'b' overlaps another"),
        (raw_file({"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 6, 10)}, b"\x00" * 10), "invalid safetensors header: a hole before tensor 'b'"),
        (raw_file({"a": entry("U8", [4], 2, 6)}, b"\x00" * 6), "invalid safetensors header: a hole before tensor 'a'"),
        (raw_file({"a": entry("U8", [4], 0, 4)}, b"\x00" * 5), "invalid safetensors file: tensors cover 4 bytes but the data section holds 5 (truncated or trailing bytes)"),
        (raw_file({"a": entry("U8", [4], 0, 4)}, b"\x00" * 3), "invalid safetensors file: tensors cover 4 bytes but the data section holds 3 (truncated or trailing bytes)"),
        (struct.pack("<Q", 100_004) + b"[" * 100_000 + b"]" * 4, "invalid safetensors header: not UTF-8 JSON (maximum recursion depth exceeded while decoding a JSON array from a unicode string)"),
    ],
    ids=["short", "oversize-header-length", "truncated-header", "not-utf8", "not-object", "duplicate-keys", "metadata-types", "entry-type", "dtype", "negative-shape", "bool-shape", "offsets-reversed", "offsets-length", "span", "overlap", "hole", "hole-at-start", "trailing", "truncated-data", "deep-nesting"],
)  # fmt: skip
def test_header_rules(data: bytes, message: str) -> None:
    # MIP-1 §7.4: "the 8-byte little-endian header length N MUST be at most 16 MiB and `8 + N` at
    # most the blob size; the header MUST be a UTF-8 JSON object without duplicate keys [...]; the
    # offsets, sorted, MUST cover the data section exactly, with no hole and no overlap; the blob
    # MUST end where the data section ends."
    with raises_exactly(TensorError, message):
        header_of(data)


def test_header_limit_is_a_setting() -> None:
    data = kv_file()
    (length,) = struct.unpack("<Q", data[:8])
    with raises_exactly(
        TensorError,
        f"invalid safetensors header: {length} bytes, over the {length - 1}-byte limit",
    ):
        header_of(data, Limits(max_safetensors_header_bytes=length - 1))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_tensor_errors(data: bytes) -> None:
    with contextlib.suppress(TensorError):
        header_of(data)


@given(st.binary(max_size=120), st.integers(0, 2**64 - 1))
def test_arbitrary_headers_raise_only_tensor_errors(header: bytes, length: int) -> None:
    with contextlib.suppress(TensorError):
        header_of(struct.pack("<Q", length % 400) + header)


VALID = kv_file()


@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6)
)
def test_mutated_snapshots_raise_only_tensor_errors(changes: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for index, value in changes:
        data[index] = value
    with contextlib.suppress(TensorError):
        full_check(bytes(data), activation_part(VALID))


@pytest.mark.parametrize(
    ("data", "part_changes", "message"),
    [
        (kv_file(layers=1), {}, "activation part 'kv': missing tensors layers.1.key, layers.1.value"),
        (kv_file(extra={"bias": np.zeros(2, np.float16)}), {}, "activation part 'kv': unexpected tensors bias"),
        (kv_file(dtype=np.float32), {}, "activation part 'kv': tensor layers.0.key is F32[2, 3, 4], the manifest declares F16[2, 3, 4]"),
        (kv_file(tokens=2, token_ids=[5, 6]), {}, "activation part 'kv': tensor layers.0.key is F16[2, 2, 4], the manifest declares F16[2, 3, 4]"),
        (kv_file(token_ids=[5, 6]), {}, "activation part 'kv': 'token_ids' must be I64[3]"),
        (kv_file(), {"num_kv_heads": 3, "model": MODEL | {"num_kv_heads": 3}}, "activation part 'kv': tensor layers.0.key is F16[2, 3, 4], the manifest declares F16[3, 3, 4]"),
        (kv_file(), {"model": MODEL | {"num_layers": 3}}, "activation part 'kv': layer/head shape disagrees with its model fingerprint"),
        (kv_file(), {"model": MODEL | {"head_dim": 8}}, "activation part 'kv': layer/head shape disagrees with its model fingerprint"),
        (kv_file(token_ids=[5, 6, 8]), {}, "activation part 'kv': 'token_ids' do not hash to its token_ids_sha256"),
        (kv_file(), {"sources": [{"id": "m1", "version": 2}]}, "activation part 'kv': the tensor file's __metadata__ disagrees with the manifest on sources"),
        (kv_file(activation_fields(dtype="F16", extra_field=1)), {}, "activation part 'kv': the tensor file's __metadata__ disagrees with the manifest on extra_field"),
        (kv_file(activation_fields(num_tokens=0)), {}, "activation part 'kv': the tensor file's __metadata__ is not valid part metadata (num_tokens: Expected `int` >= 1)"),
    ],
    ids=["missing-layer", "unexpected-tensor", "dtype", "tokens", "token-ids-shape", "heads", "fingerprint-layers", "fingerprint-head-dim", "token-ids-content", "metadata-sources", "metadata-extra", "metadata-invalid"],
)  # fmt: skip
def test_snapshot_disagreeing_with_its_part(
    data: bytes, part_changes: dict[str, Any], message: str
) -> None:
    # MIP-1 §7.4: "Then the tensors MUST agree with the part's metadata (§7.2, §7.3)."
    with raises_exactly(TensorError, message):
        full_check(data, activation_part(data, **part_changes))


def test_snapshot_without_self_description() -> None:
    tensors = {
        f"layers.{i}.{w}": np.zeros((2, 3, 4), np.float16)
        for i in range(2)
        for w in ("key", "value")
    }
    data = save(tensors | {"token_ids": np.array(TOKEN_IDS, np.int64)})
    with raises_exactly(
        TensorError,
        "safetensors __metadata__ lacks 'memcube.activation': not a MemCube tensor file",
    ):
        check_self_description(header_of(data), activation_part(data))
    broken = save(tensors, metadata={"memcube.activation": "{"})
    with raises_exactly(TensorError, "safetensors __metadata__ 'memcube.activation' is not JSON"):
        check_self_description(header_of(broken), activation_part(broken))
    listed = save(tensors, metadata={"memcube.activation": "[]"})
    with pytest.raises(TensorError) as caught:
        check_self_description(header_of(listed), activation_part(listed))
    assert (
        str(caught.value) == "safetensors __metadata__ 'memcube.activation' must be a JSON object"
    )


ADAPTER_CONFIG = {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"]}


def adapter_file(
    rank: int = 2, extra: dict[str, np.ndarray] | None = None, meta: dict[str, Any] | None = None
) -> bytes:
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    tensors = {
        f"{prefix}.lora_A.weight": np.ones((rank, 16), np.float32),
        f"{prefix}.lora_B.weight": np.zeros((16, rank), np.float32),
    } | (extra or {})
    fields = meta if meta is not None else {"base_model": MODEL, "sources": []}
    return save(tensors, metadata={"memcube.parameter": json.dumps(fields), "format": "pt"})


def parameter_part(data: bytes, **changes: Any) -> ParameterPart:
    return from_document(
        {
            "name": "lora",
            "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "base_model": MODEL,
            "adapter_config": ADAPTER_CONFIG,
        }
        | changes,
        ParameterPart,
    )


def test_a_numpy_made_adapter_passes() -> None:
    data = adapter_file()
    header = header_of(data)
    check_parameter(header, parameter_part(data))
    check_self_description(header, parameter_part(data))


@pytest.mark.parametrize(
    ("data", "changes", "message"),
    [
        (save({"w": np.zeros(2, np.float32)}), {}, "parameter part 'lora': no LoRA tensors in the adapter"),
        (adapter_file(extra={"x.lora_A.weight": np.zeros((2, 2, 2), np.float32)}), {}, "parameter part 'lora': tensor x.lora_A.weight is not a matrix"),
        (adapter_file(rank=4), {}, "parameter part 'lora': tensor base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight has rank 4, adapter_config.r is 2"),
        (adapter_file(), {"base_model": MODEL | {"vocab_size": 7}}, "parameter part 'lora': the tensor file's __metadata__ disagrees with the manifest on base_model"),
        (adapter_file(meta={"base_model": {}}), {}, "parameter part 'lora': the tensor file's __metadata__ is not valid part metadata (base_model.model_id: required field is missing)"),
    ],
    ids=["no-lora", "not-matrix", "rank", "base-model", "metadata-invalid"],
)  # fmt: skip
def test_adapter_disagreeing_with_its_part(
    data: bytes, changes: dict[str, Any], message: str
) -> None:
    part = parameter_part(data, **changes)
    header = header_of(data)
    with pytest.raises(TensorError) as caught:  # noqa: PT012  (either check may be the one)
        check_parameter(header, part)
        check_self_description(header, part)
    assert str(caught.value) == message


def test_a_declared_layer_count_is_checked_against_the_tensors_first() -> None:
    """Issue 15: ``num_layers = 50,000,000`` with a tiny file ran for 30 s into a MemoryError."""
    import time
    import tracemalloc

    data = kv_file(layers=1)
    part = activation_part(data, num_layers=50_000_000, model=MODEL | {"num_layers": 50_000_000})
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(TensorError, match="declares 50000000 layers, which need 100000001"):
            check_activation(header_of(data), part)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 1 << 20


def test_tensor_count_and_rank_limits_are_settings() -> None:
    data = kv_file()
    with pytest.raises(TensorError, match="5 tensors, limit 4"):
        header_of(data, Limits(max_tensors=4))
    with pytest.raises(TensorError, match="has 3 dimensions, limit 2"):
        header_of(data, Limits(max_tensor_rank=2))
