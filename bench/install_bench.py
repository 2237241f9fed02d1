"""Benchmark `memos install` against `pip install` and `uv pip install` (issue #4).

Scenarios, each run side by side in one process, contenders alternated, medians of --runs runs
after one warm-up run:

1. cold install of one cube with a 100 MB blob from a local registry, vs pip and uv installing a
   100 MB wheel from a local ``pypi-server run --hash-algo off`` (no cache for any tool: a fresh
   MEMOS_HOME + MEMOS_CACHE_DIR, ``pip --no-cache-dir``, ``uv --no-cache``; a fresh target each
   run). Goal: memos <= uv.
2. a chain of 30 cubes of 0.5 MB, each depending on the next, vs the same chain of wheels.
   Goal: memos faster than both.
3. warm reinstall of the 100 MB cube (cache full, cube uninstalled first): goal <= 0.25 s wall,
   process start-up included.

The servers are started by this script. Cube payloads are KV snapshots (activation parts) of
random float16 data, so neither side can compress them; wheels carry the same number of bytes.

    python bench/install_bench.py [--runs 5] [--size-mb 100] [--chain 30] [--workdir DIR]
                                  [--scenarios cold,chain,warm] [--json FILE]

memos and pip run as installed copies run (bench/installed.py): `memos` is the console script pip
writes, the project byte-compiled, and an interpreter without the editable install's import hook (this checkout's virtual environment loads
setuptools' editable finder into every process, ~10 ms at start-up, which an installed copy does
not). uv is a native binary and is told to install into that same interpreter's environment.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_setup import admin_token, anchors_on_path, bench_parser, child_env
from installed import compile_project, installed_python, memos_script
from kv_snapshot import write_kv_snapshot

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import answers, free_port, start_registry_process, wait_until  # noqa: E402

# -- payloads -------------------------------------------------------------------------------------


def cube_source(root: Path, name: str, size_bytes: int, dependencies: dict[str, str]) -> Path:
    """A cube source directory whose one part is a KV snapshot of about ``size_bytes``."""
    source = root / name.replace("/", "-")
    deps = "".join(f'"{k}" = "{v}"\n' for k, v in dependencies.items())
    source.mkdir(parents=True, exist_ok=True)
    (source / "memcube.toml").write_text(
        f'[cube]\nname = "{name}"\nversion = "1.0.0"\ncreated = 2026-01-01T00:00:00Z\n'
        f"\n[dependencies]\n{deps}"
    )
    seed = abs(hash(name)) % (1 << 32)
    write_kv_snapshot(source / "activations" / "snapshot.safetensors", size_bytes, seed)
    return source


#: The example cube (examples/handbook: plaintext memories, no blobs to speak of), renamed.
HANDBOOK = "bench/handbook"


def handbook_source(root: Path) -> Path:
    """examples/handbook under the benchmark's namespace."""
    source = root / HANDBOOK.replace("/", "-")
    shutil.copytree(REPO / "examples" / "handbook", source, dirs_exist_ok=True)
    toml = source / "memcube.toml"
    toml.write_text(
        toml.read_text().replace('name = "demo/memos-handbook"', f'name = "{HANDBOOK}"')
    )
    return source


def make_wheel(directory: Path, project: str, size_bytes: int, requires: list[str]) -> Path:
    """A pure-Python wheel carrying ``size_bytes`` of random data (stored, as the bundle is)."""
    module = project.replace("-", "_")
    dist_info = f"{module}-1.0.0.dist-info"
    payload = np.random.default_rng(abs(hash(project)) % (1 << 32)).bytes(size_bytes)
    metadata = f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0.0\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{module}/__init__.py": b"",
        f"{module}/payload.bin": payload,
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    import base64
    import hashlib

    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    files[f"{dist_info}/RECORD"] = record.getvalue().encode()
    path = directory / f"{module}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


# -- measuring ------------------------------------------------------------------------------------


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one command, process start-up included; fail loudly."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, err = process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed: {err.decode()[-2000:]}")
    return elapsed


