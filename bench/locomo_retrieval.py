"""LoCoMo evidence recall@K of the runtime's lexical, semantic and hybrid retrieval (no LLM).

Each turn of a conversation becomes one memory (its text, plus the image caption the dataset
gives for shared photos) in a cube of its own, with speaker, session number, turn number and
session date as metadata. Every question of categories 1-4 is asked against its conversation's
cube; recall@K is the share of its evidence turns among the top K results, averaged over
questions, per category and overall.

    python3 bench/locomo_retrieval.py /work/shared/data/locomo-dev/locomo-dev.json
    python3 bench/locomo_retrieval.py DATA --ingest messages --mode default

``--ingest messages`` feeds the raw sessions through the chat-messages path instead
(``MemOS.add_messages``: one memory per turn, speaker/session/turn/time metadata made by
``memos_client.ingest.messages``), the way ``memos add --messages`` does; evidence is matched by
the message id each turn carries (its ``dia_id``).

The data stays where it is (CC BY-NC 4.0, never copied into the repository). Embeddings are
cached in the store under --home, so a second run skips embedding.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memos_client.runtime import MemOS, RetrievalSettings
from memos_client.runtime.embedding.minilm import MiniLMEmbedder

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10, 20)
_SESSION = re.compile(r"session_(\d+)$")


def _sessions_of(sample: dict[str, Any]) -> Iterator[tuple[int, str, list[dict[str, Any]]]]:
    """Each session of one conversation: its number, its date and its turns."""
    conversation = sample["conversation"]
    for key, value in conversation.items():
        match = _SESSION.match(key)
        if not match or not isinstance(value, list):
            continue
        number = int(match.group(1))
        yield number, conversation.get(f"session_{number}_date_time", ""), value


def _text(turn: dict[str, Any]) -> str:
    """A turn's words, with the caption of the image it shares."""
    text: str = turn["text"]
    if turn.get("blip_caption"):
        text = f"{text} [shares {turn['blip_caption']}]"
    return text


def turns(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The memory records of one conversation."""
    records = []
    for session, date, value in _sessions_of(sample):
        for position, turn in enumerate(value):
            records.append(
                {
                    "id": f"{sample['sample_id']}-{turn['dia_id']}".replace(":", "-"),
                    "text": _text(turn),
                    "metadata": {
                        "speaker": turn["speaker"],
                        "session": session,
                        "turn": position,
                        "date": date,
                        "dia_id": turn["dia_id"],
                    },
                }
            )
    return records


def sessions(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """One conversation as chat sessions (``{"session", "date", "messages"}``), as a chat tool
    would export it: each turn a message named after its speaker, carrying its ``dia_id``."""
    result = []
    for number, date, value in _sessions_of(sample):
        messages = [
            {"role": "user", "name": turn["speaker"], "content": _text(turn), "id": turn["dia_id"]}
            for turn in value
        ]
        result.append({"session": number, "date": date, "messages": messages})
    return result


def evaluate(
    mem: MemOS, data: list[dict[str, Any]], mode: str, id_key: str = "dia_id"
) -> dict[str, Any]:
    """Recall@K per category for one retrieval configuration."""
    sums: dict[str, dict[int, float]] = {}
    counts: dict[str, int] = {}
    latencies = []
    for sample in data:
        cube = f"locomo/{sample['sample_id']}"
        for qa in sample["qa"]:
            category = CATEGORIES.get(qa.get("category", 0))
            evidence = {e.strip() for e in qa.get("evidence", []) if isinstance(e, str)}
            if category is None or not evidence:
                continue
            started = time.perf_counter()
            hits = mem.search(str(qa["question"]), k=max(KS), cube=cube, touch=False)
            latencies.append(time.perf_counter() - started)
            found = [hit.item.metadata.get(id_key) for hit in hits]
            for name in (category, "overall"):
                counts[name] = counts.get(name, 0) + 1
                bucket = sums.setdefault(name, dict.fromkeys(KS, 0.0))
                for k in KS:
                    bucket[k] += len(evidence & set(found[:k])) / len(evidence)
    latencies.sort()
    return {
        "mode": mode,
        "recall": {
            name: {k: bucket[k] / counts[name] for k in KS} for name, bucket in sums.items()
        },
        "questions": counts,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
    }


MODES = {
    "lexical (FTS5 BM25)": RetrievalSettings(retrievers=("lexical",), context_weight=0.0),
    "semantic (MiniLM)": RetrievalSettings(retrievers=("semantic",), context_weight=0.0),
    "hybrid, plain RRF": RetrievalSettings(fusion="rrf", context_weight=0.0),
    "hybrid, score fusion": RetrievalSettings(context_weight=0.0),
    "hybrid (default: score fusion + context)": RetrievalSettings(),
}


def main() -> None:
    """Run every mode and print a Markdown table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="path to locomo10.json or the dev split")
    parser.add_argument("--home", type=Path, default=None, help="store directory (kept)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--ingest",
        choices=("records", "messages"),
        default="records",
        help="records: one record per turn (install_cube); messages: MemOS.add_messages",
    )
    parser.add_argument(
        "--mode",
        choices=("all", "default"),
        default="all",
        help="all retrieval configurations, or only the runtime's default",
    )
    args = parser.parse_args()
    data = json.loads(args.data.read_text())
    home = args.home or Path(tempfile.mkdtemp(prefix="locomo-"))
    embedder = MiniLMEmbedder()
    mem = MemOS(home=home, embedder=embedder)
    started = time.perf_counter()
    for sample in data:
        cube = f"locomo/{sample['sample_id']}"
        if args.ingest == "messages":
            mem.add_messages(sessions(sample), cube=cube)
        else:
            mem.install_cube(cube, "1.0.0", "sha256:" + "0" * 64, turns(sample))
    ingest = time.perf_counter() - started
    id_key = "message_id" if args.ingest == "messages" else "dia_id"
    modes = MODES if args.mode == "all" else {"hybrid (default)": RetrievalSettings()}
    results = []
    for mode, settings in modes.items():
        mem.retriever.settings = settings
        results.append(evaluate(mem, data, mode, id_key))
    if args.json:
        print(json.dumps({"ingest": args.ingest, "ingest_s": ingest, "results": results}, indent=2))
        return
    names = [*CATEGORIES.values(), "overall"]
    count = sum(len(turns(s)) for s in data)
    print(f"ingested {count} turns ({args.ingest} path) in {ingest:.1f} s")
    print("| mode | " + " | ".join(f"{n} R@5/10/20" for n in names) + " | p50 ms |")
    print("|---|" + "---|" * (len(names) + 1))
    for result in results:
        cells = []
        for name in names:
            recall = result["recall"][name]
            cells.append("/".join(f"{recall[k]:.3f}" for k in KS))
        print(f"| {result['mode']} | " + " | ".join(cells) + f" | {result['p50_ms']:.1f} |")


if __name__ == "__main__":
    main()
