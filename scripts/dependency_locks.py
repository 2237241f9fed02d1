"""Reads and checks the dependency locks in requirements/ (uv-compiled, hash-pinned).

    python scripts/dependency_locks.py check-lock requirements/lock.txt [--pyproject FILE]
        every entry pinned with hashes; no CUDA package; torch is a +cpu build; every range in
        pyproject.toml (every extra) satisfied. scripts/lock runs it before replacing a lock.
    python scripts/dependency_locks.py check-venv requirements/lock.txt
        the running interpreter's environment holds exactly the lock (plus memstore itself).
        scripts/bootstrap runs it last.
    python scripts/dependency_locks.py floors NAME... [--pyproject FILE]
        prints NAME==<lower bound> for each, as pyproject.toml states it (for requirements/lowest.txt).

Each problem is one `error:` line on stderr; any problem exits 1.
"""

from __future__ import annotations

import argparse
import re
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from importlib.metadata import distributions
from pathlib import Path
from typing import NamedTuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PROJECT = "memstore"
#: Packages of NVIDIA's CUDA stack, which PyPI's default (CUDA) torch wheels pull in.
CUDA_PACKAGE = re.compile(r"^(nvidia-.*|cuda-.*|triton|pytorch-triton.*)$")
REPO = Path(__file__).resolve().parents[1]


class Pin(NamedTuple):
    """One entry of a lock: a canonical name pinned to one version, with its hashes."""

    name: str
    version: str
    hashes: tuple[str, ...]
    line: int


class LockError(Exception):
    """The lock file cannot be read at all."""


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with backslash continuations joined and comments dropped, with their first line number."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line.strip())
        joined = " ".join(part for part in pending if part)
        pending = []
        if joined:
            yield start, joined


def read_lock(path: Path) -> list[Pin]:
    """The pins of a requirements-format lock; option lines (``--find-links``) are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LockError(f"cannot read {path}: {exc.strerror}") from exc
    pins = []
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            continue
        words = line.split()
        hashes = tuple(w.removeprefix("--hash=") for w in words if w.startswith("--hash="))
        spec = " ".join(w for w in words if not w.startswith("--hash="))
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as exc:
            raise LockError(f"{path}:{number}: not a requirement: {exc}") from exc
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            raise LockError(f"{path}:{number}: {spec!r} is not pinned to one version (name==X)")
        pins.append(Pin(canonicalize_name(requirement.name), specifiers[0].version, hashes, number))
    return pins


def project_requirements(pyproject: Path) -> list[Requirement]:
    """What ``pyproject`` asks for with every extra (the lock covers them all), the project's
    own extras (``memstore[server,...]``) left out: their requirements are listed anyway."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    texts = [*project.get("dependencies", []), *(t for group in optional.values() for t in group)]
    requirements = [Requirement(text) for text in texts]
    return [r for r in requirements if canonicalize_name(r.name) != PROJECT]


def lock_problems(pins: list[Pin], requirements: list[Requirement]) -> list[str]:
    """Every way ``pins`` break the rules of a lock (empty when it is good)."""
    problems = []
    by_name: dict[str, Pin] = {}
    for pin in pins:
        if pin.name in by_name:
            problems.append(
                f"{pin.name} is pinned twice (lines {by_name[pin.name].line}, {pin.line})"
            )
        by_name[pin.name] = pin
        if not pin.hashes:
            problems.append(
                f"{pin.name}=={pin.version} has no --hash (compile with --generate-hashes)"
            )
        if CUDA_PACKAGE.match(pin.name):
            problems.append(
                f"{pin.name}=={pin.version} is a CUDA package: the lock must hold the CPU build of "
                "torch (the +cpu wheel from --find-links), never PyPI's CUDA build"
            )
    torch = by_name.get("torch")
    if torch is not None and not torch.version.endswith("+cpu"):
        problems.append(
            f"torch=={torch.version} is not a +cpu build: the +cpu wheel was not found "
            "(is /opt/wheels, or another --find-links with it, passed to uv?)"
        )
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pin = by_name.get(name)
        if pin is None:
            problems.append(f"pyproject.toml asks for {requirement} but the lock has no {name}")
            continue
        try:
            version = Version(pin.version)
        except InvalidVersion:
            problems.append(f"{name}=={pin.version} is not a valid version")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(
                f"pyproject.toml asks for {requirement} but the lock pins {name}=={pin.version}"
            )
    return problems


def installed() -> dict[str, str]:
    """Canonical name -> version of what is installed in this interpreter's site-packages."""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in distributions(path=paths)
    }


def venv_problems(pins: list[Pin], present: dict[str, str]) -> list[str]:
    """How the installed set ``present`` differs from ``pins`` (the project itself may be extra)."""
    problems = []
    locked = {pin.name: pin.version for pin in pins}
    for name, version in sorted(locked.items()):
        if name not in present:
            problems.append(f"{name}=={version} is locked but not installed")
        elif Version(present[name]) != Version(version):
            problems.append(f"{name} {present[name]} is installed, the lock pins {version}")
    for name, version in sorted(present.items()):
        if name not in locked and name != PROJECT:
            problems.append(f"{name} {version} is installed but not in the lock")
    return problems


def floors(names: list[str], requirements: list[Requirement]) -> list[str]:
    """``name==version`` of each name's lower bound (``>=``, ``~=`` or ``==``) in ``requirements``."""
    lines = []
    for wanted in names:
        bounds = [
            specifier.version
            for requirement in requirements
            if canonicalize_name(requirement.name) == canonicalize_name(wanted)
            for specifier in requirement.specifier
            if specifier.operator in (">=", "~=", "==")
        ]
        if not bounds:
            raise LockError(f"pyproject.toml gives {wanted} no lower bound (>=, ~= or ==)")
        lines.append(f"{canonicalize_name(wanted)}=={max(bounds, key=Version)}")
    return lines


def _report(problems: list[str], what: str) -> int:
    for problem in problems:
        print(f"error: {what}: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; the exit code says whether the checked thing is good."""
    parser = argparse.ArgumentParser(
        prog="dependency_locks.py", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("check-lock", "check-venv"):
        command = commands.add_parser(name)
        command.add_argument("lock", type=Path)
        command.add_argument("--pyproject", type=Path, default=REPO / "pyproject.toml")
    command = commands.add_parser("floors")
    command.add_argument("names", nargs="+")
    command.add_argument("--pyproject", type=Path, default=REPO / "pyproject.toml")
    args = parser.parse_args(argv)
    try:
        if args.command == "floors":
            print("\n".join(floors(args.names, project_requirements(args.pyproject))))
            return 0
        pins = read_lock(args.lock)
        if args.command == "check-lock":
            problems = lock_problems(pins, project_requirements(args.pyproject))
            return _report(problems + ([] if pins else ["it pins nothing"]), str(args.lock))
        return _report(venv_problems(pins, installed()), f"{sys.prefix} against {args.lock}")
    except LockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
