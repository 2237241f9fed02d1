"""The runtime as a service at 100k memories: cold CLI query, incremental add, served load, MCP.

1. **Cold query**: ``memos query TEXT --json`` as a fresh process (start-up included), against
   chromadb's ``PersistentClient`` answering the same query vectors at the same k from a fresh
   process (run by ``--chroma-python``, a separate virtualenv: chromadb pins its own server
   stack), and ``MemOS.search`` warm in this process. Contenders alternate query by query.
2. **Incremental add**: ``memos add TEXT`` as a fresh process; bytes the index files took per add
   (one row of each column + meta.json) and the files' sizes and inodes before and after.
3. **Served load**: ``wrk -c64`` against ``POST /v1/search`` of one ``memos serve`` process
   (distinct queries, so the query-embedding cache does not answer).
4. **MCP round trip**: ``search_memories`` over stdio (``memos mcp``, the SDK's client), warm.

Wall and CPU seconds (user + system of the child processes) are reported: on a loaded machine
the wall time of a cold process is mostly waiting for a core.

    python bench/serve_bench.py --size 100000 --home /tmp/memos-serve-bench \\
        --chroma-python /tmp/chroma-venv/bin/python --runs 15

Stores are kept under --home (the first run builds them: item vectors past the first 2,000 are
derived from real MiniLM vectors, as bench/runtime_latency.py does; every query is embedded by
the real model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from runtime_latency import corpus, derive_vectors, queries  # noqa: E402

from memos_client.runtime import MemOS  # noqa: E402

CHROMA_QUERY = r"""
import json, sys, time
import chromadb
path, k = sys.argv[1], int(sys.argv[2])
vector = json.loads(sys.stdin.read())
client = chromadb.PersistentClient(path=path)
found = client.get_collection("bench").query(query_embeddings=[vector], n_results=k)
print(json.dumps(found["ids"][0]))
"""

CHROMA_BUILD = r"""
import json, sys
import numpy as np
import chromadb
path, vectors_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
matrix = np.load(vectors_file)
client = chromadb.PersistentClient(path=path)
collection = client.get_or_create_collection("bench", metadata={"hnsw:space": "ip"})
for start in range(0, count, 5000):
    stop = min(count, start + 5000)
    collection.add(ids=[str(i) for i in range(start, stop)], embeddings=matrix[start:stop])
print(collection.count())
"""


def environment(home: Path) -> dict[str, str]:
    """A `memos` child's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    return env | {"PYTHONPATH": str(ROOT), "MEMOS_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def timed(
    command: list[str], env: dict[str, str], stdin: str | None = None
) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": 1000 * statistics.median(values), "p95_ms": 1000 * p(values, 0.95)}


def build(home: Path, size: int, real: int) -> None:
    """A store of ``size`` memories with its persisted index and HNSW graph saved."""
    mem = MemOS(home=home, warm=False)
    have = mem.store.query("SELECT COUNT(*) FROM items WHERE cube = 'bench/notes'")[0][0]
    if have < size:
        print(f"building {size} memories in {home} ...", flush=True)
        records = corpus(size)
        derive_vectors(mem, records, min(real, size))
        for start in range(have, size, 5000):
            mem.add_many(records[start : start + 5000], cube="bench/notes")
            print(f"  {start + 5000}", flush=True)
    mem.close()
    warm = MemOS(home=home)  # builds (once) and saves the HNSW graph the servers load
    warm.search("warm up", k=1)
    warm.close()


def chroma_store(home: Path, python: str, size: int) -> Path:
    """The same item vectors in a chromadb PersistentClient collection."""
    import numpy as np

    path = home / "chroma"
    if (path / "done").exists():
        return path
    with MemOS(home=home, warm=False) as mem:
        mem.index.sync()
        matrix = np.asarray(mem.index.columns.matrix[: mem.index._size])
    with tempfile.NamedTemporaryFile(suffix=".npy", delete=False) as handle:
        np.save(handle, matrix)
    shutil.rmtree(path, ignore_errors=True)
    print(f"building chromadb store of {len(matrix)} vectors ...", flush=True)
    subprocess.run(
        [python, "-c", CHROMA_BUILD, str(path), handle.name, str(len(matrix))], check=True
    )
    os.unlink(handle.name)
    (path / "done").write_text("")
    return path


def cold_query(
    home: Path, chroma: Path | None, python: str | None, runs: int, k: int
) -> dict[str, Any]:
    env = environment(home)
    texts = queries(runs + 1)
    warm = MemOS(home=home)
    warm.search(texts[-1], k=k)  # loads the model and indexes
    vectors = [warm.retriever.query_vector(text).tolist() for text in texts]
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    in_process: list[float] = []
    timed([sys.executable, "-m", "memos_client", "query", texts[-1], "--json", "-k", str(k)], env)
    for index in range(runs):
        wall, cpu, _ = timed(
            [sys.executable, "-m", "memos_client", "query", texts[index], "--json", "-k", str(k)],
            env,
        )
        ours.append((wall, cpu))
        if chroma is not None and python is not None:
            wall, cpu, _ = timed(
                [python, "-c", CHROMA_QUERY, str(chroma), str(k)], env, json.dumps(vectors[index])
            )
            theirs.append((wall, cpu))
        started = time.perf_counter()
        warm.search(texts[index], k=k)
        in_process.append(time.perf_counter() - started)
    warm.close()
    result: dict[str, Any] = {
        "memos_query_cold": summary([w for w, _ in ours])
        | {"cpu_p50_ms": 1000 * statistics.median(c for _, c in ours)},
        "memos_search_warm_in_process": summary(in_process),
    }
    if theirs:
        result["chromadb_cold"] = summary([w for w, _ in theirs]) | {
            "cpu_p50_ms": 1000 * statistics.median(c for _, c in theirs)
        }
        result["ratio_wall_p50"] = (
            result["memos_query_cold"]["p50_ms"] / result["chromadb_cold"]["p50_ms"]
        )
        result["ratio_cpu_p50"] = (
            result["memos_query_cold"]["cpu_p50_ms"] / result["chromadb_cold"]["cpu_p50_ms"]
        )
    return result


