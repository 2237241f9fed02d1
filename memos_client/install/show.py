"""``memos show`` for an installed cube (the registry's view is registry_commands.show_registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli_support.units import format_size
from memos_client.install.cache import Cache
from memos_client.install.installer import cube_dir
from memos_client.install.requirements import Requirement
from memos_client.install.target import RuntimeOpener, read_installed

if TYPE_CHECKING:
    from memos_client.install.cache import Cache


def installed_view(
    home: Path, requirement: Requirement, open_runtime: RuntimeOpener
) -> dict[str, Any] | None:
    """The installed cube (``None`` when not installed, or installed at another pinned version)."""
    installed = read_installed(open_runtime, home)
    cube = next((c for c in installed if c.name == requirement.name), None)
    if cube is None:
        return None
    pin = requirement.exact_pin
    if pin is not None and pin != cube.version:
        return None
    folder = cube_dir(home, cube.name, cube.manifest_digest)
    manifest: dict[str, Any] = {}
    origin: dict[str, Any] = {}
    try:
        manifest = json.loads((folder / "manifest.json").read_bytes())
        origin = json.loads((folder / "origin.json").read_bytes())
    except (FileNotFoundError, ValueError):
        pass  # shown as unknown: the runtime's row is the authority on what is installed
    return {
        "source": "installed",
        "name": cube.name,
        "version": cube.version,
        "manifest_digest": cube.manifest_digest,
        "memory_count": cube.memory_count,
        "installed_at": cube.installed_at,
        "description": manifest.get("description", ""),
        "license": manifest.get("license"),
        "dependencies": manifest.get("dependencies", {}),
        "governance": cube.governance,
        "signers": origin.get("signers", []),
        "installed_from": origin.get("source"),
        "path": str(folder),
        "parts": [
            {k: p.get(k) for k in ("name", "kind", "size", "digest", "path")} for p in cube.parts
        ],
    }


def render_installed(view: dict[str, Any]) -> str:
    """The human form of the installed view."""
    deps = ", ".join(f"{k}{v}" for k, v in view.get("dependencies", {}).items()) or "none"
    signers = ", ".join(s[:16] for s in view.get("signers", [])) or "unsigned"
    lines = [
        f"{view['name']} {view['version']} (installed)",
        f"  digest:    {view['manifest_digest']}",
        f"  memories:  {view['memory_count']}",
    ]
    if view.get("description"):
        lines.append(f"  about:     {view['description']}")
    if view.get("license"):
        lines.append(f"  license:   {view['license']}")
    lines += [
        f"  requires:  {deps}",
        f"  signed by: {signers}",
        f"  from:      {view.get('installed_from') or 'unknown'}",
        f"  path:      {view['path']}",
    ]
    for part in view.get("parts", []):
        lines.append(f"  part {part['name']} ({part['kind']}, {format_size(part['size'])})")
    return "\n".join(lines) + "\n"


def last_seen_yank(home: Path, cache: Cache, name: str, manifest_digest: str) -> str | None:
    """The yank reason (``""`` when none was given) of an installed version, as the cached index
    of the registry it came from last showed it; ``None`` when not yanked or not known.

    No network: ``memos list`` stays local; an install, lock or sync refreshes what it shows.
    """
    from memos_client.install.resolver import InvalidCandidateError, candidates_from_document
    from mip.names import CubeName

    try:
        origin = json.loads((cube_dir(home, name, manifest_digest) / "origin.json").read_bytes())
        source = str(origin["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    cached = cache.read_index(source, name)
    if cached is None:
        return None
    try:
        known = candidates_from_document(cached.document, CubeName(name))
    except InvalidCandidateError:
        return None
    for candidate in known:
        if candidate.manifest_digest == manifest_digest and candidate.yanked:
            return candidate.yank_reason or ""
    return None
