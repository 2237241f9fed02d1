"""KV snapshots: file format, exact injection, combination, stale/foreign/too-long refusals."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import IncompatibleMemoryError
from memos_client.runtime.activation.prompt import (
    MemoryText,
    question_token_ids,
    segment_token_ids,
)
from memos_client.runtime.activation.snapshot_file import (
    METADATA_KEY,
    open_snapshot,
    token_ids_sha256,
    write_snapshot,
)
from memos_client.runtime.activation.snapshots import (
    build_snapshot,
    check_snapshot,
    combine,
    inject,
)
from mip.errors import TensorError
from mip.models import ActivationPart, from_document
from tests.activation.conftest import office_memories

pytestmark = pytest.mark.slow

MEMORIES_A = office_memories()
MEMORIES_B = [MemoryText("m-3", 1, "The build server is called hopper and runs Debian.")]
QUESTION = "Who approves large invoices?"


def _max_diff(left: Any, right: Any) -> float:
    return float((left - right).abs().max())


def test_snapshot_file_follows_the_format(tiny_model: Any, tmp_path: Path) -> None:
    from safetensors import safe_open

    path = tmp_path / "a.safetensors"
    header, token_ids = build_snapshot(tiny_model, MEMORIES_A, path)
    fp = tiny_model.fingerprint
    with safe_open(str(path), framework="pt") as handle:
        names = set(handle.keys())
        metadata = handle.metadata()
        key0 = handle.get_tensor("layers.0.key")
        ids = handle.get_tensor("token_ids")
    assert names == {f"layers.{i}.{kv}" for i in range(2) for kv in ("key", "value")} | {
        "token_ids"
    }
    assert (
        list(key0.shape)
        == [fp.num_kv_heads, len(token_ids), fp.head_dim]
        == [2, len(token_ids), 16]
    )
    assert str(key0.dtype) == "torch.float32"
    assert ids.tolist() == token_ids == segment_token_ids(tiny_model, MEMORIES_A)
    expected_hash = hashlib.sha256(struct.pack(f"<{len(token_ids)}q", *token_ids)).hexdigest()
    assert header.token_ids_sha256 == expected_hash == token_ids_sha256(token_ids)
    described = json.loads(metadata[METADATA_KEY])
    assert set(described) == {
        "model",
        "dtype",
        "num_layers",
        "num_kv_heads",
        "head_dim",
        "num_tokens",
        "token_ids_sha256",
        "sources",
    }
    assert described["sources"] == [{"id": "m-1", "version": 1}, {"id": "m-2", "version": 3}]
    assert described["dtype"] == "F32"
    assert described["num_tokens"] == len(token_ids)
    # The metadata plus the bundle fields is a valid MIP activation part.
    part = from_document(
        {"name": "a", "digest": "sha256:" + "0" * 64, "size": path.stat().st_size, **described},
        ActivationPart,
    )
    assert part.model.digest == fp.digest


def test_injected_snapshot_gives_the_prefill_logits(tiny_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "a.safetensors"
    _, prefix = build_snapshot(tiny_model, MEMORIES_A, path)
    question = question_token_ids(tiny_model, QUESTION)
    prefilled = tiny_model.forward(prefix + question).logits
    snapshot = open_snapshot(path)
    injected = tiny_model.forward(question, inject(tiny_model, snapshot)).logits
    assert _max_diff(injected, prefilled) <= 1e-4
    # Continuing generation from the injected cache keeps matching, token after token.
    token = int(injected.argmax())
    cache_a = inject(tiny_model, open_snapshot(path))
    cache_a = tiny_model.forward(question, cache_a).cache
    cache_b = tiny_model.forward(prefix + question).cache
    step_a = tiny_model.forward([token], cache_a).logits
    step_b = tiny_model.forward([token], cache_b).logits
    assert _max_diff(step_a, step_b) <= 1e-4


def test_injection_leaves_the_snapshot_file_unchanged(tiny_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "a.safetensors"
    build_snapshot(tiny_model, MEMORIES_A, path)
    before = path.read_bytes()
    cache = inject(tiny_model, open_snapshot(path))
    tiny_model.forward(question_token_ids(tiny_model, QUESTION), cache)
    assert path.read_bytes() == before


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc/self/maps")
def test_loaded_tensors_are_pages_of_the_file_not_copies(tiny_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "mapped.safetensors"
    build_snapshot(tiny_model, MEMORIES_A, path)
    layers = open_snapshot(path).load_layers()
    regions = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(str(path)):
            start, end = (int(value, 16) for value in line.split()[0].split("-"))
            regions.append((start, end))
    assert regions, "the snapshot file is not mapped"
    for key, value in layers:
        for tensor in (key, value):
            pointer = tensor.data_ptr()
            assert any(start <= pointer < end for start, end in regions)


def test_naive_concatenation_would_be_wrong_and_combine_is_exact(
    tiny_model: Any, tmp_path: Path
) -> None:
    import torch

    _, ids_a = build_snapshot(tiny_model, MEMORIES_A, tmp_path / "a.safetensors")
    _, ids_b = build_snapshot(tiny_model, MEMORIES_B, tmp_path / "b.safetensors")
    a, b = open_snapshot(tmp_path / "a.safetensors"), open_snapshot(tmp_path / "b.safetensors")
    question = question_token_ids(tiny_model, QUESTION)
    expected = tiny_model.forward(ids_a + ids_b + question).logits
    # Concatenating independently computed KV caches is what we must never do: show it is wrong.
    naive_layers = [
        (torch.cat([ka, kb], dim=1), torch.cat([va, vb], dim=1))
        for (ka, va), (kb, vb) in zip(a.load_layers(), b.load_layers(), strict=True)
    ]
    naive = tiny_model.forward(question, tiny_model.cache_from_layers(naive_layers)).logits
    assert _max_diff(naive, expected) > 1e-3
    combined = combine(tiny_model, [a, b])
    assert combined.injected == ["a.safetensors"]
    assert combined.recomputed == ["b.safetensors"]
    assert "positions and attention differ" in combined.reasons[0]
    assert _max_diff(tiny_model.forward(question, combined.cache).logits, expected) <= 1e-4
    with pytest.raises(IncompatibleMemoryError, match="cannot be combined exactly") as caught:
        combine(tiny_model, [a, b], allow_recompute=False)
    assert caught.value.code == "not_combinable"


def test_a_snapshot_built_over_both_segments_is_injected_whole(
    tiny_model: Any, tmp_path: Path
) -> None:
    _, ids_a = build_snapshot(tiny_model, MEMORIES_A, tmp_path / "a.safetensors")
    ids_b = segment_token_ids(tiny_model, MEMORIES_B)
    # A proper combined snapshot: one prefill over A's then B's tokens.
    cache = tiny_model.forward(ids_a + ids_b).cache
    write_snapshot(
        tmp_path / "ab.safetensors",
        tiny_model.cache_layers(cache),
        ids_a + ids_b,
        model=tiny_model.fingerprint,
    )
    ab = open_snapshot(tmp_path / "ab.safetensors")
    combined = combine(tiny_model, [ab], allow_recompute=False)
    assert combined.injected == ["ab.safetensors"]
    assert combined.recomputed == []
    question = question_token_ids(tiny_model, QUESTION)
    expected = tiny_model.forward(ids_a + ids_b + question).logits
    assert _max_diff(tiny_model.forward(question, combined.cache).logits, expected) <= 1e-4


def test_stale_snapshot_names_the_changed_sources(tiny_model: Any, tmp_path: Path) -> None:
    header, _ = build_snapshot(tiny_model, MEMORIES_A, tmp_path / "a.safetensors")
    assert check_snapshot(header, tiny_model, {"m-1": 1, "m-2": 3}).usable
    verdict = check_snapshot(header, tiny_model, {"m-1": 2})
    assert verdict.status == "stale"
    assert verdict.reason == "sources changed: m-1 (v1 -> v2), m-2 (gone)"


def test_snapshot_for_another_model_is_refused(
    tiny_model: Any, other_model_dir: Path, load_fresh: Any, tmp_path: Path
) -> None:
    path = tmp_path / "a.safetensors"
    build_snapshot(tiny_model, MEMORIES_A, path)
    other = load_fresh(other_model_dir)
    verdict = check_snapshot(open_snapshot(path).header, other)
    assert verdict.status == "foreign"
    assert "differs in weights_sha256" in verdict.reason
    with pytest.raises(
        IncompatibleMemoryError, match="cannot be used: computed with model"
    ) as caught:
        inject(other, open_snapshot(path))
    assert caught.value.code == "foreign_model"
    # The same model in another dtype computes other numbers: foreign too.
    half = load_fresh(other_model_dir, "BF16")
    assert "dtype" in check_snapshot(open_snapshot(path).header, half).reason


def test_snapshot_longer_than_the_context_is_refused(tiny_model: Any, tmp_path: Path) -> None:
    import torch

    limit = tiny_model.max_positions
    long_memory = [MemoryText("long", 1, "word " * (limit + 10))]
    with pytest.raises(IncompatibleMemoryError, match="the model's context is 256") as caught:
        build_snapshot(tiny_model, long_memory, tmp_path / "long.safetensors")
    assert caught.value.code == "too_long"
    # A file claiming more tokens than the context (made by hand) is refused at injection.
    fp = tiny_model.fingerprint
    shape = (fp.num_kv_heads, limit + 1, fp.head_dim)
    layers = [(torch.zeros(shape), torch.zeros(shape)) for _ in range(fp.num_layers)]
    path = tmp_path / "forged.safetensors"
    write_snapshot(path, layers, list(range(limit + 1)), model=fp)
    assert check_snapshot(open_snapshot(path).header, tiny_model).status == "too_long"
    with pytest.raises(IncompatibleMemoryError, match="leave no room in a context of 256"):
        inject(tiny_model, open_snapshot(path))


# --- bad files: each rule of the format is refused with its own reason ---------------------------


def _rewrite(path: Path, change: Any) -> None:
    """Rewrite a snapshot's header JSON through ``change`` (offsets kept)."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    change(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + length :])


