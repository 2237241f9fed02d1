"""Long documents: are facts at their start, middle and end found? Chunkers side by side.

Documents of 5k, 12.6k, 25k and 50k characters are cut from this repository's own Markdown
(spec/, docs/, README, BENCHMARKS); three facts are written into each -- after its first
paragraph, at a paragraph boundary in its middle, and at its end -- and asked for with a
paraphrased question. Each chunker's chunks go into a cube of their own in a MemOS runtime with
the real all-MiniLM-L6-v2 embedder; a fact is found at rank R when the R-th hit is the first that
contains its answer. Chunkers, all bounded to the embedder's 256 word pieces (specials included):

- ``structural``: ``memos_client.ingest.chunking.StructuralSplitter`` (what ``memos`` uses);
- ``structural-no-section``: the same chunks without the heading path in the embedded text
  (an ablation: how much the section label adds);
- ``semchunk``: ``semchunk.chunk`` (recursive splitting on newlines, sentences, words);
- ``chonkie``: chonkie's ``RecursiveChunker`` with its default rules.

Chunking speed is timed separately (no embedding), median of 5 runs over all documents, and
given as a ratio to the structural splitter.

    python3 bench/document_chunking.py [--json]
    python3 bench/document_chunking.py --cli    # also checks `memos query` (rank <= 3) per fact
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memos_client.ingest.chunk_records import chunk_records  # noqa: E402
from memos_client.ingest.chunking import StructuralSplitter  # noqa: E402
from memos_client.ingest.documents import Document, parse_document  # noqa: E402
from memos_client.ingest.tokens import EMBEDDER_MAX_TOKENS, embedder_tokens  # noqa: E402

SIZES = (5_000, 12_600, 25_000, 50_000)
SOURCES = ("spec/MIP-1.md", "spec/MIP-1-registry.md", "BENCHMARKS.md", "docs/runtime.md", "README.md", "docs/activation-memory.md")  # fmt: skip
FACTS = [
    ("The maintenance password for the Zephyr relay is cobalt-7741.", "What is the maintenance password of the Zephyr relay?", "cobalt-7741"),
    ("Our courier Marta only delivers parcels on Wednesdays.", "On which day does Marta deliver?", "Wednesdays"),
    ("The staging cluster is hosted in the Frankfurt data centre.", "Where is the staging cluster hosted?", "Frankfurt"),
    ("Invoices above 5000 euros need approval from two directors.", "Who must approve large invoices?", "two directors"),
    ("The office plants are watered every Friday by Jonas.", "Who takes care of watering the plants?", "Jonas"),
    ("The emergency generator runs on diesel and lasts 36 hours.", "How long can the backup generator run?", "36 hours"),
    ("Team lunches are always booked at the Blue Lantern restaurant.", "Which restaurant do we book for team lunches?", "Blue Lantern"),
    ("The legacy billing service is written in COBOL.", "What programming language is the old billing system in?", "COBOL"),
    ("Visitors must sign the guest book at the east entrance.", "Where do visitors sign in?", "east entrance"),
    ("The quarterly offsite takes place in Lisbon this year.", "Where is this year's offsite?", "Lisbon"),
    ("Backups are copied to tape every Sunday at 2 am.", "When are the backups written to tape?", "Sunday at 2 am"),
    ("The mascot of the platform team is a red panda named Miso.", "What animal is the platform team's mascot?", "red panda"),
]  # fmt: skip


def documents() -> list[tuple[str, str, list[tuple[str, str, str, str]]]]:
    """``(name, markdown, [(position, fact, question, answer)])`` for every size and source."""
    result = []
    index = 0
    for size in SIZES:
        for source in SOURCES:
            text = (REPO / source).read_text("utf-8")
            while len(text) < size:
                text += "\n\n" + text
            body = text[: text.rfind("\n\n", 0, size)]
            first = body.find("\n\n") + 2
            middle = body.rfind("\n\n", 0, len(body) // 2) + 2
            planted = []
            pieces = [body[:first]]
            for position, cut in (("start", first), ("middle", middle)):
                fact, question, answer = FACTS[index % len(FACTS)]
                index += 1
                planted.append((position, fact, question, answer))
                end = middle if position == "start" else len(body)
                pieces.append(fact + "\n\n" + body[cut:end])
            fact, question, answer = FACTS[index % len(FACTS)]
            index += 1
            planted.append(("end", fact, question, answer))
            markdown = "".join(pieces) + "\n\n" + fact + "\n"
            result.append((f"{Path(source).stem}-{size}", markdown, planted))
    return result


Chunker = Callable[[Document], list[dict[str, Any]]]


def make_chunkers() -> dict[str, Chunker]:
    import semchunk
    from chonkie import RecursiveChunker

    counter = embedder_tokens()
    structural = StructuralSplitter(counter)
    content_budget = EMBEDDER_MAX_TOKENS - counter.specials

    def count_content(text: str) -> int:
        return counter.count(text) - counter.specials

    # A callable is chonkie's token-counter interface.
    chonkie = RecursiveChunker(tokenizer=count_content, chunk_size=content_budget)

    def run_structural(document: Document) -> list[dict[str, Any]]:
        return chunk_records(document, structural.split(document), stamp="2026-01-01T00:00:00Z")

    def run_no_section(document: Document) -> list[dict[str, Any]]:
        records = run_structural(document)
        for record in records:
            record["metadata"].pop("section", None)
        return records

    def plain(texts: list[str]) -> list[dict[str, Any]]:
        return [
            {"id": f"c{i}", "text": t, "metadata": {}} for i, t in enumerate(texts) if t.strip()
        ]

    def run_semchunk(document: Document) -> list[dict[str, Any]]:
        return plain(semchunk.chunk(document.text, content_budget, count_content))  # type: ignore[arg-type]

    def run_chonkie(document: Document) -> list[dict[str, Any]]:
        return plain([chunk.text for chunk in chonkie.chunk(document.text)])

    return {
        "structural": run_structural,
        "structural-no-section": run_no_section,
        "semchunk": run_semchunk,
        "chonkie": run_chonkie,
    }


def quality(chunkers: dict[str, Chunker], corpus: list[Any]) -> dict[str, dict[str, Any]]:
    from memos_client.runtime import MemOS
    from memos_client.runtime.embedding.minilm import MiniLMEmbedder

    counter = embedder_tokens()
    mem = MemOS(home=tempfile.mkdtemp(prefix="chunking-"), embedder=MiniLMEmbedder())
    results: dict[str, dict[str, Any]] = {}
    for name, chunker in chunkers.items():
        ranks: dict[str, list[int]] = {"start": [], "middle": [], "end": []}
        chunks = over = 0
        for doc_index, (doc_name, markdown, planted) in enumerate(corpus):
            document = parse_document(markdown.encode(), f"{doc_name}.md", "text/markdown")
            records = chunker(document)
            chunks += len(records)
            over += sum(counter.count(r["text"]) > EMBEDDER_MAX_TOKENS for r in records)
            cube = f"bench/{name}-{doc_index}"
            mem.upsert(records, cube=cube)
            for position, _fact, question, answer in planted:
                hits = mem.search(question, k=10, cube=cube, touch=False)
                rank = next((i for i, h in enumerate(hits, 1) if answer in h.item.text), 0)
                ranks[position].append(rank)
        every = [r for values in ranks.values() for r in values]
        results[name] = {
            "chunks": chunks,
            "over_bound": over,
            "recall@1": sum(r == 1 for r in every) / len(every),
            "recall@3": sum(1 <= r <= 3 for r in every) / len(every),
            "mrr": sum(1 / r for r in every if r) / len(every),
            "by_position@3": {p: sum(1 <= r <= 3 for r in v) / len(v) for p, v in ranks.items()},
            "missed": sum(r == 0 for r in every),
        }
    mem.close()
    return results


def speed(chunkers: dict[str, Chunker], corpus: list[Any], runs: int = 5) -> dict[str, float]:
    parsed = [parse_document(m.encode(), f"{n}.md", "text/markdown") for n, m, _ in corpus]
    characters = sum(len(d.text) for d in parsed)
    timings: dict[str, list[float]] = {name: [] for name in chunkers}
    for chunker in chunkers.values():  # warm-up (tokenizer, caches)
        chunker(parsed[0])
    for _ in range(runs):
        for name, chunker in chunkers.items():  # alternated: A B C A B C ...
            started = time.perf_counter()
            for document in parsed:
                chunker(document)
            timings[name].append(time.perf_counter() - started)
    return {name: characters / statistics.median(values) for name, values in timings.items()}


def cli_check(corpus: list[Any]) -> dict[str, Any]:
    """`memos add --file` + `memos query -k 3` per fact, in fresh processes (the user's path)."""
    found = total = 0
    with tempfile.TemporaryDirectory() as work:
        env = {
            "PYTHONPATH": str(REPO),
            "MEMOS_HOME": f"{work}/home",
            "HF_HUB_OFFLINE": "1",
            "PATH": "/usr/bin:/bin",
        }
        for index, (name, markdown, planted) in enumerate(corpus):
            path = Path(work) / f"{name}.md"
            path.write_text(markdown)
            cube = f"bench/doc{index}"
            subprocess.run([sys.executable, "-m", "memos_client", "add", "--file", str(path), "--cube", cube], env=env, check=True, capture_output=True)  # fmt: skip
            for _position, _fact, question, answer in planted:
                out = subprocess.run([sys.executable, "-m", "memos_client", "query", question, "--cube", cube, "-k", "3", "--json"], env=env, check=True, capture_output=True, text=True)  # fmt: skip
                total += 1
                found += any(answer in hit["item"]["text"] for hit in json.loads(out.stdout))
    return {"memos query rank<=3": found / total, "facts": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cli", action="store_true", help="also check with `memos query`")
    args = parser.parse_args()
    corpus = documents()
    chunkers = make_chunkers()
    speeds = speed(chunkers, corpus)
    results = quality(chunkers, corpus)
    report: dict[str, Any] = {"documents": len(corpus), "facts": 3 * len(corpus), "chunkers": {}}
    for name in chunkers:
        report["chunkers"][name] = {**results[name], "chars_per_s": speeds[name]}
    if args.cli:
        report["cli"] = cli_check(corpus)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    import importlib.metadata as md

    print(
        f"{report['documents']} documents (5k-50k chars), {report['facts']} facts; semchunk {md.version('semchunk')}, chonkie {md.version('chonkie')}"
    )
    print("| chunker | chunks | over 256 | recall@1 | recall@3 (start/middle/end) | MRR | missed | chunking MB/s | speed vs structural |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    base = speeds["structural"]
    for name, row in report["chunkers"].items():
        by = row["by_position@3"]
        print(
            f"| {name} | {row['chunks']} | {row['over_bound']} | {row['recall@1']:.3f} | "
            f"{row['recall@3']:.3f} ({by['start']:.2f}/{by['middle']:.2f}/{by['end']:.2f}) | "
            f"{row['mrr']:.3f} | {row['missed']} | {row['chars_per_s'] / 1e6:.2f} | "
            f"{row['chars_per_s'] / base:.2f}x |"
        )
    if args.cli:
        print(f"memos query (fresh processes): {report['cli']}")


if __name__ == "__main__":
    main()
