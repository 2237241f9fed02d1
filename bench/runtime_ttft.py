"""Runtime TTFT: ``memos generate`` with a KV snapshot vs the same generate re-prefilling it.

Unlike ``bench/activation_ttft.py`` (the engine alone), this times the whole runtime path a user
gets from ``run_generation``: plan (search, freshness of the snapshot's sources, token counts
with the model's tokenizer), open + validate + map the snapshot, the forward over the question,
the first token. Model: SmolLM2-135M's shape (``activation_ttft.SMOLLM2_135M``), random weights,
float32, CPU, ``--threads`` torch threads. One cube of memories whose text is ``--tokens`` tokens,
one locally built snapshot over all of them, budget large enough for it. Same run, alternating,
medians after a warm-up:

- (A) ``run_generation(use_activation=True)``: TTFT as ``generate`` reports it;
- (B) ``run_generation(use_activation=False)``: the same token ids prefilled;
- (floor) opening + mapping the snapshot and the forward over the un-cached tokens (the question),
  measured alone: what injection cannot avoid.

Goals (issue 19): A <= 2x floor, B / A >= 20 at 4k memory tokens and 2 threads, logits exact
(max |diff| between injected and prefilled next-token logits = 0.0).

Run: ``python bench/runtime_ttft.py`` (``--tokens 4096 --threads 2 --runs 5``; ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["HF_HUB_OFFLINE"] = "1"

from activation_ttft import MEMORY_LINES, QUESTION, QUICK, SMOLLM2_135M, build_model


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def _fill(memos: Any, model: Any, tokens: int) -> list[str]:
    """Add numbered memory lines to ``bench/ops`` until their segment holds ``tokens`` tokens."""
    from memos_client.runtime.prompt_tokens import render_segment

    texts: list[str] = []
    number = 0
    while len(model.encode(render_segment(texts))) < tokens:
        texts.append(f"{MEMORY_LINES[number % len(MEMORY_LINES)]} (note {number})")
        number += 1
    return memos.add_many([{"text": text} for text in texts], cube="bench/ops")


def _snapshot(memos: Any, model: Any) -> Any:
    from memos_client.runtime.activation.local_parts import register_part
    from memos_client.runtime.activation.prompt import MemoryText
    from memos_client.runtime.activation.snapshots import build_snapshot
    from mip.models import to_document

    rows = memos.store.query("SELECT * FROM items WHERE cube = 'bench/ops' ORDER BY rowid")
    memories = [MemoryText(row["source_id"], row["version"], row["text"]) for row in rows]
    path = memos.home / "runtime" / "activations" / "all.safetensors"
    header, token_ids = build_snapshot(model, memories, path)
    part = {"kind": "activation", "name": "all", "path": str(path), "origin": "local"}
    register_part(memos, "bench/ops", {**part, **to_document(header, omit_none=False)})
    return path, token_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="A tiny model: a smoke run.")
    args = parser.parse_args()

    import torch

    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.executor import run_generation
    from memos_client.runtime.activation.model_adapter import load_model
    from memos_client.runtime.activation.prompt import question_token_ids
    from memos_client.runtime.activation.snapshot_file import open_snapshot
    from memos_client.runtime.activation.snapshots import inject

    torch.set_num_threads(args.threads)
    shape = QUICK if args.quick else SMOLLM2_135M
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        model = load_model(build_model(root / "model", shape), cache_dir=root / "fp")
        with MemOS(root / "home", embedder="hashing") as memos:
            memory_ids = _fill(memos, model, args.tokens)
            path, token_ids = _snapshot(memos, model)
            budget = len(token_ids) + 64

            def generate(activation: bool) -> Any:
                return run_generation(
                    memos,
                    model,
                    QUESTION,
                    budget=budget,
                    max_new_tokens=1,
                    use_activation=activation,
                    min_score=0.0,
                )

            question = question_token_ids(model, QUESTION)

            def floor() -> float:
                began = time.perf_counter()
                cache = inject(model, open_snapshot(path))
                int(model.forward(question, cache).logits.argmax())
                return (time.perf_counter() - began) * 1000

            plan = memos.plan(QUESTION, budget, model=model, min_score=0.0, count_access=False)
            chosen_bullets = sum(
                len(model.encode(f"- {m.item.text.strip()}\n")) for m in plan.memories
            )
            plan_line = (
                f"plan: {len(memory_ids)} memories in the cube, {len(plan.memories)} chosen "
                f"({chosen_bullets} bullet tokens), snapshot {plan.injected_tokens} tokens "
                f"injected, {plan.prefill_tokens} prefilled, budget {budget}; "
                f"{[part.reason for part in plan.activations]}"
            )
            first = generate(True)
            assert first.used["snapshots"] == ["bench/ops:all"], first.used
            assert first.used["prefilled_tokens"] == len(question), first.used
            generate(False)
            floor()
            injected, prefilled, floors = [], [], []
            for _ in range(args.runs):
                a = generate(True)
                injected.append(a.ttft_ms)
                floors.append(floor())
                b = generate(False)
                prefilled.append(b.ttft_ms)
                assert a.token_ids == b.token_ids
            with torch.inference_mode():
                cache = inject(model, open_snapshot(path))
                on_top = model.forward(question, cache).logits
                whole = model.forward([*token_ids, *question]).logits
            diff = float((on_top - whole).abs().max())
    a_ms, b_ms, floor_ms = _median_ms(injected), _median_ms(prefilled), _median_ms(floors)
    print(
        f"runtime TTFT, {len(token_ids)}-token snapshot + {len(question)}-token question, "
        f"{'quick model' if args.quick else 'SmolLM2-135M shape'}, {args.threads} threads, "
        f"{args.runs} runs (medians):"
    )
    print(f"  generate, snapshot injected : {a_ms:9.1f} ms  (all: {sorted(injected)})")
    print(f"  generate, re-prefill        : {b_ms:9.1f} ms  (all: {sorted(prefilled)})")
    print(f"  floor: map + forward(question): {floor_ms:7.1f} ms")
    print(f"  injected / floor  = {a_ms / floor_ms:5.2f}x   (goal <= 2x)")
    print(f"  re-prefill / injected = {b_ms / a_ms:5.1f}x   (goal >= 20x)")
    print(f"  max |logit diff| injected vs prefilled = {diff}")
    print(f"  {plan_line}")


if __name__ == "__main__":
    main()