@pytest.fixture
def snapshot_path(tiny_model: Any, tmp_path: Path) -> Path:
    path = tmp_path / "s.safetensors"
    build_snapshot(tiny_model, MEMORIES_A, path)
    return path


def _meta(header: dict[str, Any]) -> dict[str, Any]:
    return json.loads(header["__metadata__"][METADATA_KEY])


def _set_meta(header: dict[str, Any], **fields: Any) -> None:
    meta = _meta(header)
    meta.update(fields)
    header["__metadata__"][METADATA_KEY] = json.dumps(meta)


def test_truncated_file_is_refused(snapshot_path: Path) -> None:
    data = snapshot_path.read_bytes()
    snapshot_path.write_bytes(data[:-10])
    with pytest.raises(TensorError, match="truncated or trailing bytes"):
        open_snapshot(snapshot_path)
    snapshot_path.write_bytes(data[:100])
    with pytest.raises(TensorError, match="truncated inside its header"):
        open_snapshot(snapshot_path)
    snapshot_path.write_bytes(data[:5])
    with pytest.raises(TensorError, match="shorter than its 8-byte header length"):
        open_snapshot(snapshot_path)


def test_trailing_bytes_are_refused(snapshot_path: Path) -> None:
    snapshot_path.write_bytes(snapshot_path.read_bytes() + b"\0" * 8)
    with pytest.raises(TensorError, match=r"holds \d+ \(truncated or trailing bytes\)"):
        open_snapshot(snapshot_path)


