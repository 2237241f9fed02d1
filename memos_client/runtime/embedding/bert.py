"""The BERT encoder of all-MiniLM-L6-v2 in NumPy: its weights laid out once for the BLAS, and the
forward pass (LayerNorm, GELU, attention, mean pooling) over them.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from memos_client.runtime.embedding.blas import Linear, Vectors


def layer_norm(x: Vectors, weight: Vectors, bias: Vectors, eps: float) -> Vectors:
    """LayerNorm over the last axis of a 2-D ``x``, in place (``x`` is a temporary)."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)[:, None]
    variance *= np.float32(1.0 / x.shape[-1])
    variance += np.float32(eps)
    np.sqrt(variance, out=variance)
    x /= variance
    x *= weight
    x += bias
    return x


def gelu(x: Vectors) -> Vectors:
    """BERT's exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), in place (``x`` is a temporary).

    erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): for z = |x|/√2, erf(z) = 1 -
    p(t)·exp(-z²) with t = 1/(1 + 0.3275911·z); so h = 0.5·p(t)·exp(-x²/2) is Φ(-|x|) and
    Φ(x) = 0.5 + sign(x)·(0.5 - h). Not scipy.special.erf: scipy brings its own OpenBLAS whose
    spinning threads fight NumPy's on a 2-core machine (a query: 7 ms → 120 ms).
    """
    a = np.abs(x)
    t = a * np.float32(0.3275911 / math.sqrt(2.0))
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    h = t * np.float32(1.061405429 * 0.5)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        h += np.float32(coefficient * 0.5)
        h *= t
    np.square(a, out=a)
    a *= np.float32(-0.5)
    np.exp(a, out=a)
    h *= a  # Φ(-|x|)
    np.subtract(np.float32(0.5), h, out=h)
    np.copysign(h, x, out=h)
    h += np.float32(0.5)  # Φ(x)
    x *= h
    return x


class _Layer(msgspec.Struct, frozen=True):
    """One BERT layer's weights, laid out for ``x @ W`` on a 2-D block of token rows."""

    qkv: Linear  # query (pre-scaled by 1/√head_dim), key and value projections side by side
    attention_out: Linear
    attention_norm: tuple[Vectors, Vectors]
    intermediate: Linear
    output: Linear
    output_norm: tuple[Vectors, Vectors]


class MiniLMWeights(msgspec.Struct, frozen=True):
    """The BERT encoder of all-MiniLM-L6-v2 with mean pooling, prepared once at load time.

    For a one-sentence query the model is a chain of small GEMMs (about 13 token rows by 384 by
    384 to 1536), so the layout is what counts: every weight is laid out once for ``x @ W`` (see
    :class:`Linear`), the query, key and value projections are one GEMM, the attention scale is
    folded into the query weights, the token-type row into the position table, and unpadded
    batches (a single query, or texts of equal length) skip the attention mask.
    """

    word: Vectors
    position: Vectors  # position embeddings + the (only) token-type embedding
    norm: tuple[Vectors, Vectors]
    layers: tuple[_Layer, ...]
    heads: int
    eps: float

    @classmethod
    def prepare(
        cls, weights: dict[str, npt.NDArray[Any]], config: dict[str, Any], small_gemm: bool
    ) -> MiniLMWeights:
        """Lay out the safetensors weights of a ``BertModel`` for :meth:`forward`."""

        def get(name: str) -> Vectors:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        def linear(name: str) -> Linear:
            return Linear(weights[name + ".weight"], get(name + ".bias"), small_gemm)

        heads = int(config["num_attention_heads"])
        size = int(config["hidden_size"])
        scale = np.float32(1.0 / math.sqrt(size // heads))
        layers = []
        for layer in range(int(config["num_hidden_layers"])):
            prefix = f"encoder.layer.{layer}."
            attention = prefix + "attention.self."
            qkv = Linear(
                np.concatenate(
                    [
                        get(attention + "query.weight") * scale,
                        get(attention + "key.weight"),
                        get(attention + "value.weight"),
                    ]
                ),
                np.concatenate(
                    [
                        get(attention + "query.bias") * scale,
                        get(attention + "key.bias"),
                        get(attention + "value.bias"),
                    ]
                ),
                small_gemm,
            )
            layers.append(
                _Layer(
                    qkv=qkv,
                    attention_out=linear(prefix + "attention.output.dense"),
                    attention_norm=(
                        get(prefix + "attention.output.LayerNorm.weight"),
                        get(prefix + "attention.output.LayerNorm.bias"),
                    ),
                    intermediate=linear(prefix + "intermediate.dense"),
                    output=linear(prefix + "output.dense"),
                    output_norm=(
                        get(prefix + "output.LayerNorm.weight"),
                        get(prefix + "output.LayerNorm.bias"),
                    ),
                )
            )
        return cls(
            word=get("embeddings.word_embeddings.weight"),
            position=get("embeddings.position_embeddings.weight")
            + get("embeddings.token_type_embeddings.weight")[0],
            norm=(get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias")),
            layers=tuple(layers),
            heads=heads,
            eps=float(config.get("layer_norm_eps", 1e-12)),
        )

    def forward(self, ids: npt.NDArray[np.int64], lengths: list[int]) -> Vectors:
        """Mean-pooled, L2-normalised embeddings of a ``(batch, width)`` block of token ids
        (row ``i`` holds ``lengths[i]`` tokens, then padding)."""
        batch, width = ids.shape
        heads, eps = self.heads, self.eps
        size = self.word.shape[1]
        head_dim = size // heads
        # Every token row of the batch in one 2-D array: one GEMM per projection.
        hidden = self.word[ids.reshape(-1)]
        hidden.reshape(batch, width, size)[...] += self.position[:width]
        hidden = layer_norm(hidden, *self.norm, eps)
        padded = min(lengths) < width
        if padded:
            real = np.arange(width)[None, :] < np.array(lengths)[:, None]
            # Padding positions get -inf-like scores so softmax gives them no weight.
            attention_bias = np.where(real, np.float32(0.0), np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            # (batch·width, 3·size) → (3, batch, heads, width, head_dim)
            qkv = layer.qkv(hidden).reshape(batch, width, 3, heads, head_dim)
            query, key, value = qkv.transpose(2, 0, 3, 1, 4)
            scores = query @ key.transpose(0, 1, 3, 2)
            if padded:
                scores += attention_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * width, size)
            attended = layer.attention_out(context)
            attended += hidden
            hidden = layer_norm(attended, *layer.attention_norm, eps)
            output = layer.output(gelu(layer.intermediate(hidden)))
            output += hidden
            hidden = layer_norm(output, *layer.output_norm, eps)
        tokens = hidden.reshape(batch, width, size)
        if padded:
            pooled = np.einsum("bts,bt->bs", tokens, real.astype(np.float32))
        else:
            pooled = tokens.sum(axis=1)
        # Mean pooling's division by the length cancels in the normalisation.
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        pooled /= np.maximum(norms, np.float32(1e-12))
        return pooled  # type: ignore[no-any-return]
