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

from memos_client.runtime import MemOS  # noqa: E402
from memos_client.runtime.embedding import MiniLMEmbedder  # noqa: E402
from memos_client.runtime.retrieval import Filters  # noqa: E402

NAMES = "Ava Ben Chloe Dan Emma Finn Grace Hugo Iris Jack Kate Liam Maya Noah Olive Paul Rosa Sam Tara Yuri".split()
VERBS = "visited painted repaired booked cooked studied photographed sold borrowed planted cleaned watched organised discussed".split()
THINGS = "the old bicycle|a ceramic vase|the garden shed|a sourdough loaf|the quarterly report|a jazz concert|the mountain cabin|a chess tournament|the kitchen sink|a watercolour portrait|the tomato seedlings|a vintage camera|the science fair|a birthday cake|the hiking trail|a rescue puppy".split("|")
PLACES = "Lisbon|the library|the harbour|Grandma's house|the office|the community centre|Kyoto|the farmers market|the lake|Berlin|the museum|the school gym".split("|")
WHEN = "on Monday|last weekend|in early spring|after the storm|before the holidays|on her birthday|during the heatwave|at dawn|in November|yesterday".split("|")
TAILS = "and it went better than expected|with a few friends|because the forecast was good|though it took hours|and everyone loved it|to raise money for charity|for the first time|despite the rain".split("|")


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


def build(home: Path, size: int, embedder: MiniLMEmbedder) -> dict[str, float]:
    """Make (or reuse) a store of ``size`` memories; returns ingestion numbers when it built one."""
    mem = MemOS(home=home, embedder=embedder)
    have = mem.store.query("SELECT COUNT(*) FROM items")[0][0]
    result: dict[str, float] = {}
    if have < size:
        records = corpus(size)[have:]
        started = time.perf_counter()
        for start in range(0, len(records), 1000):
            mem.add_many(records[start : start + 1000], cube="bench/notes")
        elapsed = time.perf_counter() - started
        result = {"ingested": len(records), "seconds": elapsed, "items_per_s": len(records) / elapsed}
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
    """Alternate the contenders query by query, ``runs`` passes after a warm-up pass."""
    mem = MemOS(home=home, embedder=embedder)
    exact = MemOS(home=home, embedder=embedder, ann_threshold=10**9)
    mem.index.sync()
    exact.index.sync()
    filters = Filters()
    where, parameters = filters.sql(None)
    retriever = mem.retriever

    def search(target: MemOS) -> Any:
        def run(query: str) -> Any:
            target.retriever._query_vectors.clear()  # time the query embedding every time
            return target.search(query, k=10)

        return run

    contenders = {
        "search (hybrid, HNSW)": search(mem),
        "search (hybrid, exact vectors)": search(exact),
        "query embedding alone": lambda q: embedder.embed([q]),
        "lexical (FTS5) alone": lambda q: retriever.lexical(q, 100, where, parameters),
        "semantic (HNSW) alone, precomputed vector": None,
    }
    vectors = {q: embedder.embed([q])[0] for q in queries(count)}
    contenders["semantic (HNSW) alone, precomputed vector"] = lambda q: mem.index.search(
        vectors[q], 100, cubes=None, states=filters.states
    )
    samples: dict[str, list[list[float]]] = {name: [] for name in contenders}
    for run_index in range(runs + 1):
        timings: dict[str, list[float]] = {name: [] for name in contenders}
        for query in queries(count):
            for name, call in contenders.items():
                started = time.perf_counter()
                call(query)
                timings[name].append(time.perf_counter() - started)
        if run_index > 0:  # the first pass is the warm-up
            for name in contenders:
                samples[name].append(timings[name])
    mem.close()
    exact.close()
    return {
        name: {
            "p50_ms": statistics.median(percentile(run, 0.50) for run in runs_),
            "p95_ms": statistics.median(percentile(run, 0.95) for run in runs_),
        }
        for name, runs_ in samples.items()
    }


def main() -> None:
    """Build, measure, print a Markdown table (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--home", type=Path, default=Path("/tmp/memos-bench"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    report: dict[str, Any] = {}
    for size in args.sizes:
        home = args.home / str(size)
        ingest = build(home, size, embedder)
        report[str(size)] = {"ingest": ingest, "latency": measure(home, embedder, args.runs, args.queries)}
        print(json.dumps({size: report[str(size)]}), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for size, entry in report.items():
        print(f"\n{size} memories; ingestion: {entry['ingest']}")
        print("| contender | p50 ms | p95 ms |\n|---|---|---|")
        for name, numbers in entry["latency"].items():
            print(f"| {name} | {numbers['p50_ms']:.2f} | {numbers['p95_ms']:.2f} |")


if __name__ == "__main__":
    main()
