"""Ingestion throughput: documents (MB/s, chunks/s) and LoCoMo as chat messages (turns/s).

Documents: this repository's Markdown (spec/, docs/, README, BENCHMARKS), repeated to about 2 MB,
added with ``memos_client.ingest.adding.add_documents`` (read, chunk, upsert) into a fresh runtime
with the real all-MiniLM-L6-v2 embedder. Its anchor is the physical floor measured in the same
run: embedding the very same chunk texts with the same embedder and nothing else. The ratio says
what reading, chunking and writing cost on top of the model. Chunking alone is timed too.

Messages: the LoCoMo dev split (5 conversations, 2,760 turns) through ``MemOS.add_messages``,
against the records path the LoCoMo benchmark uses (``install_cube`` of the same turns), each
into a fresh runtime sharing one embedder whose cache is cleared between runs.

Medians of ``--runs`` (default 3) alternated runs after a warm-up.

    python3 bench/ingest_throughput.py [--megabytes 2] [--conversations 5] [--runs 3]
        [--locomo /work/shared/data/locomo-dev/locomo-dev.json]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from memos_client.ingest.adding import add_documents  # noqa: E402
from memos_client.ingest.chunk_records import file_records  # noqa: E402
from memos_client.ingest.tokens import embedder_tokens  # noqa: E402
from memos_client.runtime import MemOS  # noqa: E402
from memos_client.runtime.embedding.minilm import MiniLMEmbedder  # noqa: E402
from memos_client.runtime.store.indexed_text import embedding_text  # noqa: E402

SOURCES = ["spec/MIP-1.md", "spec/MIP-1-registry.md", "BENCHMARKS.md", "README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md"))]  # fmt: skip


def corpus(directory: Path, target: int = 2_000_000) -> list[Path]:
    """Copies of the repository's Markdown (each copy a distinct file) up to ``target`` bytes."""
    paths, size, copy = [], 0, 0
    while size < target:
        for source in SOURCES:
            text = (REPO / source).read_text("utf-8")
            path = directory / f"copy{copy}" / source.replace("/", "_")
            path.parent.mkdir(parents=True, exist_ok=True)
            # A word naming the copy at the end of every block keeps chunk texts distinct (no
            # embedding cache hits) and the Markdown structure as it was.
            path.write_text(text.replace("\n\n", f" c{copy}\n\n"))
            paths.append(path)
            size += path.stat().st_size
        copy += 1
    return paths


def documents(runs: int, megabytes_wanted: float) -> dict[str, Any]:
    embedder = MiniLMEmbedder()
    counter = embedder_tokens()
    with tempfile.TemporaryDirectory() as work:
        paths = corpus(Path(work) / "docs", int(megabytes_wanted * 1e6))
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        records = [
            r for p in paths for r in file_records(p, p.name, counter, stamp="2026-01-01T00:00:00Z")
        ]
        texts = [embedding_text(r["text"], r["metadata"]) for r in records]
        embedder.embed(texts[:64])  # warm-up: weights loaded
        chunking, floor, full = [], [], []
        for run in range(runs):
            started = time.perf_counter()
            for path in paths:
                file_records(path, path.name, counter, stamp="2026-01-01T00:00:00Z")
            chunking.append(time.perf_counter() - started)
            started = time.perf_counter()
            embedder.embed(texts)
            floor.append(time.perf_counter() - started)
            mem = MemOS(home=Path(work) / f"home{run}", embedder=embedder)
            started = time.perf_counter()
            add_documents(mem, paths, cube="bench/docs", tags=[])
            full.append(time.perf_counter() - started)
            mem.close()
    chunks = len(records)
    return {
        "files": len(paths),
        "megabytes": round(megabytes, 2),
        "chunks": chunks,
        "chunking_only": {
            "s": statistics.median(chunking),
            "MB/s": megabytes / statistics.median(chunking),
        },
        "embedding_floor": {
            "s": statistics.median(floor),
            "chunks/s": chunks / statistics.median(floor),
        },
        "add_documents": {
            "s": statistics.median(full),
            "MB/s": megabytes / statistics.median(full),
            "chunks/s": chunks / statistics.median(full),
        },
        "ratio_to_floor": statistics.median(full) / statistics.median(floor),
    }


def messages(data_path: Path, runs: int, conversations: int) -> dict[str, Any]:
    from locomo_retrieval import sessions, turns

    data = json.loads(data_path.read_text())[:conversations]
    count = sum(len(turns(sample)) for sample in data)
    embedder = MiniLMEmbedder()
    embedder.embed(["warm-up"])
    timings: dict[str, list[float]] = {"add_messages": [], "install_cube (records)": []}
    with tempfile.TemporaryDirectory() as work:
        for run in range(runs):
            for path in timings:
                mem = MemOS(
                    home=Path(work) / f"{run}-{len(timings[path])}-{path[:3]}", embedder=embedder
                )
                started = time.perf_counter()
                for sample in data:
                    cube = f"locomo/{sample['sample_id']}"
                    if path == "add_messages":
                        mem.add_messages(sessions(sample), cube=cube)
                    else:
                        mem.install_cube(cube, "1.0.0", "sha256:" + "0" * 64, turns(sample))
                timings[path].append(time.perf_counter() - started)
                mem.close()
    medians = {path: statistics.median(values) for path, values in timings.items()}
    return {
        "turns": count,
        **{path: {"s": s, "turns/s": count / s} for path, s in medians.items()},
        "ratio": medians["add_messages"] / medians["install_cube (records)"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--locomo", type=Path, default=Path("/work/shared/data/locomo-dev/locomo-dev.json")
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--megabytes", type=float, default=2.0, help="document corpus size")
    parser.add_argument("--conversations", type=int, default=5, help="LoCoMo conversations")
    args = parser.parse_args()
    # Each part is printed when done: a long run on a busy machine still shows what it measured.
    print(json.dumps({"documents": documents(args.runs, args.megabytes)}, indent=2), flush=True)
    if args.locomo.is_file():
        report = messages(args.locomo, args.runs, args.conversations)
        print(json.dumps({"locomo_messages": report}, indent=2), flush=True)


if __name__ == "__main__":
    main()
