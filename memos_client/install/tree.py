"""``memos tree``: the installed cubes as a dependency tree (from their signed manifests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memos_client.install.installer import cube_dir
from memos_client.install.target import RuntimeOpener, read_installed
from mip.names import normalize_cube_name
from mip.versions import Version, parse_specifier


def _dependencies(home: Path, name: str, digest: str) -> dict[str, str]:
    try:
        manifest = json.loads((cube_dir(home, name, digest) / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return {}  # shown without dependencies: the runtime's row is what is installed
    dependencies = manifest.get("dependencies")
    return dependencies if isinstance(dependencies, dict) else {}


def dependency_tree(home: Path, open_runtime: RuntimeOpener) -> list[dict[str, Any]]:
    """One node per cube nothing installed depends on, each with its dependencies below it.

    A node: ``name``, ``version`` (``None``: not installed), ``specifier`` (what the parent
    asks for), ``satisfied``, ``dependencies`` (nodes); a cube already shown higher on the same
    path is marked ``cycle`` instead of being expanded again.
    """
    installed = {c.name: c for c in read_installed(open_runtime, home)}
    requires = {
        name: {
            str(normalize_cube_name(dep)): spec
            for dep, spec in _dependencies(home, name, cube.manifest_digest).items()
        }
        for name, cube in installed.items()
    }
    needed = {dep for deps in requires.values() for dep in deps}

    def node(name: str, specifier: str | None, path: tuple[str, ...]) -> dict[str, Any]:
        cube = installed.get(name)
        version = cube.version if cube is not None else None
        satisfied = version is not None and (
            specifier is None or parse_specifier(specifier).contains(Version.parse(version))
        )
        entry: dict[str, Any] = {
            "name": name,
            "version": version,
            "specifier": specifier,
            "satisfied": satisfied,
            "dependencies": [],
        }
        if name in path:
            entry["cycle"] = True
            return entry
        entry["dependencies"] = [
            node(dep, spec, (*path, name)) for dep, spec in sorted(requires.get(name, {}).items())
        ]
        return entry

    roots = [name for name in sorted(installed) if name not in needed] or sorted(installed)
    return [node(name, None, ()) for name in roots]


def render_tree(nodes: list[dict[str, Any]]) -> str:
    """The tree as text, uv-style (``├──`` / ``└──``)."""
    lines: list[str] = []

    def label(entry: dict[str, Any]) -> str:
        text = f"{entry['name']} {entry['version'] or ''}".rstrip()
        if entry["specifier"] is not None:
            text += f" (requires {entry['specifier']})"
        if entry["version"] is None:
            text += " MISSING"
        elif not entry["satisfied"]:
            text += " NOT SATISFIED"
        if entry.get("cycle"):
            text += " (cycle)"
        return text

    def walk(entries: list[dict[str, Any]], prefix: str) -> None:
        for index, entry in enumerate(entries):
            last = index == len(entries) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label(entry)}")
            walk(entry["dependencies"], prefix + ("    " if last else "│   "))

    for root in nodes:
        lines.append(label(root))
        walk(root["dependencies"], "")
    return "\n".join(lines) + ("\n" if lines else "")
