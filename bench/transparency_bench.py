"""Benchmark the transparency log (issue #21): publish overhead, proofs at 1M entries, client
verification, tile serving.

Goals: publish overhead of logging <= 5 ms p50 (publish with the log append vs the same publish
with the append replaced by a no-op, alternated in one process); inclusion and consistency proof
generation at 1M entries <= 10 ms p99; client verification (checkpoint + consistency + inclusion)
<= 2 ms per cube; tiles served at the speed of the blob path (wrk, 64 connections, one worker).

    python bench/transparency_bench.py [--entries 1000000] [--publishes 200] [--postgres]
                                       [--duration 5] [--runs 3] [--skip-wrk]

The no-op append exists only in this script (it patches the publish service's two log calls);
the registry has no setting to turn logging off.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mip.keys import SigningKey  # noqa: E402
from mip.transparency.checkpoint import Checkpoint, sign_checkpoint  # noqa: E402
from mip.transparency.client import verify_checkpoint, verify_extends, verify_logged  # noqa: E402
from mip.transparency.entries import encode_entry, version_event  # noqa: E402
from mip.transparency.merkle import leaf_hash  # noqa: E402
from mip.transparency.note import NoteVerifier  # noqa: E402
from mip.transparency.prover import (  # noqa: E402
    consistency_proof,
    frontier_indexes,
    hashes_to_store,
    inclusion_proof,
    tree_hash,
)
from tests.registry.cube_helpers import manifest_bytes, publish_body  # noqa: E402
from tests.support import fresh_postgres_database, start_registry_process  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values) * 1000:.3f} ms, "
        f"p99 {percentile(values, 0.99) * 1000:.3f} ms (n={len(values)})"
    )


@contextmanager
def database(postgres: bool) -> Iterator[str]:
    if postgres:
        with fresh_postgres_database("memstore_bench") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/registry.db"


def fresh_registry(url: str) -> tuple[Any, Any]:
    """An engine with schema and log set up, and a principal allowed to publish."""
    from registry_server.db.session import (
        create_db_engine,
        init_schema,
        read_session,
        write_session,
    )
    from registry_server.services.auth import authenticate, bootstrap_token
    from registry_server.services.transparency import ensure_log

    engine = create_db_engine(url, 2)
    init_schema(engine)
    key = SigningKey.generate()
    ensure_log(
        engine, "bench/log", NoteVerifier.for_key("bench/log", key.public_key).verifier_key()
    )
    with write_session(engine) as session:
        token = bootstrap_token(session, "bench", None, 1)
        session.commit()
    with read_session(engine) as session:
        principal = authenticate(session, f"Bearer {token}")
    return engine, principal


def bench_publish(url: str, publishes: int) -> dict[str, Any]:
    """Publish with the log vs publish with a no-op append, alternated in blocks of 10."""
    from registry_server.services import publish

    engine, principal = fresh_registry(url)
    key = SigningKey.generate()
    pem = key.public_key.to_pem().decode()
    real = (publish.log_version_event, publish.log_key_registered)

    def no_op(*_args: Any, **_kwargs: Any) -> int:
        return 0

    times: dict[str, list[float]] = {"logged": [], "unlogged": []}
    counter = 0
    for block in range(2 * publishes // 10 + 2):
        mode = "logged" if block % 2 == 0 else "unlogged"
        if mode == "logged":
            publish.log_version_event, publish.log_key_registered = real
        else:
            publish.log_version_event = no_op  # type: ignore[assignment]
            publish.log_key_registered = no_op  # type: ignore[assignment]
        for _ in range(10):
            counter += 1
            payload = manifest_bytes(f"bench/cube-{counter % 50}", f"1.0.{counter}", [])
            body = publish_body(payload, key)
            envelope = json.dumps(body["envelope"]).encode()
            start = time.perf_counter()
            result = publish.publish_version(engine, principal, envelope, pem)
            elapsed = time.perf_counter() - start
            assert result.created
            if block >= 2:  # the first two blocks warm up
                times[mode].append(elapsed)
    publish.log_version_event, publish.log_key_registered = real
    engine.dispose()
    logged, unlogged = statistics.median(times["logged"]), statistics.median(times["unlogged"])
    return {
        "logged": summary(times["logged"]),
        "unlogged": summary(times["unlogged"]),
        "overhead_p50_ms": round((logged - unlogged) * 1000, 3),
        "ratio": round(logged / unlogged, 3),
    }


class Hashes(list[bytes]):
    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        return [self[index] for index in indexes]


def synthetic_log(url: str, entries: int) -> tuple[Any, Hashes, Checkpoint, SigningKey]:
    """A log of ``entries`` synthetic publish entries, written straight into the tables."""
    from sqlalchemy import insert

    from registry_server.db.log_models import HEAD_ID, LogEntryRecord, LogHash, LogHead
    from registry_server.db.session import create_db_engine, init_schema

    engine = create_db_engine(url, 2)
    init_schema(engine)
    store = Hashes()
    digest = "sha256:" + hashlib.sha256(b"m").hexdigest()
    signer = hashlib.sha256(b"k").hexdigest()
    when = version_event("publish", "a/b", "1.0.0", digest, [signer], _now()).time
    rows = []
    started = time.perf_counter()
    for index in range(entries):
        data = encode_entry(
            version_event(
                "publish", f"bench/c{index % 997}", f"1.0.{index}", digest, [signer], when
            )
        )
        rows.append({"idx": index, "event": "publish", "namespace": "bench",
                     "name": f"bench/c{index % 997}", "version": f"1.0.{index}", "entry": data})  # fmt: skip
        store.extend(hashes_to_store(index, leaf_hash(data), store))
    root = tree_hash(entries, store)
    print(
        f"  built {entries} entries in memory in {time.perf_counter() - started:.1f} s", flush=True
    )
    started = time.perf_counter()
    with engine.begin() as connection:
        for chunk in range(0, len(rows), 50_000):
            connection.execute(insert(LogEntryRecord), rows[chunk : chunk + 50_000])
        hash_rows = [{"idx": index, "hash": value} for index, value in enumerate(store)]
        for chunk in range(0, len(hash_rows), 100_000):
            connection.execute(insert(LogHash), hash_rows[chunk : chunk + 100_000])
        key = SigningKey.generate()
        verifier = NoteVerifier.for_key("bench/log", key.public_key)
        connection.execute(insert(LogHead), [{"id": HEAD_ID, "origin": "bench/log",
                           "verifier_key": verifier.verifier_key(), "size": entries, "root_hash": root,
                           "frontier": b"".join(store[i] for i in frontier_indexes(entries)),
                           "updated_at": _now()}])  # fmt: skip
    print(f"  wrote them to the database in {time.perf_counter() - started:.1f} s", flush=True)
    return engine, store, Checkpoint("bench/log", entries, root), key


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0)


def bench_proofs(url: str, entries: int, samples: int = 2000) -> dict[str, Any]:
    """Proofs from the database at ``entries`` entries, and client verification of them."""
    from registry_server.db.session import read_session
    from registry_server.services import transparency

    engine, store, head, key = synthetic_log(url, entries)
    rng = random.Random(7)
    inclusion_times, consistency_times, verify_times = [], [], []
    note = sign_checkpoint(head, key)
    verifier = NoteVerifier.for_key("bench/log", key.public_key)
    digest = "sha256:" + hashlib.sha256(b"m").hexdigest()
    for sample in range(samples + 50):
        index = rng.randrange(entries)
        old = rng.randrange(1, entries)
        with read_session(engine) as session:
            start = time.perf_counter()
            _size, _root, entry, proof = transparency.inclusion(session, index, None)
            middle = time.perf_counter()
            _second, _root2, cproof = transparency.consistency(session, old, None)
            end = time.perf_counter()
        assert proof == inclusion_proof(entries, index, store)
        assert cproof == consistency_proof(entries, old, store)
        previous = Checkpoint("bench/log", old, tree_hash(old, store))
        begin = time.perf_counter()
        checkpoint = verify_checkpoint(note, verifier)
        verify_extends(previous, checkpoint, cproof)
        verify_logged(entry, index, proof, checkpoint, "publish", f"bench/c{index % 997}",
                      f"1.0.{index}", digest)  # fmt: skip
        finished = time.perf_counter()
        if sample >= 50:
            inclusion_times.append(middle - start)
            consistency_times.append(end - middle)
            verify_times.append(finished - begin)
    engine.dispose()
    return {
        "entries": entries,
        "inclusion_proof": summary(inclusion_times),
        "consistency_proof": summary(consistency_times),
        "client_verification_per_cube": summary(verify_times),
    }


def wrk(url: str, duration: int) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{duration}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, float] = {}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["req_s"] = float(parts[1])
        elif parts[:1] in (["50%"], ["99%"]):
            value = parts[1]
            scale = 1e-3 if value.endswith("us") else 1.0 if value.endswith("ms") else 1000.0
            result[f"p{parts[0][:-1]}_ms"] = float(value.rstrip("usm")) * scale
        elif "Non-2xx" in line:
            result["non_2xx"] = float(parts[-1])
    return result


def bench_tiles(duration: int, runs: int) -> dict[str, Any]:
    """wrk against a full tile vs an 8 KiB blob, on one server (SQLite, local storage)."""
    import httpx

    from tests.registry.conftest import base_env

    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        env = base_env()
        server = start_registry_process(env, data_dir)
        try:
            from registry_server.db.session import create_db_engine, write_session
            from registry_server.services.auth import bootstrap_token

            engine = create_db_engine(f"sqlite:///{data_dir / 'registry.db'}", 1)
            with write_session(engine) as session:
                token = bootstrap_token(session, "tiles", None, 1)
                session.commit()
            engine.dispose()
            headers = {"authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
                for _ in range(256):
                    pem = SigningKey.generate().public_key.to_pem().decode()
                    client.post("/v1/namespaces/tiles/keys", json={"public_key_pem": pem})
                blob = bytes(range(256)) * 32
                digest = "sha256:" + hashlib.sha256(blob).hexdigest()
                client.put(f"/v1/blobs/{digest}", content=blob)
                assert len(client.get("/v1/log/tile/0/000").content) == 8192
            contenders = {
                "tile /v1/log/tile/0/000": f"{server.url}/v1/log/tile/0/000",
                "blob /v1/blobs/<8 KiB>": f"{server.url}/v1/blobs/{digest}",
            }
            results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
            for target in contenders.values():
                wrk(target, 1)  # warm-up
            for _ in range(runs):
                for name, target in contenders.items():
                    results[name].append(wrk(target, duration))
        finally:
            server.stop()
    medians = {
        name: {key: statistics.median(run[key] for run in runs_) for key in runs_[0]}
        for name, runs_ in results.items()
    }
    tile, blob = medians.values()
    medians["ratio tile/blob req/s"] = {"ratio": round(tile["req_s"] / blob["req_s"], 3)}
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--publishes", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-wrk", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"python": sys.version.split()[0]}
    for postgres in [False, True] if args.postgres else [False]:
        name = "postgresql" if postgres else "sqlite"
        print(f"{name}: publish with vs without the log append", flush=True)
        with database(postgres) as url:
            report[f"publish overhead ({name})"] = bench_publish(url, args.publishes)
        print(f"{name}: proofs and verification at {args.entries} entries", flush=True)
        with database(postgres) as url:
            report[f"proofs ({name})"] = bench_proofs(url, args.entries)
    if not args.skip_wrk:
        print("tiles vs blobs (wrk)", flush=True)
        report["tile serving"] = bench_tiles(args.duration, args.runs)
    print(json.dumps(report, indent=2))
    return 0


run: Callable[[], int] = main

if __name__ == "__main__":
    sys.exit(main())