def index_files(home: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for path in (home / "runtime" / "ann").rglob("*"):
        if path.is_file() and path.suffix in (".f32", ".i64", ".i8", ".i32"):
            info = path.stat()
            found[path.name] = (info.st_ino, info.st_size)
    return found


def incremental_add(home: Path, runs: int) -> dict[str, Any]:
    env = environment(home)
    before = index_files(home)
    times: list[tuple[float, float]] = []
    for index in range(runs):
        wall, cpu, _ = timed(
            [
                sys.executable,
                "-m",
                "memos_client",
                "add",
                f"bench add {index}: Zoe fed the ducks at the pond.",
                "--cube",
                "bench/adds",
            ],
            env,
        )
        times.append((wall, cpu))
    after = index_files(home)
    with MemOS(home=home, warm=False) as mem:
        mem.index.sync()
        mem.add("one more for the byte count", cube="bench/adds")
        written = mem.index.columns.bytes_written
    return {
        "memos_add_cold": summary([w for w, _ in times])
        | {"cpu_p50_ms": 1000 * statistics.median(c for _, c in times)},
        "index_bytes_written_per_add": written,
        "index_files_rewritten": sorted(
            name for name in before if before[name][0] != after.get(name, (None,))[0]
        ),
        "index_files": {name: size for name, (_, size) in after.items()},
    }


WRK_SCRIPT = """
local queries = {}
for line in io.lines("%s") do queries[#queries + 1] = line end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
request = function()
  counter = counter + 1
  local body = '{"query": "' .. queries[(counter %% #queries) + 1] .. '", "k": 10}'
  return wrk.format(nil, "/v1/search", nil, body)
end
"""


def served_load(home: Path, seconds: int, connections: int) -> dict[str, Any]:
    import httpx

    from tests.support import free_port, wait_until

    env = environment(home)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memos_client",
            "serve",
            "--port",
            str(port),
            "--tick-interval",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(lambda: server.poll() is not None or up(), 600, url)
        token = subprocess.run(
            [sys.executable, "-m", "memos_client", "serve", "token"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        with tempfile.TemporaryDirectory() as scratch:
            lines = Path(scratch) / "queries.txt"
            lines.write_text("\n".join(queries(5000, seed=23)) + "\n")
            script = Path(scratch) / "search.lua"
            script.write_text(WRK_SCRIPT % (lines, token))
            warm = ["wrk", "-t2", f"-c{connections}", "-d3s", "-s", str(script), url]
            subprocess.run(warm, capture_output=True, check=True)
            done = subprocess.run(
                [
                    "wrk",
                    "-t2",
                    f"-c{connections}",
                    f"-d{seconds}s",
                    "--latency",
                    "-s",
                    str(script),
                    url,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        cpu_ticks = sum(int(v) for v in Path(f"/proc/{server.pid}/stat").read_text().split()[13:15])
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = done.stdout
    print(text, flush=True)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]

    def latency(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", text)
        assert match is not None, text
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests_per_s": rate,
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
        "server_cpu_s_total": cpu_ticks / os.sysconf("SC_CLK_TCK"),
        "wrk": f"-t2 -c{connections} -d{seconds}s",
    }


def mcp_round_trip(home: Path, calls: int) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "memos_client", "mcp", "--tick-interval", "0"],
        env=environment(home),
    )
    texts = queries(calls + 20, seed=31)

    async def session() -> list[float]:
        times = []
        async with Client(params, read_timeout_seconds=300) as client:
            for text in texts[:20]:  # warm-up
                await client.call_tool("search_memories", {"query": text, "k": 10})
            for text in texts[20:]:
                started = time.perf_counter()
                result = await client.call_tool("search_memories", {"query": text, "k": 10})
                times.append(time.perf_counter() - started)
                assert not result.is_error, result.content
        return times

    return {"search_memories_stdio": summary(asyncio.run(session()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--home", type=Path, default=Path("/tmp/memos-serve-bench"))
    parser.add_argument("--real", type=int, default=2000, help="Items embedded by the real model.")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chroma-python", help="A python with chromadb installed (separate venv).")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--parts", nargs="+", default=["cold", "add", "load", "mcp"])
    args = parser.parse_args()
    home = args.home / str(args.size)
    build(home, args.size, args.real)
    result: dict[str, Any] = {
        "size": args.size,
        "machine": f"{os.cpu_count()} cores, loaded (provisional)",
    }
    chroma = None
    if args.chroma_python:
        version = subprocess.run(
            [args.chroma_python, "-c", "import chromadb; print(chromadb.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        )
        result["chromadb_version"] = version.stdout.strip()
        chroma = chroma_store(home, args.chroma_python, args.size)
    if "cold" in args.parts:
        result["cold"] = cold_query(home, chroma, args.chroma_python, args.runs, args.k)
        print(json.dumps(result["cold"], indent=1), flush=True)
    if "add" in args.parts:
        result["add"] = incremental_add(home, args.runs)
        print(json.dumps(result["add"], indent=1), flush=True)
    if "load" in args.parts:
        result["load"] = served_load(home, args.wrk_seconds, args.connections)
        print(json.dumps(result["load"], indent=1), flush=True)
    if "mcp" in args.parts:
        result["mcp"] = mcp_round_trip(home, max(50, args.runs * 5))
        print(json.dumps(result["mcp"], indent=1), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
