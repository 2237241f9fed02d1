"""Benchmark the client's transparency log checks (issue #21, phase 2).

Goals: client verification <= 2 ms per installed cube; a cold install of one cube with the log
check <= 5 % slower than without it.

    python bench/log_client_bench.py [--cubes 20] [--runs 30] [--memories 200] [--json FILE]

One `memos-registry serve` process (SQLite, local storage) on loopback. Measured in this process:

- **verification per cube**: ``LogCheck.verify_online`` for ``--cubes`` versions from a fresh home
  (first use: ``GET /v1/log``, one inclusion proof per cube, 8 at a time) and from a home that
  holds an older checkpoint (plus a consistency proof and the tiles of the entries appended
  since); wall time divided by the number of cubes (the registry's answers included), and the
  client's own CPU time (``time.process_time``: decoding, Ed25519, hashing) likewise; and the wall
  time for one cube alone;
- **cold install**: ``install_requirements`` of one cube (``--memories`` plaintext memories, the
  hashing embedder) into a fresh home and cache, with the log check and with it switched off
  (``Options.verify_log=False``, a library option the CLI does not expose), alternated, after two
  warm-up rounds. Medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from memos_client.cli.runtime_store import open_runtime  # noqa: E402
from memos_client.install.cache import Cache  # noqa: E402
from memos_client.install.requirements import parse_requirement  # noqa: E402
from memos_client.install.session import Options  # noqa: E402
from memos_client.install.workflow import install_requirements  # noqa: E402
from memos_client.registry.client import RegistryClient  # noqa: E402
from memos_client.trust.log_check import CubeRef, LogCheck  # noqa: E402
from mip.keys import SigningKey  # noqa: E402
from tests.install.conftest import make_bundle, publish, python_env, start_registry  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 3),
        "p90_ms": round(percentile(values, 0.9) * 1000, 3),
        "n": len(values),
    }


def verification(
    url: str, refs: list[CubeRef], runs: int, root: Path, publish_one: Callable[[], None]
) -> dict[str, Any]:
    """Seconds per cube of ``verify_online`` from a fresh home and from a home one step behind."""
    first_use: list[float] = []
    first_use_cpu: list[float] = []
    one_cube: list[float] = []
    behind: list[float] = []
    behind_cpu: list[float] = []
    with RegistryClient(url) as client:
        for run in range(runs + 2):
            home = root / f"verify-{run}"
            started, cpu = time.perf_counter(), time.process_time()
            LogCheck(home, url).verify_online(client, refs)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            solo = root / f"solo-{run}"
            started = time.perf_counter()
            LogCheck(solo, url).verify_online(client, refs[:1])
            solo_elapsed = time.perf_counter() - started
            if run >= 2:
                first_use.append(elapsed / len(refs))
                first_use_cpu.append(cpu / len(refs))
                one_cube.append(solo_elapsed)
        # A home holding the checkpoint before the last cube was published: consistency proof
        # and the tiles of the entries since, then the same inclusion proofs.
        stale = root / "stale"
        check = LogCheck(stale, url)
        check.verify_online(client, refs[:1])
        check.save()
        saved = (stale / "trust" / "log.json").read_bytes()
        publish_one()  # the log moves on: the stored checkpoint is one publish behind
        for run in range(runs + 2):
            (stale / "trust" / "log.json").write_bytes(saved)
            started, cpu = time.perf_counter(), time.process_time()
            LogCheck(stale, url).verify_online(client, refs)
            if run >= 2:
                behind.append((time.perf_counter() - started) / len(refs))
                behind_cpu.append((time.process_time() - cpu) / len(refs))
    return {
        "cubes": len(refs),
        "first_use_per_cube": ms(first_use),
        "first_use_client_cpu_per_cube": ms(first_use_cpu),
        "with_stored_checkpoint_per_cube": ms(behind),
        "with_stored_checkpoint_client_cpu_per_cube": ms(behind_cpu),
        "one_cube": ms(one_cube),
    }


def cold_installs(url: str, requirement: str, runs: int, root: Path) -> dict[str, Any]:
    """Alternated cold installs of one cube, with and without the log check."""
    times: dict[str, list[float]] = {"with log check": [], "without": []}
    for run in range(runs + 2):
        for label, verify in (("with log check", True), ("without", False)):
            home, cache = root / f"home-{run}-{verify}", root / f"cache-{run}-{verify}"
            options = Options(home, Cache(cache), url, open_runtime, verify_log=verify)
            started = time.perf_counter()
            results, _ = install_requirements([parse_requirement(requirement)], options)
            elapsed = time.perf_counter() - started
            assert results
            assert results[0].memory_count > 0
            if run >= 2:
                times[label].append(elapsed)
            shutil.rmtree(home)
            shutil.rmtree(cache)
    with_check = statistics.median(times["with log check"])
    without = statistics.median(times["without"])
    return {
        "with_log_check": ms(times["with log check"]),
        "without": ms(times["without"]),
        "ratio_of_medians": round(with_check / without, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cubes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--memories", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    args = parser.parse_args()
    os.environ["MEMOS_EMBEDDER"] = "hashing"
    sys.setswitchinterval(0.0005)  # as the memos CLI sets it (memos_client/cli/main.py)
    with tempfile.TemporaryDirectory(prefix="log-client-bench-") as directory:
        root = Path(directory)
        (root / "registry").mkdir()
        os.environ.update({k: v for k, v in python_env().items() if k == "PYTHONPATH"})
        server = start_registry(root / "registry")
        try:
            token = server.token("bench")
            key = SigningKey.generate()
            refs = []
            for number in range(args.cubes):
                bundle = make_bundle(
                    root, f"bench/cube{number}", "1.0.0", key, memories=["a fact"] * 3
                )
                digest = publish(server, token, bundle, key)
                refs.append(CubeRef(f"bench/cube{number}", "1.0.0", digest))
            memories = [f"memory {i}: " + "word " * 40 for i in range(args.memories)]
            big = make_bundle(root, "bench/install", "1.0.0", key, memories=memories)
            publish(server, token, big, key)

            def publish_one() -> None:
                extra = make_bundle(root, "bench/extra", "1.0.0", key)
                publish(server, token, extra, key)

            results = {
                "verification": verification(server.url, refs, args.runs, root, publish_one),
                "cold_install": cold_installs(server.url, "bench/install", args.runs, root),
            }
        finally:
            server.process.terminate()
            server.process.wait(timeout=10)
    print(json.dumps(results, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
