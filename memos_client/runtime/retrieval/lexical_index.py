"""An in-memory BM25 index for large stores, kept in step with the store like the vector index.

FTS5 computes ``bm25()`` for every row that matches any query term before it can sort: at 100k
memories a five-word query touches tens of thousands of rows and costs tens of milliseconds.
Once a store holds ``threshold`` indexed memories, each process keeps the postings in NumPy
arrays instead and scores a query with a few vectorised additions. It tokenises with FTS5 itself
(the same ``porter unicode61`` tokenizer, through a private in-memory FTS5 table and
``fts5vocab``), and scores with FTS5's own BM25 (k1 = 1.2, b = 0.75, its IDF), so rankings
match the SQL path. FTS5 stays the durable index and serves filtered queries.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from typing import Any

import numpy as np

from memos_client.runtime.memory_types import INDEXED_STATES, State
from memos_client.runtime.retrieval.lexical import query_terms
from memos_client.runtime.store.database import Store

_STATE_CODES = {state: code for code, state in enumerate(State)}
_INDEXED_CODES = [_STATE_CODES[state] for state in INDEXED_STATES]
K1 = 1.2
B = 0.75


class _Tokenizer:
    """FTS5's tokenizer, through a private in-memory database."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE tok USING fts5("
            "t, tokenize='porter unicode61 remove_diacritics 2')"
        )
        self._db.execute("CREATE VIRTUAL TABLE temp.tokv USING fts5vocab(main, tok, instance)")
        self._lock = threading.Lock()

    def counts(self, texts: list[tuple[int, str]]) -> list[tuple[str, int, int]]:
        """``(term, key, count)`` for every distinct term of every ``(key, text)``."""
        with self._lock:
            self._db.executemany("INSERT INTO tok (rowid, t) VALUES (?, ?)", texts)
            rows = self._db.execute(
                "SELECT term, doc, COUNT(*) FROM tokv GROUP BY term, doc"
            ).fetchall()
            self._db.execute("DELETE FROM tok")
        return rows


