"""Ingestion throughput with embeddings: ``MemOS.add_many`` with the runtime's NumPy MiniLM
against the same model through sentence-transformers + torch (the usual way to run it).

Each run adds the same batch of fresh texts to a new, empty store (so nothing is cached) with
each contender in turn; one warm-up run first; medians of the runs and their ratio.

    python3 bench/runtime_ingest.py --items 500 --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from runtime_latency import corpus

from memos_client.runtime import MemOS
from memos_client.runtime.embedding.minilm import MiniLMEmbedder, Vectors


class TorchMiniLM:
    """all-MiniLM-L6-v2 through sentence-transformers (torch, one thread like the NumPy one)."""

    def __init__(self, name: str) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        from memos_client.runtime.embedding.minilm import minilm_model_dir

        torch.set_num_threads(1)
        self._model = SentenceTransformer(str(minilm_model_dir()), device="cpu")
        self._name = name + "+torch"

    @property
    def name(self) -> str:
        """Its own cache key, so the two contenders never share embeddings."""
        return self._name

    @property
    def dimension(self) -> int:
        """384."""
        return 384

    def embed(self, texts: list[str]) -> Vectors:
        """Normalised sentence embeddings."""
        vectors = self._model.encode(texts, batch_size=64, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


def main() -> None:
    """Alternate the contenders, print items/s medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    numpy_embedder = MiniLMEmbedder()
    contenders: dict[str, Any] = {
        "MemOS.add_many, MiniLM in NumPy (default)": numpy_embedder,
        "MemOS.add_many, MiniLM via sentence-transformers/torch": TorchMiniLM(numpy_embedder.name),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for run in range(args.runs + 1):
        records = corpus(args.items, seed=1000 + run)
        for name, embedder in contenders.items():
            with tempfile.TemporaryDirectory() as home:
                mem = MemOS(home=home, embedder=embedder)
                started = time.perf_counter()
                mem.add_many(records, cube="bench/ingest")
                elapsed = time.perf_counter() - started
                mem.close()
            if run > 0:
                rates[name].append(args.items / elapsed)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    names = list(medians)
    print(json.dumps({"items": args.items, "runs": args.runs, "items_per_s": medians}, indent=2))
    print(f"ratio NumPy / torch: {medians[names[0]] / medians[names[1]]:.2f}")


if __name__ == "__main__":
    main()
