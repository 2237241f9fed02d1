"""The long fuzz run of the readers of untrusted bytes (issue #15), coverage-guided.

For each target of ``tests/fuzz/harness.py`` (bundle reader, manifest and envelope decoders,
safetensors/snapshot headers, lockfile parser): mutate an input of the corpus (seeded from
``spec/vectors``), run it under the harness's budget (1 s, 256 MB), and keep it in the corpus when
it executes a line of ``mip``/``memos_client`` no earlier input reached (line coverage through
``sys.settrace``). A crash or an overrun is a finding: its input and traceback are written to
``--findings``. Results (executions, corpus, lines, findings) go to docs/benchmarks/fuzzing.md.

    python bench/fuzz_mip.py --minutes 60 [--targets bundle,manifest] [--findings DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.harness import TARGETS, mutate, run_with_budget, seeds  # noqa: E402

_WATCHED = (str(ROOT / "mip"), str(ROOT / "memos_client"))


def _covered(name: str, data: bytes) -> tuple[set[tuple[str, int]], BaseException | None]:
    lines: set[tuple[str, int]] = set()

    def tracer(frame: FrameType, event: str, _arg: Any) -> Any:
        filename = frame.f_code.co_filename
        if not filename.startswith(_WATCHED):
            return None
        if event == "line":
            lines.add((filename, frame.f_lineno))
        return tracer

    sys.settrace(tracer)
    try:
        run_with_budget(name, data)
        problem = None
    except Exception as exc:  # a finding: anything the harness lets through
        problem = exc
    finally:
        sys.settrace(None)
    return lines, problem


def fuzz(name: str, seconds: float, rng: random.Random, findings: Path) -> dict[str, int]:
    """Fuzz one target for ``seconds``; return its counts."""
    corpus = seeds(name)
    seen: set[tuple[str, int]] = set()
    for data in corpus:
        seen |= _covered(name, data)[0]
    executions = found = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng.choice(corpus), rng, corpus)
        lines, problem = _covered(name, data)
        executions += 1
        if problem is not None:
            found += 1
            stem = findings / f"{name}-{hashlib.sha256(data).hexdigest()[:16]}"
            stem.with_suffix(".input").write_bytes(data)
            stem.with_suffix(".txt").write_text(
                "".join(traceback.format_exception(problem)), "utf-8"
            )
        elif not lines <= seen:
            seen |= lines
            corpus.append(data)
    return {"executions": executions, "corpus": len(corpus), "lines": len(seen), "findings": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="Total, split over targets.")
    parser.add_argument("--targets", default=",".join(TARGETS), help="Comma-separated.")
    parser.add_argument("--findings", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = [name for name in args.targets.split(",") if name]
    args.findings.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    print("| target | minutes | executions | corpus | lines covered | findings |")
    print("|---|---|---|---|---|---|")
    total = 0
    for name in names:
        minutes = args.minutes / len(names)
        counts = fuzz(name, minutes * 60, rng, args.findings)
        total += counts["findings"]
        print(
            f"| {name} | {minutes:.1f} | {counts['executions']:,} | {counts['corpus']:,} | "
            f"{counts['lines']:,} | {counts['findings']} |",
            flush=True,
        )
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
