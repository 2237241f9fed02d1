"""A synthetic, self-describing KV snapshot (MIP-1 §7.2) for the benchmarks.

SmolLM2-135M's KV shape (30 layers, 3 KV heads, head dim 64), float16, random values: the bytes a
real snapshot of that model would have, without running the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LAYERS, KV_HEADS, HEAD_DIM = 30, 3, 64


def write_kv_snapshot(
    path: Path, size_bytes: int, seed: int, sources: list[dict[str, object]] | None = None
) -> None:
    """Write a snapshot of about ``size_bytes`` to ``path`` (tensors + ``memcube.activation``)."""
    from safetensors.numpy import save_file

    from mip.tensors import ACTIVATION_METADATA_KEY, token_ids_digest

    tokens = max(1, size_bytes // (LAYERS * 2 * KV_HEADS * HEAD_DIM * 2))
    rng = np.random.default_rng(seed)
    tensors = {
        f"layers.{layer}.{which}": rng.standard_normal(
            (KV_HEADS, tokens, HEAD_DIM), dtype=np.float32
        ).astype(np.float16)
        for layer in range(LAYERS)
        for which in ("key", "value")
    }
    token_ids = rng.integers(0, 49152, tokens, dtype=np.int64)
    tensors["token_ids"] = token_ids
    fingerprint = {
        "model_id": "bench/smollm2-135m-shape",
        "architecture": "LlamaForCausalLM",
        "config_sha256": "0" * 64,
        "tokenizer_sha256": "1" * 64,
        "dtype": "float16",
        "num_layers": LAYERS,
        "num_attention_heads": 9,
        "num_kv_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "hidden_size": 576,
        "vocab_size": 49152,
    }
    metadata = {
        "model": fingerprint,
        "dtype": "F16",
        "num_layers": LAYERS,
        "num_kv_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "num_tokens": int(tokens),
        "token_ids_sha256": token_ids_digest(token_ids.tolist()),
        "sources": sources or [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={ACTIVATION_METADATA_KEY: json.dumps(metadata)})
