"""Hybrid retrieval: lexical (BM25) + semantic (vectors) under symbolic filters, fused.

Symbolic filters (cube, state, tags, time range, metadata fields, expiry) are SQL predicates on
``items``: the lexical retriever applies them inside its FTS5 query, the semantic one restricts
its vector search to the rows that pass them, so a filter never costs recall. Fusion (ADR 0004)
divides each retriever's scores by its best candidate's and adds them with weights (0.7 lexical,
0.3 semantic by default), then scales the result by the best absolute cosine similarity, so a
score says how relevant a hit is, not only how it ranks (ADR 0021); reciprocal rank fusion
(Cormack et al., SIGIR 2009) is an option.

Conversations are more than single lines: an answer often spans a question and its reply. The
``context`` step gives the neighbours (same ``metadata.session``, adjacent ``metadata.turn``) of
the best fused hits a share of their score, so a turn next to a strong hit can enter the results.
"""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import msgspec

from memos_client.runtime.embedding.minilm import Embedder, Vectors
from memos_client.runtime.memory_types import Hit
from memos_client.runtime.retrieval.filters import Filters
from memos_client.runtime.retrieval.lexical import match_expression
from memos_client.runtime.retrieval.lexical_index import LexicalIndex
from memos_client.runtime.retrieval.vector_index import VectorIndex
from memos_client.runtime.store.database import Store, in_chunks, item_from_row

RRF_K = 60


class RetrievalSettings(msgspec.Struct, frozen=True):
    """Knobs of the fusion; the defaults are what ``bench/locomo_retrieval.py`` supports.

    ``fusion="score"`` (default) divides each retriever's scores by its best candidate's and
    adds them with the weights; ``fusion="rrf"`` is reciprocal rank fusion. ``context_weight``
    gives the conversational neighbours of the ``context_seeds`` best hits that share of their
    score (0 switches it off).
    """

    retrievers: tuple[str, ...] = ("lexical", "semantic")
    fusion: str = "score"
    pool: int = 50
    lexical_weight: float = 0.7
    semantic_weight: float = 0.3
    context_weight: float = 0.3
    context_seeds: int = 10