class LexicalIndex:
    """Postings of the indexed items of one store; thread-safe."""

    def __init__(self, store: Store, threshold: int = 20_000) -> None:
        self.store = store
        self.threshold = threshold
        self._tokenizer = _Tokenizer()
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.active = False
        self._watermark = 0
        self._position: dict[int, int] = {}
        self._labels: list[int] = []
        self._length = np.zeros(0, dtype=np.float32)
        self._state = np.zeros(0, dtype=np.int8)
        self._cube = np.zeros(0, dtype=np.int32)
        self._cube_codes: dict[str, int] = {}
        # term -> (positions, term frequencies); new postings wait in lists until the next query.
        self._postings: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
        self._pending: dict[str, tuple[list[int], list[float]]] = {}
        self._statistics: tuple[np.ndarray[Any, Any], int, np.ndarray[Any, Any]] | None = None

    def sync(self) -> None:
        """Catch up with the store; becomes active once the store is large enough."""
        with self._lock:
            latest = self.store.query("SELECT COALESCE(MAX(seq), 0) FROM versions")[0][0]
            if latest == self._watermark:
                return
            after = self._watermark
            if not self.active:
                live = self.store.query(
                    "SELECT COUNT(*) FROM items WHERE state IN (?, ?, ?)",
                    [str(state) for state in INDEXED_STATES],
                )[0][0]
                if live < self.threshold:
                    self._watermark = latest
                    return
                self.active = True
                after = 0  # every item
            self._apply(self.store.changed_items("rowid, cube, state, search_text", after, latest))
            self._watermark = latest

    def _apply(self, rows: list[Any]) -> None:
        self._statistics = None
        live: list[tuple[int, str]] = []
        for row in rows:
            rowid = int(row["rowid"])
            old = self._position.get(rowid)
            if old is not None:
                self._state[old] = -1  # a changed item gets a fresh position; the old one is dead
            if State(row["state"]) in INDEXED_STATES:
                position = len(self._labels)
                self._labels.append(rowid)
                self._position[rowid] = position
                live.append((position, row["search_text"]))
                self._grow(position + 1)
                self._state[position] = _STATE_CODES[State(row["state"])]
                self._cube[position] = self._cube_codes.setdefault(
                    row["cube"], len(self._cube_codes)
                )
        for start in range(0, len(live), 5000):
            for term, position, count in self._tokenizer.counts(live[start : start + 5000]):
                pending = self._pending.setdefault(term, ([], []))
                pending[0].append(position)
                pending[1].append(float(count))
                self._length[position] += count

    def _grow(self, needed: int) -> None:
        if needed <= len(self._length):
            return
        grow = max(needed, 2 * len(self._length), 1024) - len(self._length)
        self._length = np.concatenate([self._length, np.zeros(grow, dtype=np.float32)])
        self._state = np.concatenate([self._state, np.full(grow, -1, dtype=np.int8)])
        self._cube = np.concatenate([self._cube, np.full(grow, -1, dtype=np.int32)])

    def _term(self, term: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
        pending = self._pending.pop(term, None)
        current = self._postings.get(term)
        if pending is not None:
            positions = np.asarray(pending[0], dtype=np.int64)
            frequencies = np.asarray(pending[1], dtype=np.float32)
            if current is not None:
                positions = np.concatenate([current[0], positions])
                frequencies = np.concatenate([current[1], frequencies])
            current = (positions, frequencies)
            self._postings[term] = current
        return current

    def _collection(self) -> tuple[np.ndarray[Any, Any], int, np.ndarray[Any, Any]]:
        """Which positions are live, how many, and BM25's length normalisation of each
        (k1·(1 - b + b·length/average)); computed once per change of the index, not per query."""
        if self._statistics is None:
            size = len(self._labels)
            alive = np.isin(self._state[:size], _INDEXED_CODES)
            count = int(alive.sum())
            average = (float(self._length[:size][alive].mean()) if count else 0.0) or 1.0
            norm = K1 * (1.0 - B + B * self._length[:size] / average)
            self._statistics = (alive, count, norm)
        return self._statistics

    def search(
        self, query: str, limit: int, *, cubes: set[str] | None, states: tuple[State, ...]
    ) -> list[tuple[int, float]]:
        """BM25 top ``limit`` among indexed items in ``cubes`` (None: all) with those states."""
        self.sync()
        with self._lock:
            words = query_terms(query)
            if not words:
                return []
            alive, count, norm = self._collection()
            if count == 0:
                return []
            terms = sorted({term for term, _, _ in self._tokenizer.counts([(1, " ".join(words))])})
            scores = np.zeros(len(alive), dtype=np.float32)
            for term in terms:
                postings = self._term(term)
                if postings is None:
                    continue
                positions, frequencies = postings
                matches = int(alive[positions].sum())
                if matches == 0:
                    continue
                # FTS5's IDF (fts5_bm25 in fts5_aux.c): log((N - n + 0.5) / (n + 0.5)), floored.
                idf = max(math.log((count - matches + 0.5) / (matches + 0.5)), 1e-6)
                scores[positions] += (
                    idf * frequencies * (K1 + 1.0) / (frequencies + norm[positions])
                )
            # Only the items that scored need the state and cube filters.
            candidates = np.flatnonzero(scores > 0)
            keep = np.isin(self._state[candidates], [_STATE_CODES[state] for state in states])
            if cubes is not None and not cubes.issuperset(self._cube_codes):
                codes = [self._cube_codes[cube] for cube in cubes if cube in self._cube_codes]
                keep &= np.isin(self._cube[candidates], codes)
            candidates = candidates[keep]
            if len(candidates) > limit:
                top = np.argpartition(-scores[candidates], limit)[:limit]
                candidates = candidates[top]
            order = candidates[np.argsort(-scores[candidates], kind="stable")]
            return [(self._labels[p], float(scores[p])) for p in order]
