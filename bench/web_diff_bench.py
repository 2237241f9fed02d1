"""Diff pages of large cubes: the work one anonymous page view causes (issue #15).

Publishes ``--versions`` versions of one cube over HTTP, each with ``--memories`` plaintext
memories of ``--text-bytes`` bytes (about 20 MB a version by default), each changing 1 % of the
memories of the one before, to a real registry process running the code of ``--repo``. Then
requests the diff page of every pair of versions once (each pair is uncached: the server's diff
cache is keyed by the pair) and the cube page, and reports the ``Server-Timing`` of each: medians
and the worst. Run it once with ``--repo`` pointing at a checkout of the old code and once at this
one for the side-by-side numbers (publish time is reported too: the new code derives summaries
when a version is published).

    python bench/web_diff_bench.py --repo /path/to/old/checkout
    python bench/web_diff_bench.py --repo .
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mip.keys import SigningKey  # noqa: E402
from tests.support import start_registry_process  # noqa: E402
from tests.web.seeding import CubeSpec, create_token, publish_cube  # noqa: E402

_TIMING = re.compile(r"app;dur=([0-9.]+)")


def server_ms(response: httpx.Response) -> float:
    """The ``Server-Timing`` of a page, in milliseconds."""
    assert response.status_code == 200, response.text[:300]
    match = _TIMING.search(response.headers["server-timing"])
    assert match is not None
    return float(match.group(1))


def main() -> None:
    """Seed, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose server runs")
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--memories", type=int, default=20_000)
    parser.add_argument("--text-bytes", type=int, default=1_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="web-diff-bench-"))
    data = root / "data"
    data.mkdir()
    token = create_token(f"sqlite:///{data / 'registry.db'}", "big")
    env = {**os.environ, "PYTHONPATH": str(args.repo.resolve())}
    server = start_registry_process(env, data)
    key = SigningKey.generate()
    filler = "x" * args.text_bytes
    publish_seconds = []
    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            for number in range(args.versions):
                changed = set(range(number * args.memories // 100))
                memories = [
                    {
                        "id": f"m{i}",
                        "text": f"memory {i} {'v' + str(number) if i in changed else ''} {filler}",
                    }
                    for i in range(args.memories)
                ]
                spec = CubeSpec("big/cube", f"1.0.{number}", "Big.", memories=memories)
                started = time.perf_counter()
                publish_cube(client, token, key, spec, root / "src")
                publish_seconds.append(time.perf_counter() - started)
            diffs = []
            for old, new in itertools.combinations(range(args.versions), 2):
                url = f"/cubes/big/cube/diff?from=1.0.{old}&to=1.0.{new}"
                diffs.append(server_ms(client.get(url, headers={"accept": "text/html"})))
            cube = server_ms(client.get("/cubes/big/cube", headers={"accept": "text/html"}))
        size = (root / "src" / "big-cube-1.0.0.memcube").stat().st_size
    finally:
        server.stop()
    print(
        json.dumps(
            {
                "repo": str(args.repo.resolve()),
                "version_mb": round(size / 1e6, 1),
                "uncached_diff_ms_median": round(statistics.median(diffs), 1),
                "uncached_diff_ms_max": round(max(diffs), 1),
                "cube_page_ms": round(cube, 1),
                "publish_s_median": round(statistics.median(publish_seconds), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
