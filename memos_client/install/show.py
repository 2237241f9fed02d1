"""``memos show``: one cube, as installed here or as the registry describes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.install.installer import cube_dir
from memos_client.install.requirements import Requirement

if TYPE_CHECKING:
    from memos_client.install.workflow import Options


def installed_view(home: Path, requirement: Requirement) -> dict[str, Any] | None:
    """The installed cube (``None`` when not installed, or installed at another pinned version)."""
    from memos_client.install.workflow import open_runtime

    runtime = open_runtime(home)
    try:
        cube = next((c for c in runtime.installed_cubes() if c.name == requirement.name), None)
    finally:
        runtime.close()
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


def registry_view(options: Options, requirement: Requirement) -> dict[str, Any]:
    """The registry's document for the cube (and for one version when pinned exactly)."""
    from memos_client.install.fetch import RegistryIndex

    index = RegistryIndex(options.index_url, options.cache, offline=options.offline)
    try:
        namespace, _, name = requirement.name.partition("/")
        document: dict[str, Any] = index.get_json(f"/v1/cubes/{namespace}/{name}")
        pin = requirement.exact_pin
        if pin is not None:
            version = index.get_json(f"/v1/cubes/{namespace}/{name}/versions/{pin}")
            document = {**document, "version": version}
    finally:
        index.close()
    document["source"] = options.index_url
    document["install"] = f"memos install {requirement.text}"
    return document


def render(view: dict[str, Any]) -> str:
    """The human form of a view."""
    lines = []
    if view.get("source") == "installed":
        lines.append(f"{view['name']} {view['version']} (installed)")
        lines.append(f"  digest:    {view['manifest_digest']}")
        lines.append(f"  memories:  {view['memory_count']}")
        if view.get("description"):
            lines.append(f"  about:     {view['description']}")
        if view.get("license"):
            lines.append(f"  license:   {view['license']}")
        deps = ", ".join(f"{k}{v}" for k, v in view.get("dependencies", {}).items()) or "none"
        lines.append(f"  requires:  {deps}")
        signers = ", ".join(s[:16] for s in view.get("signers", [])) or "unsigned"
        lines.append(f"  signed by: {signers}")
        lines.append(f"  from:      {view.get('installed_from') or 'unknown'}")
        lines.append(f"  path:      {view['path']}")
        for part in view.get("parts", []):
            lines.append(f"  part {part['name']} ({part['kind']}, {part['size']} bytes)")
        return "\n".join(lines) + "\n"
    lines.append(f"{view.get('name')} (registry {view.get('source')})")
    if view.get("description"):
        lines.append(f"  about:     {view['description']}")
    lines.append(f"  latest:    {view.get('latest_version')}")
    lines.append(f"  downloads: {view.get('downloads', 0)}")
    versions = view.get("versions", [])
    shown = [v["version"] + (" (yanked)" if v.get("yanked") else "") for v in versions[-10:]]
    lines.append(f"  versions:  {', '.join(shown) or 'none'}")
    version = view.get("version")
    if isinstance(version, dict):
        lines.append(f"  {version.get('version')}: {version.get('manifest_digest')}")
        for part in version.get("parts", []):
            lines.append(
                f"    part {part.get('name')} ({part.get('kind')}, {part.get('size')} bytes)"
            )
    lines.append(f"  install:   {view['install']}")
    return "\n".join(lines) + "\n"
