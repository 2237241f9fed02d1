"""The embedders: MiniLM in NumPy equals the transformers model; the hashing fallback."""

from __future__ import annotations

import numpy as np
import pytest

from memos_client.errors import RuntimeStoreError
from memos_client.runtime.embedding import HashingEmbedder, MiniLMEmbedder, make_embedder
from tests.runtime.conftest import CountingEmbedder

SENTENCES = [
    "What did Caroline research?",
    "I went to a LGBTQ support group yesterday and it was so powerful.",
    "Café crème, s'il vous plaît — and a croissant!",
    "short",
]


@pytest.mark.slow
def test_numpy_minilm_matches_transformers(embedder: CountingEmbedder) -> None:
    torch = pytest.importorskip("torch", reason="the ml extra (torch) is needed for the reference")
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
