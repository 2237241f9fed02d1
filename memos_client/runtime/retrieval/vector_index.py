"""Semantic retrieval: the embedding cache and the in-memory vector index that follows the store.

Embeddings are computed in batches and cached in the ``embeddings`` table under
``(embedder name, SHA-256 of the embedded text)``: re-adding, updating back or installing the same
text never embeds it twice. Each process keeps its own index of the vectors of indexed items and
brings it up to date before every search by replaying ``versions`` past the last change it saw,
so deletes, expiries and updates made by any process reach it. Search is exact (one matrix
product) while the index is small and goes through an hnswlib HNSW graph once it holds
``ann_threshold`` vectors; the graph is saved next to the database with the change sequence it
reflects, so a new process only replays what changed since.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from memos_client.config import private_dir, private_file
from memos_client.runtime.embedding.blas import single_blas_thread
from memos_client.runtime.embedding.minilm import Embedder, Vectors
from memos_client.runtime.memory_types import INDEXED_STATES, State
from memos_client.runtime.store.database import Store, text_digest

_STATE_CODES = {state: code for code, state in enumerate(State)}
_INDEXED_CODES = {_STATE_CODES[state] for state in INDEXED_STATES}
#: SQLite's default limit on host parameters is 32766; stay well below it.
_CHUNK = 900


def _top(scores: np.ndarray[Any, Any], limit: int) -> np.ndarray[Any, Any]:
    """Indices of the ``limit`` highest scores, best first (a partition, then a small sort)."""
    if len(scores) > limit:
        part = np.argpartition(-scores, limit)[:limit]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")


class EmbeddingCache:
    """Vectors for texts: from the cache table when known, else embedded in batches and stored."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def lookup(self, digests: list[str]) -> dict[str, Vectors]:
        """The cached vectors among ``digests``."""
        found: dict[str, Vectors] = {}
        if not digests:
            return found  # nothing to look up: do not hash the model's weights for its name
        name = self.embedder.name
        unique = list(dict.fromkeys(digests))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.store.query(
                f"SELECT digest, vector FROM embeddings WHERE embedder = ? AND digest IN ({marks})",  # noqa: S608  (placeholders only)
                [name, *chunk],
            )
            for row in rows:
                found[row[0]] = np.frombuffer(row[1], dtype=np.float32)
        return found

    def vectors(self, texts: list[str]) -> Vectors:
        """One vector per text, embedding (and caching) only those not cached yet."""
        digests = [text_digest(text) for text in texts]
        known = self.lookup(digests)
        missing = dict(zip(digests, texts, strict=True))
        for digest in known:
            missing.pop(digest, None)
        if missing:
            fresh = self.embedder.embed(list(missing.values()))
            rows = [
                (self.embedder.name, digest, vector.astype(np.float32).tobytes())
                for digest, vector in zip(missing, fresh, strict=True)
            ]
            with self.store.write() as connection:
                connection.executemany(
                    "INSERT OR IGNORE INTO embeddings (embedder, digest, vector) VALUES (?, ?, ?)",
                    rows,
                )
            known.update(zip(missing, fresh, strict=True))
        output = np.empty((len(texts), self.embedder.dimension), dtype=np.float32)
        for row, digest in enumerate(digests):
            output[row] = known[digest]
        return output


