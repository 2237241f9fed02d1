"""What installed cubes need of each other: the checks behind ``--force`` and ``memos check``.

An installed cube's dependencies are those its signed manifest declares (kept in its folder as
``manifest.json``). An install must not replace, and an uninstall must not remove, a cube another
installed cube depends on unless the user forces it; ``memos check`` lists what is broken, like
``pip check``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import msgspec

from memos_client.install.installer import cube_dir
from memos_client.install.requirements import Requirement
from mip.errors import MIPError
from mip.names import CubeName, normalize_cube_name
from mip.versions import Version, parse_specifier


class Installed(msgspec.Struct, frozen=True):
    """One installed cube: its version and the dependencies its manifest declares."""

    name: CubeName
    version: Version
    version_text: str
    dependencies: dict[str, str]


class Breakage(msgspec.Struct, frozen=True):
    """An installed cube whose dependency is, or would be, missing or of the wrong version."""

    dependent: str  # "bob/app 1.0.0"
    requirement: str  # "alice/dep<2"
    found: str | None  # "alice/dep 2.0.0", or None when absent

    def __str__(self) -> str:
        if self.found is None:
            return f"{self.dependent} requires {self.requirement}, which is not installed"
        return f"{self.dependent} requires {self.requirement}, but {self.found} is installed"


def installed_set(home: Path, cubes: Iterable[tuple[str, str, str]]) -> dict[CubeName, Installed]:
    """The installed cubes ``(name, version, manifest digest)`` with their declared dependencies
    (a cube whose manifest cannot be read counts as having none)."""
    result = {}
    for name, version, digest in cubes:
        try:
            manifest = json.loads((cube_dir(home, name, digest) / "manifest.json").read_bytes())
            dependencies = {str(k): str(v) for k, v in manifest.get("dependencies", {}).items()}
        except (OSError, ValueError, AttributeError):
            dependencies = {}
        result[CubeName(name)] = Installed(
            CubeName(name), Version.parse(version), version, dependencies
        )
    return result


def requirements_of(cube: Installed) -> list[Requirement]:
    """An installed cube's dependencies as requirements (unparseable ones skipped)."""
    from memos_client.install.requirements import requirement_text

    result = []
    for raw_name, raw_spec in sorted(cube.dependencies.items()):
        try:
            name = normalize_cube_name(raw_name)
            result.append(
                Requirement(name, parse_specifier(raw_spec), requirement_text(name, raw_spec))
            )
        except MIPError:
            continue
    return result


def breakages(
    installed: Mapping[CubeName, Installed],
    after: Mapping[CubeName, tuple[Version, str] | None],
) -> list[Breakage]:
    """What breaks when the installed set changes by ``after`` (name -> (version, text) it will
    have, ``None`` when removed). Cubes that change themselves are not checked as dependents."""
    state = _versions(installed)
    for name, new in after.items():
        if new is None:
            state.pop(name, None)
        else:
            state[name] = new
    found = []
    for name, cube in sorted(installed.items()):
        if name in after:
            continue
        for requirement, have in _unmet(cube, state):
            before = installed.get(requirement.name)
            if before is not None and not requirement.specifier.contains(before.version):
                continue  # already broken before this change: `memos check` reports it
            if before is None and requirement.name not in after:
                continue
            found.append(_breakage(cube, requirement, have))
    return found


def check(installed: Mapping[CubeName, Installed]) -> list[Breakage]:
    """Every installed cube's unmet dependency (``memos check``)."""
    versions = _versions(installed)
    return [
        _breakage(cube, requirement, have)
        for _, cube in sorted(installed.items())
        for requirement, have in _unmet(cube, versions)
    ]


def _versions(installed: Mapping[CubeName, Installed]) -> dict[CubeName, tuple[Version, str]]:
    return {name: (cube.version, cube.version_text) for name, cube in installed.items()}


def _unmet(
    cube: Installed, versions: Mapping[CubeName, tuple[Version, str]]
) -> Iterator[tuple[Requirement, tuple[Version, str] | None]]:
    """``cube``'s requirements that ``versions`` (name -> (version, text)) does not meet, each
    with the version it has (``None``: none)."""
    for requirement in requirements_of(cube):
        have = versions.get(requirement.name)
        if have is None or not requirement.specifier.contains(have[0]):
            yield requirement, have


def _breakage(
    cube: Installed, requirement: Requirement, have: tuple[Version, str] | None
) -> Breakage:
    found = None if have is None else f"{requirement.name} {have[1]}"
    return Breakage(f"{cube.name} {cube.version_text}", requirement.text, found)
