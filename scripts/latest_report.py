"""The one-screen report of scripts/check-latest: what moved past the lock and what broke.

    python scripts/latest_report.py --lock requirements/lock.txt --latest LATEST.txt \
        --junit JUNIT.xml --step NAME=RC:LOG ...

Failures that share a first message line are grouped (one deprecation usually breaks dozens of
tests the same way). Exits 1 when anything broke.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

from dependency_locks import LockError, read_lock

#: How many failure groups and moved packages the screen has room for.
MAX_GROUPS = 12
MAX_LINE = 110


def _clip(text: str, width: int = MAX_LINE) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def moved_packages(lock: Path, latest: Path) -> list[str]:
    """``name old -> new`` for each package whose newest allowed release differs from the lock."""
    old = {pin.name: pin.version for pin in read_lock(lock)}
    new = {pin.name: pin.version for pin in read_lock(latest)}
    lines = [f"{name} {old[name]} -> {new[name]}" for name in sorted(old.keys() & new.keys())]
    lines = [line for line in lines if line.split()[1] != line.split()[3]]
    lines += [f"{name} (new) {new[name]}" for name in sorted(new.keys() - old.keys())]
    lines += [f"{name} {old[name]} (gone)" for name in sorted(old.keys() - new.keys())]
    return lines


def failure_groups(junit: Path) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Counts by outcome, and failing test ids grouped by the first line of their message."""
    root = ElementTree.parse(junit).getroot()  # noqa: S314  (pytest's own file, written just now)
    counts: dict[str, int] = defaultdict(int)
    groups: dict[str, list[str]] = defaultdict(list)
    for case in root.iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            counts["failed" if problem.tag == "failure" else "errors"] += 1
            message = (problem.get("message") or problem.text or problem.tag).strip()
            groups[message.splitlines()[0] if message else problem.tag].append(test_id)
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts, groups


def render(
    moved: list[str], steps: list[tuple[str, int, Path]], junit: Path | None
) -> tuple[list[str], bool]:
    """The report's lines and whether anything broke."""
    lines = [f"== newest releases the ranges allow: {len(moved)} package(s) moved past the lock"]
    shown = ", ".join(moved)
    lines += [f"   {_clip(shown, MAX_LINE * 3)}" if moved else "   (none: the lock is current)"]
    broke = False
    for name, code, log in steps:
        if code == 0:
            lines.append(f"== {name}: ok")
            continue
        broke = True
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        lines.append(f"== {name}: FAILED (exit {code}); log: {log}")
        lines += [f"   {_clip(line)}" for line in tail[-3:]]
    if junit is not None and junit.is_file():
        counts, groups = failure_groups(junit)
        summary = ", ".join(f"{count} {what}" for what, count in sorted(counts.items()))
        lines.append(f"   {summary}")
        ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
        for message, tests in ordered[:MAX_GROUPS]:
            more = f" (+{len(tests) - 1} more)" if len(tests) > 1 else ""
            lines.append(f" {len(tests):4d}x {_clip(message, MAX_LINE - 7)}")
            lines.append(f"       e.g. {_clip(tests[0] + more, MAX_LINE - 12)}")
        if len(ordered) > MAX_GROUPS:
            lines.append(f"       ... {len(ordered) - MAX_GROUPS} more groups in {junit}")
        broke = broke or bool(groups)
    elif junit is not None:
        broke = True
        lines.append(f"   no JUnit report at {junit}: pytest did not run to the end")
    return lines, broke


def main(argv: list[str] | None = None) -> int:
    """Print the report; exit 1 when a step failed or a test broke."""
    parser = argparse.ArgumentParser(prog="latest_report.py", description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--latest", type=Path, required=True)
    parser.add_argument("--junit", type=Path)
    parser.add_argument("--step", action="append", default=[], help="NAME=EXIT_CODE:LOG")
    args = parser.parse_args(argv)
    steps = []
    for step in args.step:
        name, _, rest = step.partition("=")
        code, _, log = rest.partition(":")
        steps.append((name, int(code), Path(log)))
    try:
        moved = moved_packages(args.lock, args.latest)
    except LockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    lines, broke = render(moved, steps, args.junit)
    print("\n".join(lines))
    print(
        "== verdict: "
        + ("something broke (above)" if broke else "nothing broke: the lock can move")
    )
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
