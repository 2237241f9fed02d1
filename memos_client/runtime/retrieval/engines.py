"""The parts of a runtime that need NumPy, built on first use: embedder, embedding cache, indexes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memos_client.runtime.embedding.minilm import Embedder
    from memos_client.runtime.retrieval.hybrid import RetrievalSettings, Retriever
    from memos_client.runtime.retrieval.vector_index import EmbeddingCache, VectorIndex
    from memos_client.runtime.store.database import Store


class Engines:
    """The embedder, embedding cache, vector index and retriever of a runtime, built on first use.

    They import NumPy (and the indexes set up their arrays and a private FTS5 database), which
    installing, listing and removing cubes never need. Every :meth:`MemOS.acting_as` view shares
    the one instance, so the indexes and the model are loaded once per runtime.
    """

    def __init__(
        self,
        store: Store,
        embedder: str | Embedder | None,
        settings: RetrievalSettings | None,
        ann_threshold: int,
        lexical_threshold: int,
        ann_dir: Path,
        warm: bool = True,
    ) -> None:
        if isinstance(embedder, str) and embedder not in ("minilm", "hashing"):
            from memos_client.runtime.embedding.minilm import make_embedder

            make_embedder(embedder)  # raises the one "unknown embedder" error, now, not at use
        self._store = store
        self._spec = embedder
        self._settings = settings
        self._ann_threshold = ann_threshold
        self._lexical_threshold = lexical_threshold
        self._ann_dir = ann_dir
        self._warm = warm
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._cache: EmbeddingCache | None = None
        self._index: VectorIndex | None = None
        self._retriever: Retriever | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedder named by the runtime's ``embedder`` option."""
        with self._lock:
            if self._embedder is None:
                from memos_client.runtime.embedding.minilm import make_embedder

                self._embedder = make_embedder(self._spec)
            return self._embedder

    @property
    def cache(self) -> EmbeddingCache:
        """The embedding cache (the ``embeddings`` table)."""
        with self._lock:
            if self._cache is None:
                from memos_client.runtime.retrieval.vector_index import EmbeddingCache

                self._cache = EmbeddingCache(self._store, self.embedder)
            return self._cache

    @property
    def index(self) -> VectorIndex:
        """The vector index."""
        with self._lock:
            if self._index is None:
                from memos_client.runtime.retrieval.vector_index import VectorIndex

                self._index = VectorIndex(
                    self._store,
                    self.cache,
                    ann_threshold=self._ann_threshold,
                    ann_dir=self._ann_dir,
                    warm=self._warm,
                )
            return self._index

    @property
    def retriever(self) -> Retriever:
        """Hybrid retrieval over the store, the vector index and the lexical index."""
        with self._lock:
            if self._retriever is None:
                from memos_client.runtime.retrieval.hybrid import Retriever
                from memos_client.runtime.retrieval.lexical_index import LexicalIndex

                self._retriever = Retriever(
                    self._store,
                    self.embedder,
                    self.index,
                    self._settings,
                    # A cold process ranks lexically with FTS5, the persisted index: building
                    # the in-memory postings only pays off in a process that stays up.
                    LexicalIndex(self._store, threshold=self._lexical_threshold)
                    if self._warm
                    else None,
                )
            return self._retriever

    def save(self) -> None:
        """Save the vector graph if an index was built and it changed."""
        if self._index is not None:
            self._index.save()

    def forget_indexes(self) -> None:
        """Drop the in-memory indexes and the saved vector graphs, unsaved (after a purge: a
        graph keeps the vectors of removed memories in its deleted slots). They are rebuilt
        from the store on the next search."""
        with self._lock:
            self._index = None
            self._retriever = None
            for graph in self._ann_dir.glob("*.bin"):
                graph.unlink(missing_ok=True)