class VectorIndex:
    """The vectors of indexed items of one store, for one embedder; thread-safe.

    The columns live in memory-mapped files under ``index_dir`` (see
    :mod:`~memos_client.runtime.retrieval.vector_file`), shared by every process of the runtime.
    A ``warm`` index (a long-running server) also keeps an hnswlib graph once ``ann_threshold``
    vectors are indexed; a cold one (a CLI command) searches exactly over the mapped columns,
    which costs a few milliseconds at 100k vectors and no graph load.
    """

    def __init__(
        self,
        store: Store,
        cache: EmbeddingCache,
        *,
        ann_threshold: int = 20_000,
        ann_dir: Path | None = None,
        warm: bool = True,
    ) -> None:
        from memos_client.runtime.retrieval.vector_file import VectorColumns

        self.store = store
        self.cache = cache
        self.ann_threshold = ann_threshold
        self.ann_dir = ann_dir
        self.warm = warm
        self._lock = threading.Lock()
        embedder = cache.embedder
        self.columns = VectorColumns(
            None if ann_dir is None else ann_dir / _slug(embedder.name),
            embedder.name,
            embedder.dimension,
        )
        self._size = 0
        self._position_map: dict[int, int] | None = None
        self._cube_codes: dict[str, int] = {}
        self._watermark = 0
        self._opened = False
        self._ann: Any = None
        self._ann_dirty = 0
        #: Whether the HNSW graph came from the saved file (rather than being built here).
        self.ann_loaded = False

    @property
    def _position(self) -> dict[int, int]:
        """``rowid -> position``, built on first need (a cold search never needs it)."""
        if self._position_map is None:
            labels = self.columns.labels[: self._size].tolist()
            self._position_map = dict(zip(labels, range(len(labels)), strict=True))
        return self._position_map

    # -- keeping up with the store -------------------------------------------------------------

    def sync(self) -> None:
        """Apply every change committed since the last sync (by any process)."""
        with self._lock:
            latest = self.store.query("SELECT COALESCE(MAX(seq), 0) FROM versions")[0][0]
            if not self._opened or latest != self._watermark:
                # Under the files' lock from the first look on: opening may start a new
                # generation (deleting the column files), which must not happen while another
                # process is growing them.
                with self.columns.locked():
                    if not self._opened:
                        self._open(latest)
                    if latest != self._watermark:
                        self._adopt(latest)
                        if latest != self._watermark:
                            self._replay(latest)
            self._maybe_build_ann()

    def _open(self, latest: int) -> None:
        """Map the committed columns (or start empty when there are none usable)."""
        self._opened = True
        meta = self.columns.open()
        if meta is None or meta.watermark > latest:
            # None yet, or they describe another (replaced) database: rebuild from the store.
            self.columns.reset()
            return
        self._take(meta)
        if self.warm:
            self._load_ann()

    def _take(self, meta: Any) -> None:
        """Adopt a committed state: its count, watermark and cube codes."""
        grown = meta.count > self._size
        if grown and self._position_map is not None:
            for position in range(self._size, meta.count):
                self._position_map[int(self.columns.labels[position])] = position
        self._size = meta.count
        self._watermark = meta.watermark
        self._cube_codes = {cube: code for code, cube in enumerate(meta.cubes)}

    def _adopt(self, latest: int) -> None:
        """Under the lock: take what other processes committed since this one last looked."""
        meta = self.columns.read_meta()
        if meta is None or meta.generation != self.columns.meta.generation:
            if meta is None and self._watermark == 0:
                return  # nothing committed yet: this process builds the first generation
            self._restart(latest)
            return
        if meta.watermark > latest:
            self._restart(latest)
            return
        if meta.watermark <= self._watermark and meta.count == self._size:
            return
        self.columns.refresh()
        seen = self._watermark
        self._take(meta)
        self.columns.meta = meta
        if self._ann is not None and meta.watermark > seen:
            self._refresh_ann(self._changed_rowids(seen, meta.watermark))

    def _restart(self, latest: int) -> None:
        """Drop everything mapped and start again from the files (or from the store)."""
        self._size, self._watermark, self._position_map = 0, 0, None
        self._cube_codes, self._ann, self.ann_loaded = {}, None, False
        self._open(latest)

    def _changed_rowids(self, after: int, upto: int) -> list[int]:
        rows = self.store.query(
            "SELECT rowid FROM items WHERE id IN "
            "(SELECT DISTINCT item_id FROM versions WHERE seq > ? AND seq <= ?)",
            [after, upto],
        )
        return [int(row[0]) for row in rows]

    def _replay(self, latest: int) -> None:
        rows = self.store.changed_items(
            "rowid, cube, state, text, metadata, text_digest", self._watermark, latest
        )
        self._apply(rows)
        self._watermark = latest
        self.columns.commit(self._size, latest, list(self._cube_codes))

    def _apply(self, rows: list[Any]) -> None:
        from memos_client.runtime.store.indexed_text import embedding_text

        live = [row for row in rows if State(row["state"]) in INDEXED_STATES]
        vectors = self.cache.lookup([row["text_digest"] for row in live])
        missing = [row for row in live if row["text_digest"] not in vectors]
        if missing:
            texts = [embedding_text(row["text"], json.loads(row["metadata"])) for row in missing]
            fresh = self.cache.vectors(texts)
            for row, vector in zip(missing, fresh, strict=True):
                vectors[row["text_digest"]] = vector
        columns = self.columns
        columns.reserve(self._size + len(live))
        written = 0
        for row in rows:
            rowid = int(row["rowid"])
            code = _STATE_CODES[State(row["state"])]
            position = self._position.get(rowid)
            if code not in _INDEXED_CODES:
                if position is not None and columns.state[position] != code:
                    columns.state[position] = code
                    written += 1
                if self._ann is not None:
                    self._mark_deleted(rowid)
                continue
            vector = vectors[row["text_digest"]]
            cube = self._cube_code(row["cube"])
            if position is None:
                position = self._size
                self._size += 1
                self._position[rowid] = position
                columns.labels[position] = rowid
                changed = True
            else:
                changed = bool(columns.state[position] not in _INDEXED_CODES) or not np.array_equal(
                    columns.matrix[position], vector
                )
                if (
                    not changed
                    and columns.state[position] == code
                    and columns.cube[position] == cube
                ):
                    continue
            if changed:
                columns.matrix[position] = vector
            columns.state[position] = code
            columns.cube[position] = cube
            written += 1
            if self._ann is not None and changed:
                self._ann_add(np.asarray([vector]), np.asarray([rowid]))
        columns.note_write(written)

    def _refresh_ann(self, rowids: list[int]) -> None:
        """Bring the graph up to the mapped columns for ``rowids`` (changed by another process)."""
        for rowid in rowids:
            position = self._position.get(rowid)
            if position is None:
                continue
            if self.columns.state[position] in _INDEXED_CODES:
                self._ann_add(np.asarray([self.columns.matrix[position]]), np.asarray([rowid]))
            else:
                self._mark_deleted(rowid)

    def _mark_deleted(self, rowid: int) -> None:
        # hnswlib raises for a label already marked deleted or one it never saw: both are fine.
        with contextlib.suppress(RuntimeError):
            self._ann.mark_deleted(rowid)
        self._ann_dirty += 1

    def _cube_code(self, cube: str) -> int:
        return self._cube_codes.setdefault(cube, len(self._cube_codes))

    # -- the HNSW graph (warm indexes only) ----------------------------------------------------

    def _ann_files(self) -> list[tuple[int, Path]]:
        """Saved graphs as ``(watermark, path)``, newest first.

        The change sequence a graph reflects is part of its file name, so graph and watermark
        are replaced together by one rename even when two processes save at once.
        """
        if self.ann_dir is None or not self.ann_dir.is_dir():
            return []
        found = []
        for path in self.ann_dir.glob(f"{self._ann_prefix()}.*.bin"):
            mark = path.name[len(self._ann_prefix()) + 1 : -len(".bin")]
            if mark.isdigit():
                found.append((int(mark), path))
        return sorted(found, reverse=True)

    def _ann_prefix(self) -> str:
        return "hnsw-" + _slug(self.cache.embedder.name) + "-" + self.columns.meta.generation

    def _ann_add(self, vectors: Vectors, labels: np.ndarray[Any, Any]) -> None:
        ann = self._ann
        if ann.get_current_count() + len(labels) > ann.get_max_elements():
            ann.resize_index(max(2 * ann.get_max_elements(), ann.get_current_count() + len(labels)))
        ann.add_items(vectors, labels)
        self._ann_dirty += len(labels)

    def _live_count(self) -> int:
        return int(np.isin(self.columns.state[: self._size], list(_INDEXED_CODES)).sum())

    def _maybe_build_ann(self) -> None:
        if not self.warm:
            return
        if self._ann is None and self._live_count() >= self.ann_threshold:
            import hnswlib

            ann = hnswlib.Index(space="ip", dim=self.columns.matrix.shape[1])
            ann.init_index(max_elements=max(2 * self._size, 1024), ef_construction=100, M=16)
            self._ann = ann
            mask = np.isin(self.columns.state[: self._size], list(_INDEXED_CODES))
            self._ann_add(
                self.columns.matrix[: self._size][mask], self.columns.labels[: self._size][mask]
            )
            self._save_ann()
        if self._ann is not None and self._ann_dirty >= 1000:
            self._save_ann()

    def save(self) -> None:
        """Save the HNSW graph if it changed since it was last saved (called on close)."""
        with self._lock:
            if self._ann is not None and self._ann_dirty:
                self._save_ann()

    def _save_ann(self) -> None:
        if self.ann_dir is None or self._ann is None:
            return
        private_dir(self.ann_dir)
        graph = self.ann_dir / f"{self._ann_prefix()}.{self._watermark}.bin"
        temporary = self.ann_dir / f"{self._ann_prefix()}.{os.getpid()}.tmp"
        self._ann.save_index(str(temporary))
        private_file(temporary).replace(graph)
        for _, older in self._ann_files()[2:]:  # keep the newest two (another reader may load)
            with contextlib.suppress(OSError):
                older.unlink()
        self._ann_dirty = 0

    def _load_ann(self) -> None:
        """Start from the saved graph, then bring it up to the mapped columns."""
        usable = [(mark, path) for mark, path in self._ann_files() if mark <= self._watermark]
        if not usable or self._live_count() < self.ann_threshold:
            return  # none, or this runtime searches exactly at this size
        watermark, path = usable[0]
        import hnswlib

        ann = hnswlib.Index(space="ip", dim=self.columns.matrix.shape[1])
        try:
            ann.load_index(str(path), max_elements=0)
        except (RuntimeError, OSError):
            return
        self._ann = ann
        self.ann_loaded = True
        if watermark < self._watermark:
            self._refresh_ann(self._changed_rowids(watermark, self._watermark))

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        vector: Vectors,
        limit: int,
        *,
        cubes: set[str] | None,
        states: tuple[State, ...],
        only: set[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``limit`` nearest indexed items in ``cubes`` (None: all) with a state in ``states``.

        ``only`` restricts the search to those rowids (the rows passing other symbolic filters):
        an exact product over just them, so a narrow filter never loses recall to the graph.
        """
        self.sync()
        with self._lock:
            if self._size == 0 or limit <= 0:
                return []
            if only is not None:
                positions = np.asarray(
                    [self._position[r] for r in only if r in self._position], dtype=np.int64
                )
                if len(positions) == 0:
                    return []
                with single_blas_thread():
                    scores = self.columns.matrix[positions] @ vector
                keep = np.isin(self.columns.state[positions], [_STATE_CODES[s] for s in states])
                positions, scores = positions[keep], scores[keep]
                best = _top(scores, limit)
                return [(int(self.columns.labels[positions[b]]), float(scores[b])) for b in best]
            allowed_states = [_STATE_CODES[state] for state in states]
            allowed_cubes = (
                None
                # Every indexed cube allowed (a search of all readable cubes, usually): no filter,
                # and the graph need not over-fetch for one.
                if cubes is None or cubes.issuperset(self._cube_codes)
                else [self._cube_codes[cube] for cube in cubes if cube in self._cube_codes]
            )
            if self._ann is not None:
                found = self._search_ann(vector, limit, allowed_cubes, allowed_states)
                if found is not None:
                    return found
            return self._search_exact(vector, limit, allowed_cubes, allowed_states)

    def _mask(
        self, positions: np.ndarray[Any, Any], cubes: list[int] | None, states: list[int]
    ) -> np.ndarray[Any, Any]:
        mask = np.isin(self.columns.state[positions], states)
        if cubes is not None:
            mask &= np.isin(self.columns.cube[positions], cubes)
        return mask

    def _search_exact(
        self, vector: Vectors, limit: int, cubes: list[int] | None, states: list[int]
    ) -> list[tuple[int, float]]:
        with single_blas_thread():
            scores = self.columns.matrix[: self._size] @ vector
        mask = self._mask(np.arange(self._size), cubes, states)
        candidates = np.flatnonzero(mask)
        if len(candidates) == 0:
            return []
        chosen = candidates[_top(scores[candidates], limit)]
        return [(int(self.columns.labels[p]), float(scores[p])) for p in chosen]

    def _search_ann(
        self, vector: Vectors, limit: int, cubes: list[int] | None, states: list[int]
    ) -> list[tuple[int, float]] | None:
        ann = self._ann
        ask = min(limit * (4 if cubes is not None else 2), ann.get_current_count())
        ann.set_ef(max(ask, 64))
        try:
            labels, distances = ann.knn_query(vector, k=ask)
        except RuntimeError:
            return None  # fewer live elements than asked for: the exact path handles it
        positions = np.asarray([self._position[int(label)] for label in labels[0]])
        keep = self._mask(positions, cubes, states)
        found = [
            (int(label), 1.0 - float(distance))
            for label, distance, ok in zip(labels[0], distances[0], keep, strict=True)
            if ok
        ]
        if len(found) < limit and (cubes is not None or len(keep) > int(keep.sum())):
            return None  # a filter removed too many: fall back to the exact, filtered product
        return found[:limit]


def _slug(name: str) -> str:
    """A file-name-safe form of an embedder name."""
    return name.replace("/", "_").replace("@", "-").replace(":", "-")
