"""`memos import` of large files: a 10k-memory MemOS dump and a Letta file with 1k passages.

Each import runs as a user runs it -- ``python -m memos_client import FILE`` in a fresh process
with a fresh ``MEMOS_HOME`` -- and its wall time (start-up included) and peak resident memory
(``wait4`` rusage) are recorded. The anchor, measured alternately in the same run, is the same
memories as a flat JSONL file (``{text, tags, metadata}`` per line) imported the same way: the
ratio is what reading the foreign format costs on top of writing the memories.

Embedding is the hashing embedder (``MEMOS_EMBEDDER=hashing``), so the numbers are those of the
import itself; MiniLM's embedding rate is in ``bench/ingest_throughput.py``.

    python3 bench/import_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORDS = [
    "river",
    "mountain",
    "budget",
    "invoice",
    "cat",
    "piano",
    "garden",
    "train",
    "lisbon",
    "coffee",
    "meeting",
    "report",
]


def sentence(index: int) -> str:
    words = [WORDS[(index * 7 + k * 3) % len(WORDS)] for k in range(12)]
    return f"Memory {index}: " + " ".join(words) + f" on day {index % 365}."


def memos_dump(directory: Path, count: int) -> Path:
    """A naive_text MemOS cube directory of ``count`` memories, in MemOS's dump format."""
    directory.mkdir(parents=True)
    items = []
    for index in range(count):
        items.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"memos/{index}")),
                "memory": sentence(index),
                "metadata": {
                    "user_id": "u1", "session_id": f"s{index % 50}", "status": "activated",
                    "is_fast": None, "evolve_to": [], "version": 1, "history": [],
                    "working_binding": None, "type": "fact", "key": None, "confidence": 0.8,
                    "source": "conversation", "tags": [WORDS[index % len(WORDS)]],
                    "visibility": None, "updated_at": "2026-01-01T00:00:00.000001", "info": None,
                    "covered_history": None,
                },
            }
        )  # fmt: skip
    (directory / "textual_memory.json").write_text(json.dumps(items, indent=4))
    config = {"model_schema": "memos.configs.mem_cube.GeneralMemCubeConfig", "user_id": "u1", "cube_id": "bench/memos", "text_mem": {"backend": "naive_text", "config": {"memory_filename": "textual_memory.json"}}}  # fmt: skip
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def letta_file(path: Path, passages: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.interop.formats import letta_v2

    document = letta_v2(passages=0)
    document["passages"] = [
        {"id": f"passage-{i}", "text": sentence(i), "tags": ["archival"], "created_at": "2025-09-01T00:00:00+00:00", "archive_id": "archive-0", "metadata": {}, "embedding": None, "is_deleted": False}
        for i in range(passages)
    ]  # fmt: skip
    path.write_text(json.dumps(document))
    return path


def flat(path: Path, texts: list[str]) -> Path:
    path.write_text(
        "".join(json.dumps({"text": t, "tags": ["x"], "metadata": {}}) + "\n" for t in texts)
    )
    return path


def timed_import(source: Path, home: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `memos import` process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MEMOS_HOME": str(home), "MEMOS_EMBEDDER": "hashing", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "memos_client", "import", str(source), "--cube", "bench/x"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"import of {source} failed: {process.stderr.read().decode() if process.stderr else ''}")  # fmt: skip
    return elapsed, usage.ru_maxrss / 1024


def compare(name: str, source: Path, anchor: Path, runs: int, work: Path) -> dict[str, Any]:
    results: dict[str, list[tuple[float, float]]] = {name: [], "jsonl anchor": []}
    timed_import(anchor, work / "warm")  # warm-up: page cache, bytecode
    for run in range(runs):
        for label, path in ((name, source), ("jsonl anchor", anchor)):
            results[label].append(timed_import(path, work / f"{label[:5]}-{run}"))
    summary = {
        label: {
            "s": statistics.median(t for t, _ in values),
            "peak_MB": statistics.median(m for _, m in values),
        }
        for label, values in results.items()
    }
    summary["ratio"] = summary[name]["s"] / summary["jsonl anchor"]["s"]  # type: ignore[assignment]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--passages", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        dump = memos_dump(work / "memos-cube", args.memories)
        letta = letta_file(work / "agent.af", args.passages)
        report = {
            "memos_dump": {
                "memories": args.memories,
                "bytes": (dump / "textual_memory.json").stat().st_size,
                **compare("memos import (MemOS dir)", dump, flat(work / "m.jsonl", [sentence(i) for i in range(args.memories)]), args.runs, work),
            },
            "letta_af": {
                "passages": args.passages,
                "bytes": letta.stat().st_size,
                **compare("memos import (.af)", letta, flat(work / "l.jsonl", [sentence(i) for i in range(args.passages)]), args.runs, work),
            },
        }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
