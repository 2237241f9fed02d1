"""Benchmark `memos pack` and `memos verify` on a bundle with a 1 GB tensor blob, and `memos --help`.

Goals (issue #2): pack and verify >= 1.2 GB/s with peak memory < 150 MB; `memos --help` < 150 ms.
The anchors, measured in the same run and alternated with memos: `openssl dgst -sha256` over the
same tensor file (the floor for verify: hashing alone, with the CPU's SHA extensions) and `cp` of
it (the floor for pack: copying alone), and `python -c pass` for start-up.

    python bench/bundle_bench.py [--size-gb 1.0] [--runs 5] [--workdir /tmp/memstore-bench]
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench_setup import bench_parser
from installed import compile_project, installed_python
from kv_snapshot import write_kv_snapshot

REPO = Path(__file__).resolve().parents[1]


def make_source(root: Path, size_bytes: int) -> Path:
    """A cube source dir with a few memories and one self-describing KV snapshot of ~size_bytes."""
    source = root / "cube"
    (source / "memories").mkdir(parents=True, exist_ok=True)
    (source / "memcube.toml").write_text(
        '[cube]\nname = "bench/big"\nversion = "1.0.0"\ncreated = 2026-01-01T00:00:00Z\n'
    )
    (source / "memories" / "m.jsonl").write_text('{"text": "a memory", "tags": []}\n')
    write_kv_snapshot(
        source / "activations" / "snapshot.safetensors",
        size_bytes,
        seed=0,
        sources=[{"id": "m.jsonl:1", "version": 1}],
    )
    return source


def timed(command: list[str], env: dict[str, str], output: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (kB) of one command, process start-up included.

    Every command starts from the same state: its output file removed and the page cache's dirty
    pages written back (both untimed), so no contender pays for the previous one's writeback or
    for truncating a 1 GB file it is about to replace.
    """
    if output is not None:
        output.unlink(missing_ok=True)
    os.sync()
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command} failed: {result.stderr}")
    peak_kb = int(re.findall(r"^(\d+)$", result.stderr, re.MULTILINE)[-1])
    return elapsed, peak_kb


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = bench_parser(__doc__, "/tmp/memstore-bench")
    parser.add_argument("--size-gb", type=float, default=1.0)
    args = parser.parse_args()
    compile_project()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MEMOS_HOME": str(args.workdir / "home")}
    python = installed_python(args.workdir / "python")  # as an installed copy starts
    memos = [python, "-m", "memos_client"]
    subprocess.run([*memos, "keygen"], env=env, check=True, capture_output=True)
    source = make_source(args.workdir, int(args.size_gb * 1e9))
    tensor = source / "activations" / "snapshot.safetensors"
    size = tensor.stat().st_size
    bundle = args.workdir / "big.memcube"
    subprocess.run(["cat", str(tensor)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    samples: dict[str, list[tuple[float, int]]] = {
        "pack": [],
        "cp": [],
        "verify": [],
        "openssl": [],
    }
    copy = args.workdir / "copy.bin"
    help_samples: dict[str, list[float]] = {"memos --help": [], "python -c pass": []}
    for run in range(args.runs + 1):  # run 0 is the warm-up
        results = {
            "pack": timed([*memos, "pack", str(source), "-o", str(bundle)], env, bundle),
            "cp": timed(["cp", str(tensor), str(copy)], env, copy),
            "verify": timed([*memos, "verify", str(bundle)], env),
            "openssl": timed(["openssl", "dgst", "-sha256", str(tensor)], env),
        }
        helps = {
            "memos --help": timed([*memos, "--help"], env)[0],
            "python -c pass": timed([python, "-c", "pass"], env)[0],
        }
        if run:
            for name, value in results.items():
                samples[name].append(value)
            for name, seconds in helps.items():
                help_samples[name].append(seconds)
    print(
        f"tensor blob: {size / 1e9:.2f} GB; runs: {args.runs}; python {platform.python_version()}"
    )
    print("| operation | median wall (s) | throughput (GB/s) | peak RSS (MB) | anchor / memos |")
    print("|---|---|---|---|---|")
    anchors = {"pack": "cp", "verify": "openssl"}
    for name, values in samples.items():
        wall = statistics.median(s for s, _ in values)
        peak = max(kb for _, kb in values) / 1024
        ratio = "-"
        if name in anchors:
            anchor = statistics.median(s for s, _ in samples[anchors[name]])
            ratio = f"{anchor / wall:.2f} (vs {anchors[name]})"
        print(f"| {name} | {wall:.3f} | {size / wall / 1e9:.2f} | {peak:.0f} | {ratio} |")
    print()
    print("| command | median wall (ms) |")
    print("|---|---|")
    for name, values in help_samples.items():
        print(f"| {name} | {statistics.median(values) * 1000:.0f} |")


if __name__ == "__main__":
    main()
