"""Marketplace pages with 10,000 cubes: server time per page, and throughput under wrk.

Seeds a registry (SQLite by default, or ``--database-url``) with ``--cubes`` cubes through the
registry's own publish service (real signed envelopes, real blobs in the blob store; no HTTP, so
seeding takes minutes, not an hour), plus one cube with two versions of ``--memories`` plaintext
memories for the diff page. Then starts a real server process (one uvicorn worker) and measures:

1. server time per page: the ``Server-Timing`` header each page carries (time to query and render,
   excluding the network), sequential requests, median and p99 of each of ``--runs`` runs after a
   warm-up; the JSON API's view of the same cube is measured alternately as the anchor;
2. wrk: ``wrk -t1 -c64 -d{--wrk-seconds}s --latency`` per page: req/s, p50, p99, errors.

Goal (issue #7): every page's server time < 100 ms with 10,000 cubes.

    python bench/web_pages_bench.py --cubes 10000 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mip import MIP_VERSION  # noqa: E402
from mip.digests import digest_bytes  # noqa: E402
from mip.dsse import sign  # noqa: E402
from mip.keys import SigningKey  # noqa: E402
from mip.manifest import encode_manifest, manifest_from_document  # noqa: E402
from mip.records import write_records  # noqa: E402
from registry_server.db.models import Blob  # noqa: E402
from registry_server.db.session import create_db_engine, init_schema, write_session  # noqa: E402
from registry_server.services.auth import authenticate, bootstrap_token  # noqa: E402
from registry_server.services.blobs import blob_key  # noqa: E402
from registry_server.services.facets import prepare_catalog  # noqa: E402
from registry_server.services.log_key import load_log_signer  # noqa: E402
from registry_server.services.publish import _publish_once  # noqa: E402
from registry_server.services.storage import LocalBlobStore  # noqa: E402
from registry_server.services.transparency import ensure_log  # noqa: E402
from registry_server.settings import Settings  # noqa: E402
from tests.support import start_registry_process  # noqa: E402

WORDS = [
    "kubernetes",
    "runbook",
    "incident",
    "postgres",
    "tuning",
    "memory",
    "agent",
    "scheduler",
    "retrieval",
    "finance",
    "legal",
    "medical",
    "chemistry",
    "physics",
    "history",
    "poetry",
    "support",
    "onboarding",
    "security",
    "compliance",
    "python",
    "rust",
    "sales",
    "travel",
    "cooking",
    "gardening",
    "music",
    "astronomy",
    "law",
    "tax",
    "robotics",
]
LICENSES = ("MIT", "Apache-2.0", "CC-BY-4.0", "CC0-1.0", "BSD-3-Clause", "proprietary")
MODELS = ("acme/tiny-llama", "acme/small-qwen", "acme/mini-phi", "acme/nano-gemma")


def _fingerprint(model_id: str) -> dict[str, Any]:
    seed = digest_bytes(model_id.encode()).removeprefix("sha256:")
    return {
        "model_id": model_id,
        "revision": "main",
        "architecture": "LlamaForCausalLM",
        "config_sha256": seed,
        "tokenizer_sha256": digest_bytes(seed.encode()).removeprefix("sha256:"),
        "dtype": "float16",
        "num_layers": 30,
        "num_attention_heads": 9,
        "num_kv_heads": 3,
        "head_dim": 64,
        "hidden_size": 576,
        "vocab_size": 49152,
    }


def _records(count: int, version: int, stamp: str) -> list[dict[str, Any]]:
    rng = random.Random(count)
    records = []
    for index in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(30))
        tag = rng.choice(WORDS)  # drawn before any skip, so both versions draw the same texts
        # Version 2 edits every 10th memory, drops every 25th and adds a few.
        if version == 2 and index % 25 == 0:
            continue
        if version == 2 and index % 10 == 0:
            text += " (revised)"
        records.append(
            {
                "id": f"m{index}",
                "text": text,
                "tags": [tag],
                "metadata": {"n": index},
                "created": stamp,
                "updated": stamp,
                "version": version,
            }
        )
    if version == 2:
        records += [
            {**records[0], "id": f"new{index}", "text": f"new memory {index}"}
            for index in range(50)
        ]
    return records


def _put_blob(store: LocalBlobStore, session: Any, data: bytes) -> tuple[str, int]:
    digest = digest_bytes(data)
    if session.get(Blob, digest) is None:
        writer = store.writer(blob_key(digest))
        writer.write(data)
        writer.commit()
        session.add(Blob(digest=digest, size=len(data)))
    return digest, len(data)


def seed(data_dir: Path, database_url: str, cubes: int, memories: int) -> dict[str, Any]:
    """Publish ``cubes`` cubes (plus the diff cube) through the publish service."""
    engine = create_db_engine(database_url, 2)
    init_schema(engine)
    prepare_catalog(engine)
    # The transparency log every publish appends to, under the key the server will load.
    signer = load_log_signer(Settings(data_dir=data_dir, database_url=database_url))
    ensure_log(engine, signer.origin, signer.verifier.verifier_key())
    store = LocalBlobStore(data_dir / "blobs")
    key = SigningKey.generate()
    stamp = "2026-01-01T00:00:00Z"
    namespaces = [f"ns{index:03d}" for index in range(max(1, cubes // 100))] + ["bench"]
    with write_session(engine) as session:
        tokens = {ns: bootstrap_token(session, ns, "bench", 30) for ns in namespaces}
        session.commit()
    principals = {}
    with write_session(engine) as session:
        for ns, token in tokens.items():
            principals[ns] = authenticate(session, f"Bearer {token}")
        # A pool of shared blobs, as real registries share blobs across versions.
        plaintext_pool = []
        for index in range(50):
            buffer = __import__("io").BytesIO()
            count = write_records(buffer, _records(20 + index, 1, stamp))
            plaintext_pool.append((*_put_blob(store, session, buffer.getvalue()), count))
        tensor_pool = [_put_blob(store, session, os.urandom(4096)) for _ in range(8)]
        buffers = {}
        for version in (1, 2):
            buffer = __import__("io").BytesIO()
            count = write_records(buffer, _records(memories, version, stamp))
            buffers[version] = (*_put_blob(store, session, buffer.getvalue()), count)
        session.commit()

    rng = random.Random(7)
    started = time.perf_counter()

    def publish(
        name: str, version: str, description: str, parts: list[dict[str, Any]], license_: str
    ) -> None:
        document = {
            "mip_version": MIP_VERSION,
            "name": name,
            "version": version,
            "description": description,
            "license": license_,
            "keywords": rng.sample(WORDS, 3),
            "authors": [{"name": "Bench"}],
            "created": stamp,
            "dependencies": {},
            "parts": parts,
        }
        manifest = manifest_from_document(document)
        envelope = sign(encode_manifest(manifest), [key])
        batch.append((principals[name.split("/")[0]], envelope, manifest))
        if len(batch) >= 250:
            flush()

    def flush() -> None:
        # The publish service's own transaction body, 250 versions per transaction (one commit
        # per version would spend the seeding time in fsync).
        with write_session(engine) as session:
            for principal, envelope, manifest in batch:
                _publish_once(session, principal, envelope, manifest, key.public_key)
            session.commit()
        batch.clear()

    batch: list[Any] = []
    for index in range(cubes):
        namespace = namespaces[index % (len(namespaces) - 1)]
        digest, size, count = rng.choice(plaintext_pool)
        parts: list[dict[str, Any]] = [
            {
                "name": "memories",
                "kind": "plaintext",
                "digest": digest,
                "size": size,
                "count": count,
            }
        ]
        if index % 3 == 0:
            tensor_digest, tensor_size = rng.choice(tensor_pool)
            parts.append(
                {
                    "name": "kv",
                    "kind": "activation",
                    "digest": tensor_digest,
                    "size": tensor_size,
                    "model": _fingerprint(rng.choice(MODELS)),
                    "dtype": "F16",
                    "num_layers": 30,
                    "num_kv_heads": 3,
                    "head_dim": 64,
                    "num_tokens": 128,
                    "token_ids_sha256": "0" * 64,
                }
            )
        description = f"Cube {index}: " + " ".join(rng.sample(WORDS, 12))
        publish(f"{namespace}/cube-{index:05d}", "1.0.0", description, parts, rng.choice(LICENSES))
    for version, number in (("1.0.0", 1), ("1.1.0", 2)):
        digest, size, count = buffers[number]
        parts = [
            {
                "name": "memories",
                "kind": "plaintext",
                "digest": digest,
                "size": size,
                "count": count,
            }
        ]
        publish("bench/handbook", version, "The diff benchmark's cube.", parts, "MIT")
    flush()
    seconds = time.perf_counter() - started
    with engine.begin() as connection:
        # Popularity: a skewed download distribution, so "most downloaded" is a real ordering.
        connection.execute(
            text(
                "UPDATE cube SET downloads = (id * 7919) % 5000 "
                "+ CASE WHEN id % 97 = 0 THEN 100000 ELSE 0 END"
            )
        )
    engine.dispose()
    return {"cubes": cubes + 1, "versions": cubes + 2, "seed_seconds": round(seconds, 1)}


def _server_ms(response: httpx.Response) -> float:
    match = re.search(r"dur=([0-9.]+)", response.headers.get("server-timing", ""))
    return float(match.group(1)) if match else float("nan")


def measure(client: httpx.Client, path: str, requests: int) -> dict[str, float]:
    server, wall = [], []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers={"accept": "text/html"})
        wall.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        server.append(_server_ms(response))
    server.sort()
    wall.sort()
    return {
        "server_p50": statistics.median(server) if server[0] == server[0] else float("nan"),
        "server_p99": server[int(len(server) * 0.99) - 1],
        "wall_p50": statistics.median(wall),
        "wall_p99": wall[int(len(wall) * 0.99) - 1],
    }


def run_wrk(url: str, seconds: int) -> dict[str, Any]:
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c64",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-H",
            "accept: text/html",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([0-9.]+)(us|ms|s)", output, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def measure_uncached_diff(data_dir: Path, database_url: str, runs: int) -> dict[str, float]:
    """The diff page's first view: diff computed from the blobs (no cache) and rendered."""
    from registry_server.services.version_diff import diff_versions
    from registry_server.web.routes import templates

    engine = create_db_engine(database_url, 1)
    store = LocalBlobStore(data_dir / "blobs")
    template = templates.env.get_template("diff.html")
    samples = []
    try:
        for index in range(runs + 1):
            started = time.perf_counter()
            diff = diff_versions(engine, store, "bench", "handbook", "1.0.0", "1.1.0", cache=None)
            template.render(diff=diff, title="diff")
            if index:  # the first is the warm-up
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        engine.dispose()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "max_ms": round(max(samples), 2),
        "memories_per_version": diff.unchanged_total + diff.changed_total + diff.removed_total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cubes", type=int, default=10_000)
    parser.add_argument("--memories", type=int, default=2_000, help="memories per diff version")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40, help="sequential requests per run")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--data-dir", type=Path, help="reuse a directory seeded by an earlier --keep run (SQLite)"
    )
    parser.add_argument(
        "--output", type=Path, default=REPO / "bench" / "results" / "web_pages.json"
    )
    args = parser.parse_args()

    reuse = args.data_dir is not None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="web-bench-"))
    database_url = args.database_url or f"sqlite:///{data_dir / 'registry.db'}"
    if reuse:
        seeded = {"cubes": args.cubes + 1, "versions": args.cubes + 2, "seed_seconds": "reused"}
    else:
        print(f"seeding {args.cubes} cubes into {database_url.split('@')[-1]} ...", flush=True)
        seeded = seed(data_dir, database_url, args.cubes, args.memories)
        print(f"seeded in {seeded['seed_seconds']} s; data in {data_dir}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MEMSTORE_DATABASE_URL": database_url}
    server = start_registry_process(env, data_dir)
    url = server.url
    middle = args.cubes // 2
    namespace = f"ns{middle % max(1, args.cubes // 100):03d}"
    pages = {
        "home": "/",
        "search (words)": "/search?q=kubernetes+runbook",
        "search (filters)": "/search?kind=activation&license=mit&model=acme/tiny-llama",
        "search (no words)": "/search?q=%21%21",
        "cube page": f"/cubes/{namespace}/cube-{middle:05d}",
        "namespace page": f"/namespaces/{namespace}",
        "diff (2,000 memories)": "/cubes/bench/handbook/diff?from=1.0.0&to=1.1.0",
    }
    anchor = ("JSON API: GET /v1/cubes/{ns}/{name}", f"/v1/cubes/{namespace}/cube-{middle:05d}")
    results: dict[str, Any] = {"pages": {}, "wrk": {}}
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for path in [*pages.values(), anchor[1]]:
                measure(client, path, 10)  # warm-up
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in [*pages, anchor[0]]}
            for _ in range(args.runs):
                # Alternate every page with the anchor within each run.
                for name, path in pages.items():
                    runs[name].append(measure(client, path, args.requests))
                    runs[anchor[0]].append(measure(client, anchor[1], args.requests))
            for name, samples in runs.items():
                results["pages"][name] = {
                    key: round(statistics.median(sample[key] for sample in samples), 2)
                    for key in samples[0]
                }
        if shutil.which("wrk"):
            for name, path in [anchor, *pages.items()]:
                results["wrk"][name] = run_wrk(url + path, args.wrk_seconds)
                # Let the requests wrk left queued drain before the next page's run.
                httpx.get(url + "/healthz", timeout=60)
                print(f"wrk {name}: {results['wrk'][name]}", flush=True)
        else:
            print("wrk not installed (scripts/browsers installs it): skipping the load runs")
    finally:
        server.stop()
        if not args.keep and not reuse:
            shutil.rmtree(data_dir, ignore_errors=True)

    if args.keep or reuse:
        results["diff_uncached"] = measure_uncached_diff(data_dir, database_url, args.runs)
        print(f"diff, uncached: {results['diff_uncached']}", flush=True)

    import fastapi
    import jinja2
    import sqlalchemy

    results["environment"] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "fastapi": fastapi.__version__,
        "jinja2": jinja2.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        **seeded,
        "runs": args.runs,
        "requests_per_run": args.requests,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print()
    print(
        "| page | server p50 ms | server p99 ms | client p50 ms | wrk req/s | wrk p50 ms | wrk p99 ms | errors |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, numbers in results["pages"].items():
        load = results["wrk"].get(name, {})
        print(
            f"| {name} | {numbers['server_p50']} | {numbers['server_p99']} | {numbers['wall_p50']} | "
            f"{load.get('rps', '-')} | {load.get('p50_ms', '-')} | {load.get('p99_ms', '-')} | "
            f"{load.get('non_2xx', '-')} |"
        )
    print(f"\n{json.dumps(results['environment'])}")


if __name__ == "__main__":
    main()