def test_header_that_is_not_json_is_refused(snapshot_path: Path) -> None:
    data = bytearray(snapshot_path.read_bytes())
    data[8] = ord("x")
    snapshot_path.write_bytes(bytes(data))
    with pytest.raises(TensorError, match="not UTF-8 JSON"):
        open_snapshot(snapshot_path)


def test_missing_metadata_is_refused(snapshot_path: Path) -> None:
    _rewrite(snapshot_path, lambda h: h["__metadata__"].pop(METADATA_KEY))
    with pytest.raises(TensorError, match=r"__metadata__ lacks 'memcube\.activation'"):
        open_snapshot(snapshot_path)


def test_invalid_metadata_is_refused(snapshot_path: Path) -> None:
    _rewrite(snapshot_path, lambda h: _set_meta(h, num_tokens=0))
    with pytest.raises(TensorError, match=r"memcube\.activation metadata: num_tokens"):
        open_snapshot(snapshot_path)


def test_token_count_disagreeing_with_shapes_is_refused(snapshot_path: Path) -> None:
    _rewrite(snapshot_path, lambda h: _set_meta(h, num_tokens=_meta(h)["num_tokens"] + 1))
    with pytest.raises(
        TensorError, match=r"tensor layers\.0\.key is F32\[2, \d+, 16\], the manifest declares"
    ):
        open_snapshot(snapshot_path)


def test_layer_count_disagreeing_with_the_model_is_refused(snapshot_path: Path) -> None:
    _rewrite(snapshot_path, lambda h: _set_meta(h, num_layers=1))
    with pytest.raises(TensorError, match="num_layers=1 differs from its model's 2"):
        open_snapshot(snapshot_path)


def test_header_entry_removed_is_refused(snapshot_path: Path) -> None:
    _rewrite(snapshot_path, lambda h: h.pop("layers.1.value"))
    with pytest.raises(TensorError, match=r"(a hole before tensor|tensors cover \d+ bytes)"):
        open_snapshot(snapshot_path)


def test_missing_layer_tensors_are_refused(snapshot_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    # A well-formed safetensors file whose tensors do not match its metadata: layer 1 is absent.
    with safe_open(str(snapshot_path), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        metadata = handle.metadata()
    del tensors["layers.1.key"], tensors["layers.1.value"]
    save_file(tensors, str(snapshot_path), metadata=metadata)
    with pytest.raises(TensorError, match=r"missing tensors layers\.1\.key, layers\.1\.value"):
        open_snapshot(snapshot_path)


def test_wrong_dtype_is_refused(snapshot_path: Path) -> None:
    _rewrite(snapshot_path, lambda h: h["layers.0.key"].update(dtype="F16"))
    with pytest.raises(TensorError, match=r"tensor 'layers\.0\.key' spans \d+ bytes but F16"):
        open_snapshot(snapshot_path)


def test_overlapping_tensors_are_refused(snapshot_path: Path) -> None:
    def overlap(header: dict[str, Any]) -> None:
        header["layers.0.value"]["data_offsets"] = header["layers.0.key"]["data_offsets"]

    _rewrite(snapshot_path, overlap)
    with pytest.raises(TensorError, match="overlaps another"):
        open_snapshot(snapshot_path)


def test_tampered_token_ids_are_refused(snapshot_path: Path) -> None:
    _rewrite(snapshot_path, lambda h: _set_meta(h, token_ids_sha256="0" * 64))
    with pytest.raises(
        TensorError, match="token_ids do not hash to the metadata's token_ids_sha256"
    ):
        open_snapshot(snapshot_path)
