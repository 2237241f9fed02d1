"""Benchmark the registry against pypiserver: resolve, fetch-envelope, download, publish (issue #3).

Goals: resolve (list a cube's versions) and fetch-envelope under 64 concurrent connections with one
server worker >= 2x pypiserver's throughput on its simple-index page for a package with the same
number of versions, p99 < 50 ms, on SQLite and on PostgreSQL; downloading a 100 MB blob from local
storage >= 1x pypiserver serving the same bytes; `memos publish` of a cube with a 100 MB blob
<= 1.5x a raw upload (curl -T) of the same bytes to the same storage.

Everything is started by this script on loopback and alternated (A B C A B C ...); medians of
--runs rounds after a warm-up round. Load comes from wrk (`wrk -t1 -c64 -dNs --latency`).

    python bench/registry_bench.py [--versions 50] [--runs 5] [--duration 5] [--blob-mb 100]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from bench_setup import admin_token, anchors_on_path, bench_parser, child_env
from installed import compile_project, installed_python

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import (  # noqa: E402  (the checkout is on the path only from here)
    ServerProcess,
    answers,
    free_port,
    start_registry_process,
    wait_until,
)

POSTGRES = "127.0.0.1:5432"


def populate(url: str, token: str, versions: int) -> tuple[str, str, int]:
    """Publish `bench/cube` in `versions` versions; return cube path, envelope path, size."""
    from memos_client.registry.client import RegistryClient
    from mip.dsse import sign
    from mip.keys import SigningKey

    key = SigningKey.generate()
    with RegistryClient(url, token) as client:
        for index in range(versions):
            document = {
                "mip_version": "1.0",
                "name": "bench/cube",
                "version": f"1.0.{index}",
                "created": "2026-01-01T00:00:00Z",
                "description": "benchmark cube",
                "dependencies": {"bench/dep": ">=1,<2"},
                "parts": [],
            }
            payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
            client.publish(sign(payload, [key]).to_json(), key.public_key.to_pem().decode())
        envelope = client.envelope("bench/cube", f"1.0.{versions // 2}")
    return (
        "/v1/cubes/bench/cube",
        f"/v1/cubes/bench/cube/versions/1.0.{versions // 2}/envelope",
        len(envelope),
    )


def start_pypiserver(packages: Path) -> ServerProcess:
    port = free_port()
    log = packages.parent / "pypiserver.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [
                "pypi-server",
                "run",
                "-p",
                str(port),
                "-i",
                "127.0.0.1",
                "--hash-algo",
                "off",
                "-a",
                ".",
                "-P",
                ".",
                "--disable-fallback",
                str(packages),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.poll() is not None or answers(url + "/simple/"), 60, url)
    if process.poll() is not None:
        raise RuntimeError(f"pypi-server exited: see {log}")
    return ServerProcess(url, process, log)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, duration: int) -> dict[str, float]:
    """req/s, p50 and p99 (ms) and errors of one wrk run."""
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50%"),
        "p99": latency("99%"),
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def curl_seconds(args: list[str]) -> float:
    result = subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{time_total}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


def load_benchmarks(args: argparse.Namespace, work: Path) -> list[str]:
    """Resolve and fetch-envelope under load; returns Markdown rows."""
    env = child_env()
    sqlite_dir = work / "sqlite"
    database = f"memstore_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-d", "test", "-qc", f'CREATE DATABASE "{database}"'],
        check=True,
    )
    pg_env = {**env, "MEMSTORE_DATABASE_URL": f"postgresql+psycopg://{POSTGRES}/{database}"}
    pg_dir = work / "postgres"
    servers: list[ServerProcess] = []
    try:
        targets: dict[str, dict[str, str]] = {"resolve": {}, "fetch": {}}
        for label, data_dir, server_env in (
            ("memstore SQLite", sqlite_dir, env),
            ("memstore PostgreSQL", pg_dir, pg_env),
        ):
            data_dir.mkdir(parents=True)
            token = admin_token(data_dir, server_env, "bench")
            server = start_registry_process(server_env, data_dir)
            servers.append(server)
            cube_path, envelope_path, envelope_size = populate(server.url, token, args.versions)
            targets["resolve"][label] = server.url + cube_path
            targets["fetch"][label] = server.url + envelope_path
        packages = work / "packages"
        packages.mkdir()
        filler = os.urandom(envelope_size)
        for index in range(args.versions):
            (packages / f"bench_cube-1.0.{index}.tar.gz").write_bytes(filler)
        pypi = start_pypiserver(packages)
        servers.append(pypi)
        targets["resolve"]["pypiserver"] = pypi.url + "/simple/bench-cube/"
        targets["fetch"]["pypiserver"] = (
            pypi.url + f"/packages/bench_cube-1.0.{args.versions // 2}.tar.gz"
        )
        for urls in targets.values():  # every target answers before we measure it
            for url in urls.values():
                httpx.get(url).raise_for_status()
        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_index in range(args.runs + 1):
            for kind, urls in targets.items():
                order = list(urls.items())
                if round_index % 2:
                    order.reverse()
                for label, url in order:
                    result = wrk(url, 2 if round_index == 0 else args.duration)
                    if round_index:
                        samples.setdefault((kind, label), []).append(result)
        rows = []
        for kind in targets:
            anchor = median([s["rps"] for s in samples[(kind, "pypiserver")]])
            for label in targets[kind]:
                runs = samples[(kind, label)]
                rps = median([s["rps"] for s in runs])
                rows.append(
                    f"| {kind} | {label} | {rps:,.0f} | {median([s['p50'] for s in runs]):.1f} | "
                    f"{median([s['p99'] for s in runs]):.1f} | {int(sum(s['errors'] for s in runs))} | "
                    f"{rps / anchor:.2f}x |"
                )
        return rows
    finally:
        for server in servers:
            server.stop()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-d",
                "test",
                "-qc",
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
            ],
            check=False,
        )


def make_bundle(work: Path, env: dict[str, str], size: int) -> tuple[Path, Path]:
    """A cube with one ~`size`-byte KV snapshot, packed and signed; returns bundle and tensor."""
    spec = importlib.util.spec_from_file_location(
        "bundle_bench", REPO / "bench" / "bundle_bench.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bundle_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle_bench)
    source = bundle_bench.make_source(work, size)
    bundle = work / "big.memcube"
    memos = [sys.executable, "-m", "memos_client"]
    subprocess.run([*memos, "keygen"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*memos, "pack", str(source), "-o", str(bundle)], env=env, check=True, capture_output=True
    )
    return bundle, source / "activations" / "snapshot.safetensors"


def refill_bundle(work: Path, env: dict[str, str], tensor: Path, round_index: int) -> Path:
    """Overwrite the KV tensors' data with random bytes, bump the version, pack.

    The header and ``token_ids`` stay as they are: the token ids must keep hashing to the
    snapshot's ``token_ids_sha256`` (MIP-1 §7.2), or `memos pack` refuses the file.
    """
    with open(tensor, "r+b") as stream:
        header_size = int.from_bytes(stream.read(8), "little")
        header = json.loads(stream.read(header_size))
        for name, entry in header.items():
            if name in ("__metadata__", "token_ids"):
                continue
            begin, end = entry["data_offsets"]
            stream.seek(8 + header_size + begin)
            remaining = end - begin
            while remaining:
                chunk = os.urandom(min(remaining, 8 << 20))
                stream.write(chunk)
                remaining -= len(chunk)
    toml = tensor.parents[1] / "memcube.toml"
    toml.write_text(
        re.sub(r'version = "[^"]*"', f'version = "1.0.{round_index + 1}"', toml.read_text())
    )
    bundle = work / f"round-{round_index}.memcube"
    subprocess.run(
        [sys.executable, "-m", "memos_client", "pack", str(tensor.parents[1]), "-o", str(bundle)],
        env=env,
        check=True,
        capture_output=True,
    )
    # Write the new tensor and bundle back to disk before timing anything: otherwise whichever
    # contender runs first in the round also pays for writing back this setup's 200 MB.
    os.sync()
    return bundle


def transfer_benchmarks(args: argparse.Namespace, work: Path) -> list[str]:
    """100 MB download vs pypiserver; publish vs raw upload. Returns Markdown rows."""
    env = {**child_env(), "MEMOS_HOME": str(work / "home")}
    _bundle, tensor = make_bundle(work, env, args.blob_mb * 1_000_000)
    size = tensor.stat().st_size
    from mip.digests import digest_file

    digest, _ = digest_file(tensor)

    # Download: the blob from the registry's local storage vs the same bytes from pypiserver.
    data_dir = work / "download-registry"
    data_dir.mkdir()
    token = admin_token(data_dir, env, "bench")
    registry = start_registry_process(env, data_dir)
    packages = work / "big-packages"
    packages.mkdir()
    shutil.copy(tensor, packages / "bench_big-1.0.0.tar.gz")
    pypi = start_pypiserver(packages)
    rows = []
    try:
        from memos_client.registry.client import RegistryClient

        with RegistryClient(registry.url, token) as client:
            client.upload_blob(digest, size, tensor)
        contenders: dict[str, Callable[[], float]] = {
            "memstore GET /v1/blobs": lambda: curl_seconds([f"{registry.url}/v1/blobs/{digest}"]),
            "pypiserver /packages": lambda: curl_seconds(
                [f"{pypi.url}/packages/bench_big-1.0.0.tar.gz"]
            ),
        }
        times: dict[str, list[float]] = {label: [] for label in contenders}
        for round_index in range(args.runs + 1):
            for label, run in contenders.items():
                elapsed = run()
                if round_index:
                    times[label].append(elapsed)
        anchor = median(times["pypiserver /packages"])
        for label, values in times.items():
            seconds = median(values)
            rows.append(
                f"| download {args.blob_mb} MB | {label} | {seconds * 1000:.0f} ms | "
                f"{size / seconds / 1e6:,.0f} MB/s | {anchor / seconds:.2f}x |"
            )
    finally:
        registry.stop()
        pypi.stop()

    # Publish: `memos publish` vs `curl -T` of the same bytes to a bare upload endpoint writing
    # into the same disk. One registry for all rounds; every round publishes a new version whose
    # tensor bytes are fresh random data (header kept), so every round really uploads 100 MB.
    data_dir = work / "publish-registry"
    data_dir.mkdir()
    python = installed_python(work / "python")  # `memos publish` starts as an installed copy
    token = admin_token(data_dir, env, "bench")
    registry = start_registry_process(env, data_dir)
    raw_port = free_port()
    raw = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "bench" / "raw_upload_server.py"),
            str(work / "raw"),
            str(raw_port),
        ],
        env=env,
    )
    raw_url = f"http://127.0.0.1:{raw_port}/up"
    wait_until(lambda: raw.poll() is not None or answers(raw_url), 60, raw_url)
    if raw.poll() is not None:
        raise RuntimeError(f"the raw upload server exited with {raw.returncode}")
    publish_env = {**env, "MEMOS_INDEX_URL": registry.url, "MEMOS_TOKEN": token}
    publish_times: list[float] = []
    raw_times: list[float] = []
    library_times: list[float] = []
    httpx_times: list[float] = []
    from memos_client.authoring.publisher import publish_bundle
    from memos_client.registry.client import RegistryClient
    from memos_client.trust.keystore import own_public_keys

    home = Path(env["MEMOS_HOME"])
    try:
        for round_index in range(args.runs + 1):
            round_bundle = refill_bundle(work, env, tensor, round_index)
            round_digest, _ = digest_file(tensor)
            publish_command = [python, "-m", "memos_client", "publish", str(round_bundle)]
            raw_args = ["-T", str(tensor), f"http://127.0.0.1:{raw_port}/{round_digest}"]
            order = ["publish", "raw"] if round_index % 2 == 0 else ["raw", "publish"]
            for label in order:
                if label == "publish":
                    elapsed = timed(publish_command, publish_env)
                else:
                    elapsed = curl_seconds(raw_args)
                if round_index:
                    (publish_times if label == "publish" else raw_times).append(elapsed)
            round_bundle.unlink()
            # The same work inside a warm process (no start-up): the library call vs an httpx PUT.
            round_bundle = refill_bundle(work, env, tensor, round_index + 100)
            round_digest, _ = digest_file(tensor)
            for label in order:
                started = time.perf_counter()
                if label == "publish":
                    client = RegistryClient(registry.url, token)  # what `memos publish` uses
                    try:
                        publish_bundle(round_bundle, client, own_public_keys(home))
                    finally:
                        client.close()
                else:
                    with open(tensor, "rb") as stream:
                        httpx.put(
                            f"http://127.0.0.1:{raw_port}/{round_digest}",
                            content=stream,
                            timeout=60,
                        ).raise_for_status()
                elapsed = time.perf_counter() - started
                if round_index:
                    (library_times if label == "publish" else httpx_times).append(elapsed)
            round_bundle.unlink()
    finally:
        registry.stop()
        raw.terminate()
        raw.wait()
    for label, values in (
        ("memos publish", publish_times),
        ("curl -T", raw_times),
        ("publish_bundle()", library_times),
        ("httpx PUT", httpx_times),
    ):
        print(f"runs, {label}: {' '.join(f'{v * 1000:.0f}' for v in values)} ms", file=sys.stderr)
    publish_s, raw_s = median(publish_times), median(raw_times)
    rows.append(
        f"| publish {args.blob_mb} MB | `memos publish` (check + upload + publish, process start-up included) | "
        f"{publish_s * 1000:.0f} ms | {size / publish_s / 1e6:,.0f} MB/s | {publish_s / raw_s:.2f}x raw |"
    )
    rows.append(
        f"| publish {args.blob_mb} MB | raw `curl -T` to a bare upload endpoint, same disk | "
        f"{raw_s * 1000:.0f} ms | {size / raw_s / 1e6:,.0f} MB/s | 1.00x |"
    )
    library_s, httpx_s = median(library_times), median(httpx_times)
    rows.append(
        f"| publish {args.blob_mb} MB, in a warm process | `publish_bundle()` (check + upload + "
        f"publish) | {library_s * 1000:.0f} ms | {size / library_s / 1e6:,.0f} MB/s | "
        f"{library_s / httpx_s:.2f}x raw |"
    )
    rows.append(
        f"| publish {args.blob_mb} MB, in a warm process | raw httpx PUT to the bare endpoint | "
        f"{httpx_s * 1000:.0f} ms | {size / httpx_s / 1e6:,.0f} MB/s | 1.00x |"
    )
    return rows


def versions() -> str:
    import fastapi
    import psycopg
    import sqlalchemy
    import uvicorn

    pypiserver = subprocess.run(
        ["pypi-server", "--version"], capture_output=True, text=True
    ).stdout.strip()
    postgres = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-d", "test", "-tAc", "show server_version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    import sqlite3

    return (
        f"Python {platform.python_version()}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, "
        f"SQLAlchemy {sqlalchemy.__version__}, psycopg {psycopg.__version__}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {postgres}, pypiserver {pypiserver} (its default WSGI server), "
        f"{subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.splitlines()[0]}; "
        f"{os.cpu_count()} CPUs, load average before the run {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = bench_parser(__doc__, "/tmp/memstore-registry-bench")
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--blob-mb", type=int, default=100)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-transfer", action="store_true")
    args = parser.parse_args()
    anchors_on_path()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    compile_project()
    print(versions())
    if not args.skip_load:
        print(
            f"\nResolve / fetch-envelope, {args.versions} versions, wrk -t1 -c64 -d{args.duration}s, "
            f"median of {args.runs} rounds\n"
        )
        print("| request | server | req/s | p50 ms | p99 ms | errors | vs pypiserver |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for row in load_benchmarks(args, args.workdir / "load"):
            print(row, flush=True)
    if not args.skip_transfer:
        print(f"\nTransfers, median of {args.runs} runs after a warm-up\n")
        print("| what | contender | time | throughput | ratio |")
        print("|---|---|---:|---:|---:|")
        for row in transfer_benchmarks(args, args.workdir / "transfer"):
            print(row, flush=True)


if __name__ == "__main__":
    main()
