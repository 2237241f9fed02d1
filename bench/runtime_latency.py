"""Query latency (p50/p95, query embedding included) and ingestion throughput of the runtime.

Builds stores of N synthetic memories (deterministic sentences from templates; every text is
embedded for real by all-MiniLM-L6-v2), then times ``MemOS.search`` — query embedding, FTS5 BM25,
vector search, fusion, row fetch, the audit entry and behaviour update — against the same
search with the vector index forced to exact (the alternative HNSW replaces), and the parts
alone. Contenders alternate query by query; each run is a pass over the queries; the table
reports the median over runs of each percentile.

    python3 bench/runtime_latency.py --sizes 10000 100000 --home /tmp/memos-bench

The stores under --home are kept, so a second run skips ingestion (and its embedding).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memos_client.runtime import MemOS
from memos_client.runtime.embedding.minilm import MiniLMEmbedder
from memos_client.runtime.retrieval.filters import Filters

NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Dan",
    "Emma",
    "Finn",
    "Grace",
    "Hugo",
    "Iris",
    "Jack",
    "Kate",
    "Liam",
    "Maya",
    "Noah",
    "Olive",
    "Paul",
    "Rosa",
    "Sam",
    "Tara",
    "Yuri",
]
VERBS = [
    "visited",
    "painted",
    "repaired",
    "booked",
    "cooked",
    "studied",
    "photographed",
    "sold",
    "borrowed",
    "planted",
    "cleaned",
    "watched",
    "organised",
    "discussed",
]
THINGS = [
    "the old bicycle",
    "a ceramic vase",
    "the garden shed",
    "a sourdough loaf",
    "the quarterly report",
    "a jazz concert",
    "the mountain cabin",
    "a chess tournament",
    "the kitchen sink",
    "a watercolour portrait",
    "the tomato seedlings",
    "a vintage camera",
    "the science fair",
    "a birthday cake",
    "the hiking trail",
    "a rescue puppy",
]
PLACES = [
    "Lisbon",
    "the library",
    "the harbour",
    "Grandma's house",
    "the office",
    "the community centre",
    "Kyoto",
    "the farmers market",
    "the lake",
    "Berlin",
    "the museum",
    "the school gym",
]
WHEN = [
    "on Monday",
    "last weekend",
    "in early spring",
    "after the storm",
    "before the holidays",
    "on her birthday",
    "during the heatwave",
    "at dawn",
    "in November",
    "yesterday",
]
TAILS = [
    "and it went better than expected",
    "with a few friends",
    "because the forecast was good",
    "though it took hours",
    "and everyone loved it",
    "to raise money for charity",
    "for the first time",
    "despite the rain",
]


def corpus(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` distinct, deterministic memory records."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        text = (
            f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(THINGS)} at {rng.choice(PLACES)} "
            f"{rng.choice(WHEN)} {rng.choice(TAILS)} (note {index})."
        )
        records.append({"text": text, "tags": [rng.choice(["home", "work", "travel"])]})
    return records


def queries(count: int, seed: int = 11) -> list[str]:
    """Question-like queries over the same vocabulary."""
    rng = random.Random(seed)
    return [
        f"When did {rng.choice(NAMES)} {rng.choice(VERBS).rstrip('ed')} {rng.choice(THINGS)} "
        f"in {rng.choice(PLACES)}?"
        for _ in range(count)
    ]


def derive_vectors(mem: MemOS, records: list[dict[str, Any]], real: int, seed: int = 5) -> None:
    """Cache vectors for ``records[real:]`` derived from the model's vectors of the first ``real``.

    Embedding 100k texts takes this 2-core machine most of an hour, so the largest store reuses
    each real MiniLM vector for several texts, with a small random perturbation (then
    re-normalised) so the HNSW graph sees distinct points. Only the stored item vectors are
    derived: every query is still embedded by the real model, and the timings cover the same
    code. The derived vectors are written under the model's cache key, so use this store for
    timing only.
    """
    import numpy as np

    from memos_client.runtime.store.database import text_digest

    seed_store = mem.home.parent / str(real) / "runtime" / "memos.db"
    if seed_store.exists():  # the smaller store embedded the same first texts: reuse them
        mem.store.query("ATTACH DATABASE ? AS seed", [str(seed_store)])
        with mem.store.write() as connection:
            connection.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM seed.embeddings")
        mem.store.query("DETACH DATABASE seed")
    base = mem.cache.vectors([r["text"] for r in records[:real]])
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(real, len(records)):
        vector = base[index % real] + rng.normal(0.0, 0.02, base.shape[1]).astype(np.float32)
        vector /= np.linalg.norm(vector)
        rows.append((mem.embedder.name, text_digest(records[index]["text"]), vector.tobytes()))
    with mem.store.write() as connection:
        connection.executemany(
            "INSERT OR IGNORE INTO embeddings (embedder, digest, vector) VALUES (?, ?, ?)", rows
        )


def build(home: Path, size: int, embedder: MiniLMEmbedder, real_limit: int) -> dict[str, float]:
    """Make (or reuse) a store of ``size`` memories; returns ingestion numbers when it built one.

    Throughput is measured over the memories whose text the model embeds during ingestion.
    """
    mem = MemOS(home=home, embedder=embedder)
    have = mem.store.query("SELECT COUNT(*) FROM items")[0][0]
    result: dict[str, float] = {}
    if have < size:
        everything = corpus(size)
        records = everything[have:]
        if size > real_limit:
            derive_vectors(mem, everything, real_limit)
        started = time.perf_counter()
        for start in range(0, len(records), 1000):
            mem.add_many(records[start : start + 1000], cube="bench/notes")
        elapsed = time.perf_counter() - started
        embedded = max(0, min(size, real_limit) - have) if size > real_limit else len(records)
        result = {
            "ingested": len(records),
            "seconds": elapsed,
            "items_per_s": len(records) / elapsed,
        }
        if size > real_limit:
            result["vectors_derived"] = size - real_limit
        else:
            result["embedded_items_per_s"] = embedded / elapsed
    started = time.perf_counter()
    mem.index.sync()
    result["index_load_s"] = time.perf_counter() - started
    mem.close()
    return result


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank) of ``values``, in milliseconds."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(home: Path, embedder: MiniLMEmbedder, runs: int, count: int) -> dict[str, Any]:
    """Alternate the contenders query by query, ``runs`` passes after a warm-up pass.

    Wall time and CPU time (``time.process_time``) are both recorded: on a shared machine the
    CPU time of a query is what the code costs, the wall time what a user waited.
    """
    fast = MemOS(home=home, embedder=embedder)
    plain = MemOS(home=home, embedder=embedder, ann_threshold=10**9, lexical_threshold=10**9)
    for runtime in (fast, plain):
        runtime.index.sync()
        assert runtime.retriever.lexical_index is not None
        runtime.retriever.lexical_index.sync()
    filters = Filters()
    where, parameters = filters.sql(None)
    vectors = {q: embedder.embed([q])[0] for q in queries(count)}

    def search(target: MemOS) -> Any:
        def run(query: str) -> Any:
            target.retriever._query_vectors.clear()  # time the query embedding every time
            return target.search(query, k=10)

        return run

    def lexical(target: MemOS) -> Any:
        return lambda q: target.retriever.lexical(q, 100, where, parameters, None, filters)

    def semantic(target: MemOS) -> Any:
        return lambda q: target.index.search(vectors[q], 100, cubes=None, states=filters.states)

    contenders = {
        "search: default (in-memory BM25 from 5k, HNSW from 20k)": search(fast),
        "search: FTS5 bm25() + exact vectors": search(plain),
        "query embedding alone (MiniLM, NumPy)": lambda q: embedder.embed([q]),
        "lexical alone: in-memory BM25": lexical(fast),
        "lexical alone: FTS5 bm25()": lexical(plain),
        "semantic alone: HNSW (vector given)": semantic(fast),
        "semantic alone: exact (vector given)": semantic(plain),
    }
    lexical_index = fast.retriever.lexical_index
    if fast.index._ann is None:  # below the ANN threshold: no graph to time
        contenders.pop("semantic alone: HNSW (vector given)")
    if lexical_index is None or not lexical_index.active:
        contenders.pop("lexical alone: in-memory BM25")
    walls: dict[str, list[list[float]]] = {name: [] for name in contenders}
    cpus: dict[str, list[list[float]]] = {name: [] for name in contenders}
    for run_index in range(runs + 1):
        wall: dict[str, list[float]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        for query in queries(count):
            for name, call in contenders.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                call(query)
                cpu[name].append(time.process_time() - started_cpu)
                wall[name].append(time.perf_counter() - started)
        if run_index > 0:  # the first pass is the warm-up
            for name in contenders:
                walls[name].append(wall[name])
                cpus[name].append(cpu[name])
    fast.close()
    plain.close()
    return {
        name: {
            "p50_ms": statistics.median(percentile(run, 0.50) for run in walls[name]),
            "p95_ms": statistics.median(percentile(run, 0.95) for run in walls[name]),
            "cpu_p50_ms": statistics.median(percentile(run, 0.50) for run in cpus[name]),
            "cpu_p95_ms": statistics.median(percentile(run, 0.95) for run in cpus[name]),
        }
        for name in contenders
    }


def main() -> None:
    """Build, measure, print a Markdown table (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--home", type=Path, default=Path("/tmp/memos-bench"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--real-vectors",
        type=int,
        default=10_000,
        help="above this size, item vectors derive from this many real ones (see derive_vectors)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    report: dict[str, Any] = {}
    for size in args.sizes:
        home = args.home / str(size)
        ingest = build(home, size, embedder, args.real_vectors)
        report[str(size)] = {
            "ingest": ingest,
            "latency": measure(home, embedder, args.runs, args.queries),
        }
        print(json.dumps({size: report[str(size)]}), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for size, entry in report.items():
        print(f"\n{size} memories; ingestion: {entry['ingest']}")
        print("| contender | wall p50 ms | wall p95 ms | CPU p50 ms | CPU p95 ms |")
        print("|---|---|---|---|---|")
        for name, numbers in entry["latency"].items():
            print(
                f"| {name} | {numbers['p50_ms']:.2f} | {numbers['p95_ms']:.2f} "
                f"| {numbers['cpu_p50_ms']:.2f} | {numbers['cpu_p95_ms']:.2f} |"
            )


if __name__ == "__main__":
    main()