def fuse(
    rankings: dict[str, list[tuple[int, float]]],
    weights: dict[str, float],
    method: str,
) -> tuple[dict[int, float], dict[int, dict[str, int]]]:
    """Fused scores and per-retriever ranks (1-based) of every candidate."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ranking in rankings.items():
        if not ranking:
            continue
        weight = weights.get(name, 1.0)
        best = max(score for _, score in ranking)
        for rank, (rowid, score) in enumerate(ranking, start=1):
            if method == "rrf":
                contribution = weight / (RRF_K + rank)
            else:
                # Relative to the retriever's best candidate (BM25 and cosine here are both >= 0
                # for anything worth returning). Unlike min-max scaling, near-ties stay ties in a
                # small store instead of being stretched to 1 and 0.
                contribution = weight * (max(score, 0.0) / best if best > 0 else 1.0)
            scores[rowid] = scores.get(rowid, 0.0) + contribution
            ranks.setdefault(rowid, {})[name] = rank
    return scores, ranks


class Retriever:
    """Runs the retrievers and fuses their rankings."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        index: VectorIndex,
        settings: RetrievalSettings | None = None,
        lexical_index: LexicalIndex | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.index = index
        self.lexical_index = lexical_index
        self.settings = settings or RetrievalSettings()
        self._query_vectors: dict[str, Vectors] = {}
        self._worker: ThreadPoolExecutor | None = None

    def query_vector(self, query: str) -> Vectors:
        """The query's embedding (a small in-process cache: agents repeat queries)."""
        vector = self._query_vectors.get(query)
        if vector is None:
            vector = self.embedder.embed([query])[0]
            if len(self._query_vectors) >= 256:
                self._query_vectors.pop(next(iter(self._query_vectors)))
            self._query_vectors[query] = vector
        return vector

    def lexical(
        self,
        query: str,
        limit: int,
        where: str,
        parameters: list[Any],
        cubes: set[str] | None = None,
        filters: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 ranking over the rows passing the filters: the in-memory index of a large store
        when only cube and state filters apply, else FTS5."""
        index = self.lexical_index
        if index is not None and (filters is None or not filters.narrows()):
            index.sync()
            if index.active:
                states = filters.states if filters is not None else Filters().states
                return index.search(query, limit, cubes=cubes, states=states)
        expression = match_expression(query)
        if expression is None:
            return []
        rows = self.store.query(
            "SELECT f.rowid, bm25(items_fts) AS score FROM items_fts AS f "  # noqa: S608  (clauses are ours)
            f"JOIN items AS i NOT INDEXED ON i.rowid = f.rowid WHERE items_fts MATCH ? AND {where} "
            "ORDER BY score LIMIT ?",
            [expression, *parameters, limit],
        )
        return [(int(row[0]), -float(row[1])) for row in rows]

    def semantic(
        self,
        query: str,
        limit: int,
        cubes: set[str] | None,
        filters: Filters,
        where: str,
        parameters: list[Any],
        vector: Vectors | None = None,
    ) -> list[tuple[int, float]]:
        """Nearest items by cosine similarity among the rows passing the filters."""
        if vector is None:
            vector = self.query_vector(query)
        only: set[int] | None = None
        if filters.narrows():
            rows = self.store.query(f"SELECT i.rowid FROM items AS i WHERE {where}", parameters)  # noqa: S608
            only = {int(row[0]) for row in rows}
        return self.index.search(vector, limit, cubes=cubes, states=filters.states, only=only)

    def search(self, query: str, k: int, cubes: set[str] | None, filters: Filters) -> list[Hit]:
        """The top ``k`` items for ``query``, fused from every retriever."""
        if cubes is not None and not cubes:
            return []
        settings = self.settings
        pool = max(settings.pool, k)
        where, parameters = filters.sql(cubes)
        rankings: dict[str, list[tuple[int, float]]] = {}
        pending: Future[Vectors] | None = None
        if "semantic" in settings.retrievers and "lexical" in settings.retrievers:
            # Embed the query on a second thread while BM25 runs: NumPy's GEMMs and SQLite both
            # release the GIL, so on two cores the lexical work hides behind the embedding.
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
            pending = self._worker.submit(self.query_vector, query)
        if "lexical" in settings.retrievers:
            rankings["lexical"] = self.lexical(query, pool, where, parameters, cubes, filters)
        if "semantic" in settings.retrievers:
            vector = pending.result() if pending is not None else None
            rankings["semantic"] = self.semantic(
                query, pool, cubes, filters, where, parameters, vector
            )
        weights = {"lexical": settings.lexical_weight, "semantic": settings.semantic_weight}
        scores, ranks = fuse(rankings, weights, settings.fusion)
        semantic = rankings.get("semantic")
        if settings.fusion == "score" and semantic:
            # Calibration: fusion divides each retriever by its best candidate, so the best hit
            # would score the same whether it is relevant or not. Scaling every fused score by
            # the best absolute cosine similarity keeps the order and makes "nothing relevant"
            # visible: a semantic-only hit scores semantic_weight x its cosine similarity.
            scale = max(0.0, min(1.0, max(score for _, score in semantic)))
            scores = {rowid: score * scale for rowid, score in scores.items()}
        # One snapshot for every row read below. Candidates are filtered (and the context step
        # reads their position in a conversation) on a few columns; whole rows are read for the
        # ``k`` results only.
        with self.store.read() as connection:
            rows = self._rows(connection, list(scores), where, parameters)
            if settings.context_weight > 0:
                self._add_context(connection, scores, ranks, rows, where, parameters)
            ordered = sorted((rowid for rowid in scores if rowid in rows), key=lambda r: -scores[r])
            chosen = ordered[:k]
            marks = ",".join("?" * len(chosen))
            items = {
                int(row["rowid"]): item_from_row(row)
                for row in connection.execute(
                    f"SELECT rowid, * FROM items WHERE rowid IN ({marks})",  # noqa: S608
                    chosen,
                )
            }
        return [Hit(item=items[rowid], score=scores[rowid], ranks=ranks[rowid]) for rowid in chosen]

    def _rows(
        self, connection: sqlite3.Connection, rowids: list[int], where: str, parameters: list[Any]
    ) -> dict[int, Any]:
        """``rowid -> (rowid, cube, metadata)`` of the candidates passing the filters."""
        rows: dict[int, Any] = {}
        for chunk, marks in in_chunks(rowids):
            for row in connection.execute(
                # NOT INDEXED: look the rows up by rowid; left to itself SQLite may scan a whole
                # cube through the (cube, state) index instead.
                "SELECT i.rowid AS rowid, i.cube AS cube, i.metadata AS metadata "  # noqa: S608
                f"FROM items AS i NOT INDEXED WHERE i.rowid IN ({marks}) AND {where}",
                [*chunk, *parameters],
            ):
                rows[int(row["rowid"])] = row
        return rows

    def _add_context(
        self,
        connection: sqlite3.Connection,
        scores: dict[int, float],
        ranks: dict[int, dict[str, int]],
        rows: dict[int, Any],
        where: str,
        parameters: list[Any],
    ) -> None:
        """Give the conversational neighbours of the best hits a share of their score."""
        settings = self.settings
        seeds = sorted((r for r in scores if r in rows), key=lambda r: -scores[r])
        bonus: dict[tuple[str, Any, int], float] = {}
        for rowid in seeds[: settings.context_seeds]:
            metadata = json.loads(rows[rowid]["metadata"])
            session, turn = metadata.get("session"), metadata.get("turn")
            if session is None or not isinstance(turn, int) or isinstance(turn, bool):
                continue
            for neighbour in (turn - 1, turn + 1):
                key = (rows[rowid]["cube"], session, neighbour)
                bonus[key] = max(bonus.get(key, 0.0), settings.context_weight * scores[rowid])
        groups: dict[tuple[str, Any], list[int]] = {}
        for cube, session, turn in bonus:
            groups.setdefault((cube, session), []).append(turn)
        for (cube, session), turns in groups.items():
            found = connection.execute(
                "SELECT i.rowid AS rowid, i.cube AS cube, i.metadata AS metadata "  # noqa: S608
                "FROM items AS i WHERE i.cube = ? AND json_extract(i.metadata, '$.session') = ? "
                f"AND json_extract(i.metadata, '$.turn') IN ({','.join('?' * len(turns))}) "
                f"AND {where}",
                [cube, session, *turns, *parameters],
            ).fetchall()
            for row in found:
                rowid = int(row["rowid"])
                turn = json.loads(row["metadata"])["turn"]
                rows[rowid] = row
                scores[rowid] = scores.get(rowid, 0.0) + bonus[(cube, session, turn)]
                ranks.setdefault(rowid, {}).setdefault("context", 1)