def run_alternating(
    contenders: dict[str, Callable[[int], float]], runs: int
) -> dict[str, list[float]]:
    """Warm-up once each, then ``runs`` rounds A B C A B C ..."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():
        run(-1)
    for index in range(runs):
        for name, run in contenders.items():
            times[name].append(run(index))
    return times


def summarize(title: str, times: dict[str, list[float]]) -> dict[str, object]:
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{title}")
    for name, values in times.items():
        ratio = medians[name] / medians["memos"]
        print(
            f"  {name:<6} median {medians[name]:.3f} s  (min {min(values):.3f}, max {max(values):.3f})"
            f"  = {ratio:.2f}x memos"
        )
    return {"title": title, "medians_s": medians, "runs_s": times}


def warm_reinstall(
    work: Path, python: str, memos: str, index_url: str, runs: int
) -> dict[str, object]:
    """One home and cache, filled once; each run uninstalls the cube (untimed) first.

    Besides the 100 MB cube (no memories), ``memos-memories`` reinstalls the handbook cube, whose
    9 plaintext memories go through the runtime's store (embedded by MiniLM at the first, untimed
    install).
    """
    warm = work / "memos-warm"
    warm.mkdir(parents=True, exist_ok=True)
    warm_env = child_env(MEMOS_HOME=str(warm / "home"), MEMOS_CACHE_DIR=str(warm / "cache"))
    install = [memos, "install", "--index-url", index_url]
    uninstall = [memos, "uninstall"]
    timed([*install, "bench/big", HANDBOOK], warm_env, warm)
    contenders = {
        "memos": ("bench/big", "bench/big"),
        "memos-pinned": ("bench/big", "bench/big==1.0.0"),
        "memos-memories": (HANDBOOK, f"{HANDBOOK}==1.0.0"),
        "python": (None, None),
    }
    warm_times: dict[str, list[float]] = {name: [] for name in contenders}
    for index in range(-1, runs):
        for name, (cube, requirement) in contenders.items():
            if cube is None:
                seconds = timed([python, "-c", "pass"], warm_env, warm)
            else:
                timed([*uninstall, cube], warm_env, warm)
                seconds = timed([*install, requirement], warm_env, warm)
            if index >= 0:
                warm_times[name].append(seconds)
    return summarize("warm reinstall (uninstalled first)", warm_times)


def main() -> None:
    parser = bench_parser(__doc__, "/tmp/memstore-install-bench")
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--chain", type=int, default=30)
    parser.add_argument("--chain-mb", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    parser.add_argument(
        "--scenarios",
        default="cold,chain,warm",
        help="Comma-separated subset of cold (100 MB), chain and warm to run.",
    )
    args = parser.parse_args()
    anchors_on_path()
    scenarios = set(args.scenarios.split(","))
    unknown = scenarios - {"cold", "chain", "warm"}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    compile_project()

    from memos_client.authoring.packer import pack
    from memos_client.registry.client import RegistryClient
    from mip.container import open_bundle
    from mip.keys import SigningKey

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    (work / "wheels").mkdir(parents=True)
    size = int(args.size_mb * 1_000_000)
    chain_size = int(args.chain_mb * 1_000_000)
    # memos and pip are timed with this interpreter; the servers run on this one.
    python = installed_python(work / "python")
    memos = memos_script(python)

    # Registry + cubes; pypi-server starts while the registry comes up.
    pypi_port = free_port()
    pypi = subprocess.Popen(
        [
            "pypi-server",
            "run",
            "-p",
            str(pypi_port),
            "-i",
            "127.0.0.1",
            "--hash-algo",
            "off",
            str(work / "wheels"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    simple_url = f"http://127.0.0.1:{pypi_port}/simple/"
    registry = None
    try:
        (work / "registry").mkdir()
        registry = start_registry_process(child_env(), work / "registry")
        index_url = registry.url
        wait_until(lambda: pypi.poll() is not None or answers(simple_url), 60, simple_url)
        if pypi.poll() is not None:
            raise RuntimeError(f"pypi-server exited with {pypi.returncode}")
        token = admin_token(work / "registry", child_env(), "bench")
        key = SigningKey.generate()
        sources = work / "sources"
        cubes = [("bench/big", size, {})]
        if "warm" in scenarios:
            cubes.append((HANDBOOK, 0, {}))
        chain = args.chain if "chain" in scenarios else 0
        cubes += [
            (
                f"bench/chain-{i}",
                chain_size,
                {f"bench/chain-{i + 1}": ">=1"} if i + 1 < chain else {},
            )
            for i in range(chain)
        ]
        print(f"building {len(cubes)} cubes and wheels ...", flush=True)
        with RegistryClient(index_url, token) as client:
            first = True
            for name, nbytes, deps in reversed(cubes):
                bundle_path = work / "bundles" / (name.replace("/", "-") + ".memcube")
                if name == HANDBOOK:
                    source = handbook_source(sources)
                else:
                    source = cube_source(sources, name, nbytes, deps)
                pack(source, bundle_path, [key])
                with open_bundle(bundle_path) as bundle:
                    for digest, entry in bundle.blobs.items():
                        client.upload_blob(
                            digest, entry.size, lambda d=digest, b=bundle: b.open_blob(d)
                        )
                    pem = key.public_key.to_pem().decode() if first else None
                    client.publish(bundle.envelope.to_json(), pem)
                first = False
        make_wheel(work / "wheels", "bench-big", size, [])
        for i in range(chain):
            requires = [f"bench-chain-{i + 1}>=1"] if i + 1 < chain else []
            make_wheel(work / "wheels", f"bench-chain-{i}", chain_size, requires)

        def memos_cold(requirement: str) -> Callable[[int], float]:
            def run(index: int) -> float:
                root = work / "memos-runs" / f"{requirement.replace('/', '-')}-{index}"
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir(parents=True)
                env = child_env(MEMOS_HOME=str(root / "home"), MEMOS_CACHE_DIR=str(root / "cache"))
                seconds = timed(
                    [
                        memos,
                        "install",
                        "--index-url",
                        index_url,
                        requirement,
                    ],
                    env,
                    root,
                )
                shutil.rmtree(root, ignore_errors=True)
                return seconds

            return run

        installers = {
            "pip": [
                *(python, "-m", "pip", "install", "--no-cache-dir"),
                *("--disable-pip-version-check", "--no-compile"),
            ],
            "uv": ["uv", "pip", "install", "--no-cache", "--python", python],
        }

        def cold(installer: str, project: str) -> Callable[[int], float]:
            """A cold ``pip``/``uv`` install of ``project`` into a fresh --target directory."""

            def run(index: int) -> float:
                target = work / f"{installer}-runs" / f"{project}-{index}"
                shutil.rmtree(target, ignore_errors=True)
                command = [*installers[installer], "--index-url", simple_url]
                seconds = timed([*command, "--target", str(target), project], child_env(), work)
                shutil.rmtree(target, ignore_errors=True)
                return seconds

            return run

        results = []
        cold_scenarios = (
            # scenario, progress line, title, the cube and the project installed (its top)
            ("cold", "cold install, 100 MB ...", f"cold install of one {args.size_mb:g} MB cube / wheel", "big"),
            ("chain", "cold install, chain ...", f"cold install of a chain of {args.chain} cubes / wheels of {args.chain_mb:g} MB", "chain-0"),
        )  # fmt: skip
        for scenario, progress, title, top in cold_scenarios:
            if scenario not in scenarios:
                continue
            print(progress, flush=True)
            contenders = {
                "memos": memos_cold(f"bench/{top}"),
                "uv": cold("uv", f"bench-{top}"),
                "pip": cold("pip", f"bench-{top}"),
            }
            results.append(summarize(title, run_alternating(contenders, args.runs)))
        if "warm" in scenarios:
            results.append(warm_reinstall(work, python, memos, index_url, args.runs))
    finally:
        if registry is not None:
            registry.stop()
        pypi.terminate()
        pypi.wait()

    versions = {
        "python": platform.python_version(),
        "pip": subprocess.run(
            [python, "-m", "pip", "--version"], capture_output=True, text=True
        ).stdout.split()[1],
        "uv": subprocess.run(["uv", "--version"], capture_output=True, text=True).stdout.split()[1],
        "cpus": os.cpu_count(),
    }
    print("\nversions:", json.dumps(versions))
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "results": results}, indent=2))


if __name__ == "__main__":
    main()
