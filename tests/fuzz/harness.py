"""Fuzz targets of the readers of untrusted bytes, each input under a time and memory budget.

A target takes bytes and either returns or raises one of its *refusals* (the protocol's
``MIPError``, the CLI's ``UsageError``); anything else is a finding, and so is an input that takes
more than ``TIME_BUDGET_S`` seconds or allocates more than ``MEMORY_BUDGET_BYTES`` (a slow or hungry
input is a denial of service, issue #15). Seeds are the golden vectors of ``spec/vectors``.

Used by ``tests/fuzz/test_fuzz.py`` (a short run in CI) and ``bench/fuzz_mip.py`` (the long,
coverage-guided run; findings and hours in docs/benchmarks/fuzzing.md).
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from memos_client.errors import UsageError
from mip.errors import MIPError

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "spec" / "vectors"
#: Per input: more is a finding (issue #15: "e.g. 1 s, 256 MB").
TIME_BUDGET_S = 1.0
MEMORY_BUDGET_BYTES = 256 << 20

LOCKFILE_SEED = b"""version = 1
index-url = "http://127.0.0.1:8700"
requested = ["alice/cooking>=1"]

[trust]
alice = ["3f0c8a6be1b6a1c2f8e8b1b6f5d3c7a9e0d4b2a1c3e5f7a9b1d3f5a7c9e1b3d5"]

[[cube]]
name = "alice/cooking"
version = "1.2.0"
manifest-digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
signers = ["3f0c8a6be1b6a1c2f8e8b1b6f5d3c7a9e0d4b2a1c3e5f7a9b1d3f5a7c9e1b3d5"]
dependencies = { "bob/spices" = ">=1" }
blobs = [{ part = "memories", digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111", size = 1234 }]
"""


class BudgetError(AssertionError):
    """An input took more time or memory than a reader may spend on it."""


def _in_file(data: bytes, name: str, use: Callable[[Path], object]) -> None:
    with tempfile.TemporaryDirectory(prefix="mip-fuzz-") as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        use(path)


def bundle_reader(data: bytes) -> None:
    """Every check ``memos verify`` runs, in its order (MIP-1 §8.3)."""
    from mip.container import open_bundle
    from mip.dsse import verify
    from mip.errors import SignatureError
    from mip.keys import PublicKey

    key = PublicKey.from_pem((VECTORS / "test-key.pub").read_bytes())

    def check(path: Path) -> None:
        with open_bundle(path) as bundle:
            # A mutated manifest is unsigned: the rest must still be safe to run.
            with contextlib.suppress(SignatureError):
                verify(bundle.envelope, {key.key_id: key})
            bundle.verify_blobs()
            bundle.check_contents()

    _in_file(data, "fuzz.memcube", check)


def manifest_decoder(data: bytes) -> None:
    """``decode_manifest`` and the download preview (MIP-1 §5)."""
    from mip.manifest import decode_manifest, preview_manifest

    preview_manifest(data)
    decode_manifest(data)


def envelope_decoder(data: bytes) -> None:
    """``parse_envelope`` then verification against the test key (MIP-1 §6)."""
    from mip.dsse import parse_envelope, verify
    from mip.keys import PublicKey

    key = PublicKey.from_pem((VECTORS / "test-key.pub").read_bytes())
    verify(parse_envelope(data), {key.key_id: key})


def safetensors_header(data: bytes) -> None:
    """The safetensors header rules (MIP-1 §7.4) and the runtime's snapshot reader (§7.2)."""
    import io

    from memos_client.runtime.activation.snapshot_file import open_snapshot
    from mip.tensors import read_header

    read_header(io.BytesIO(data), len(data))
    _in_file(data, "fuzz.safetensors", open_snapshot)


def lockfile_parser(data: bytes) -> None:
    """``memos.lock`` (``memos sync``)."""
    from memos_client.install.lockfile import read_lockfile

    _in_file(data, "memos.lock", read_lockfile)


#: name -> (target, seed inputs, refusals).
TARGETS: dict[str, tuple[Callable[[bytes], None], list[Path | bytes], tuple[type[Exception], ...]]] = {
    "bundle": (
        bundle_reader,
        [VECTORS / "valid.memcube", VECTORS / "valid-all-kinds.memcube", *sorted((VECTORS / "invalid").glob("*.memcube"))[:12]],
        (MIPError,),
    ),
    "manifest": (manifest_decoder, [VECTORS / "manifest.json"], (MIPError,)),
    "envelope": (envelope_decoder, [VECTORS / "envelope.json"], (MIPError,)),
    "safetensors": (
        safetensors_header,
        [VECTORS / "activation.safetensors", VECTORS / "adapter_model.safetensors"],
        (MIPError,),
    ),
    "lockfile": (lockfile_parser, [LOCKFILE_SEED], (UsageError,)),
}  # fmt: skip


def seeds(name: str) -> list[bytes]:
    """The seed inputs of a target, as bytes."""
    return [item if isinstance(item, bytes) else item.read_bytes() for item in TARGETS[name][1]]


_warm: set[str] = set()


def run_with_budget(name: str, data: bytes) -> float:
    """Run one input; return its seconds. Raise :class:`BudgetError` past a budget, and let any
    exception that is not one of the target's refusals through (a finding)."""
    target, _, refusals = TARGETS[name]
    if name not in _warm:
        # Imports and first-call caches are paid once per process, not by an input.
        with contextlib.suppress(*refusals):
            target(seeds(name)[0])
        _warm.add(name)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with contextlib.suppress(*refusals):
            target(data)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if elapsed > TIME_BUDGET_S:
        raise BudgetError(f"{name}: an input of {len(data)} bytes took {elapsed:.2f} s")
    if peak > MEMORY_BUDGET_BYTES:
        raise BudgetError(f"{name}: an input of {len(data)} bytes allocated {peak >> 20} MiB")
    return elapsed


def mutate(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    """One to four random edits: flip, set to an interesting value, insert, delete, truncate,
    splice with another corpus entry, or overwrite with a huge little-endian integer."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        position = rng.randrange(len(out) + 1)
        if choice == 0 and out:
            out[min(position, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1 and out:
            out[min(position, len(out) - 1)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0x22, 0x5C))
        elif choice == 2:
            out[position:position] = rng.randbytes(rng.randint(1, 16))
        elif choice == 3:
            del out[position : position + rng.randint(1, 64)]
        elif choice == 4:
            del out[position:]
        elif choice == 5:
            other = rng.choice(corpus)
            start = rng.randrange(len(other) + 1)
            out[position:] = other[start : start + rng.randint(1, 4096)]
        else:
            value = rng.choice((2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, 10**9))
            width = rng.choice((2, 4, 8))
            out[position : position + width] = (value % (1 << (8 * width))).to_bytes(
                width, "little"
            )
    return bytes(out)
