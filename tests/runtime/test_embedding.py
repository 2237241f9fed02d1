"""The embedders: MiniLM in NumPy equals the transformers model; the hashing fallback."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from memos_client.errors import RuntimeStoreError
from memos_client.runtime.embedding import minilm as embedding
from memos_client.runtime.embedding.bert import gelu, layer_norm
from memos_client.runtime.embedding.blas import Linear
from memos_client.runtime.embedding.minilm import (
    HashingEmbedder,
    MiniLMEmbedder,
    make_embedder,
)
from tests.runtime.conftest import CountingEmbedder

SENTENCES = [
    "What did Caroline research?",
    "I went to a LGBTQ support group yesterday and it was so powerful.",
    "Café crème, s'il vous plaît — and a croissant!",
    "short",
]
# Over 40 tokens: a single query this long takes the plain (unblocked) GEMMs only.
LONG = " ".join(["the quick brown fox jumps over the lazy dog"] * 6)


@pytest.mark.slow
def test_numpy_minilm_matches_transformers(embedder: CountingEmbedder) -> None:
    # The ml extra is part of every test install (the lock): a missing reference fails, never skips.
    import torch
    from transformers import AutoModel, AutoTokenizer

    directory = str(embedder.model_dir)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModel.from_pretrained(directory).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    reference = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    ours = embedder.embed(SENTENCES)
    assert ours.shape == (4, 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=2e-5)


@pytest.mark.slow
def test_numpy_minilm_matches_sentence_transformers(embedder: CountingEmbedder) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(embedder.model_dir), device="cpu")
    texts = [*SENTENCES, LONG]
    reference = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    batch = embedder.embed(texts)
    single = np.stack([embedder.embed([text])[0] for text in texts])
    for ours in (batch, single):  # the padded batch path and the one-query path
        cosine = (ours * reference).sum(axis=1)
        assert cosine.min() > 0.99999, cosine


def test_one_query_equals_the_same_text_in_a_padded_batch(embedder: CountingEmbedder) -> None:
    texts = [*SENTENCES, LONG]
    batch = embedder.embed(texts)
    for row, text in enumerate(texts):
        np.testing.assert_allclose(embedder.embed([text])[0], batch[row], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("small_gemm", [True, False])
def test_both_weight_layouts_give_the_same_embeddings(
    embedder: CountingEmbedder, monkeypatch: pytest.MonkeyPatch, small_gemm: bool
) -> None:
    # Whichever layout this machine's BLAS gets, the other one is checked against it too.
    monkeypatch.setattr(embedding, "blas_has_small_gemm", lambda: small_gemm)
    other = MiniLMEmbedder(model_dir=embedder.model_dir)
    texts = [*SENTENCES, LONG]
    np.testing.assert_allclose(other.embed(texts), embedder.embed(texts), atol=1e-5)
    assert other._model is not None
    assert all(layer.qkv.blocked is small_gemm for layer in other._model.layers)
    for text in texts:
        np.testing.assert_allclose(other.embed([text]), embedder.embed([text]), atol=1e-5)


@pytest.mark.parametrize("shape", [(1152, 384), (384, 1536), (1536, 384)])
def test_column_blocked_product_equals_the_plain_one(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    weight = rng.standard_normal(shape).astype(np.float32)  # (out, in), as nn.Linear stores it
    bias = rng.standard_normal(shape[0]).astype(np.float32)
    blocked = Linear(weight, bias, blocked=True)
    plain = Linear(weight, bias, blocked=False)
    assert blocked.blocked
    assert not plain.blocked
    for rows in (1, 13, 20, 21, 40, 41, 300):  # blocks while under the limit, then plain
        x = rng.standard_normal((rows, shape[1])).astype(np.float32)
        expected = x.astype(np.float64) @ weight.T.astype(np.float64) + bias
        for linear in (blocked, plain):
            result = linear(x)
            assert result.shape == (rows, shape[0])
            assert result.dtype == np.float32
            np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(blocked.plain(), weight.T)
    assert blocked._blocks is not None
    count, inner, width = blocked._blocks.shape
    assert (inner, count * width) == (shape[1], shape[0])
    assert 20 * inner * width <= 100**3  # 20 token rows per block GEMM stay under the limit
    assert blocked._rows * inner * width <= 100**3 < (blocked._rows + 1) * inner * width


def test_gelu_and_layer_norm_follow_their_definitions() -> None:
    x = np.linspace(-8.0, 8.0, 4001, dtype=np.float32).reshape(1, -1)
    exact = np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x[0].tolist()])
    values = gelu(x.copy())
    assert values.dtype == np.float32
    np.testing.assert_allclose(values[0], exact, atol=2e-6)
    rows = np.random.default_rng(4).standard_normal((5, 384)).astype(np.float32) * 3 + 1
    weight = np.linspace(0.5, 1.5, 384, dtype=np.float32)
    bias = np.linspace(-1.0, 1.0, 384, dtype=np.float32)
    expected = (rows - rows.mean(axis=1, keepdims=True)) / np.sqrt(
        rows.var(axis=1, keepdims=True) + 1e-12
    ) * weight + bias
    np.testing.assert_allclose(layer_norm(rows.copy(), weight, bias, 1e-12), expected, atol=1e-5)


def test_minilm_is_deterministic_and_named_by_its_weights(embedder: CountingEmbedder) -> None:
    first = embedder.embed(SENTENCES)
    np.testing.assert_array_equal(first, embedder.embed(list(reversed(SENTENCES)))[::-1])
    assert embedder.name.startswith("minilm-l6-v2@")
    assert len(embedder.name) == len("minilm-l6-v2@") + 12
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]


def test_hashing_embedder_is_a_documented_lexical_fallback() -> None:
    hashing = HashingEmbedder()
    vectors = hashing.embed(["the cat sat", "the cat sat", "stock market news"])
    np.testing.assert_array_equal(vectors[0], vectors[1])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert float(vectors[0] @ vectors[2]) < 0.5
    assert make_embedder("hashing").name == "hashing-v1-384"
    assert isinstance(make_embedder(None), MiniLMEmbedder)
    with pytest.raises(RuntimeStoreError, match="unknown embedder"):
        make_embedder("word2vec")


def test_the_runtime_s_default_embedder_is_memos_embedder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every command opens the runtime with MemOS(...): the variable reaches all of them.
    from memos_client.runtime import HashingEmbedder, MemOS

    monkeypatch.setenv("MEMOS_EMBEDDER", "hashing")
    with MemOS(tmp_path / "home") as mem:
        assert isinstance(mem.embedder, HashingEmbedder)
    explicit = CountingEmbedder()
    with MemOS(tmp_path / "home", embedder=explicit) as mem:
        assert mem.embedder is explicit
