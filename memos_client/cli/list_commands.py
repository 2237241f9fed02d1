"""What is installed: ``list`` (``--outdated``: against the registry) and ``show``."""

from __future__ import annotations

import sys
from typing import Any

from memos_client.cli.app import arg, command, flag
from memos_client.cli.options import DEFAULT_INDEX_URL, JSON
from memos_client.cli.options import INDEX_URL_READ as INDEX_URL
from memos_client.cli.output import note


@command("list")
@flag(
    "--outdated",
    help="Only cubes the registry has a newer version of (and installed versions now yanked).",
)
@INDEX_URL
@JSON
def list_cubes(outdated: bool, index_url: str | None, json_output: bool) -> None:
    """List installed cubes: name, version, manifest digest, memory count."""
    from memos_client.cli.install_options import install_options
    from memos_client.cli.output import print_json
    from memos_client.install.target import read_installed

    options = install_options(None, uses_registry=False)
    cubes = read_installed(options.open_runtime, options.home)
    if outdated:
        _list_outdated([(c.name, c.version) for c in cubes], index_url, json_output)
        return
    from memos_client.install.show import last_seen_yank

    yanks = {
        c.name: last_seen_yank(options.home, options.cache, c.name, c.manifest_digest)
        for c in cubes
    }
    if json_output:
        print_json(
            [
                {
                    "name": c.name,
                    "version": c.version,
                    "manifest_digest": c.manifest_digest,
                    "memory_count": c.memory_count,
                    "installed_at": c.installed_at,
                    "yanked": yanks[c.name] is not None,
                    "yank_reason": yanks[c.name],
                }
                for c in cubes
            ]
        )
        return
    if not cubes:
        note("no cubes installed")
        return
    width = max(len(c.name) for c in cubes)
    for c in cubes:
        reason = yanks[c.name]
        flag = "" if reason is None else f"  YANKED: {reason or 'no reason given'}"
        print(
            f"{c.name:<{width}}  {c.version:<12} {c.manifest_digest[:19]}  "
            f"{c.memory_count} memories{flag}"
        )


def _list_outdated(
    installed: list[tuple[str, str]], index_url: str | None, json_output: bool
) -> None:
    """``memos list --outdated``: installed cubes with a newer version, or yanked since."""
    from memos_client.cli.output import print_json
    from memos_client.cli.registry_commands import _client
    from memos_client.errors import NotFoundError
    from memos_client.registry.client import CubeAnswer
    from mip.versions import Version

    rows: list[dict[str, Any]] = []
    with _client(index_url, None, read=True) as client:
        for name, version in installed:
            try:
                answer = client.cube(name)
            except NotFoundError:
                note(f"{name}: not on {client.url}")
                continue
            assert isinstance(answer, CubeAnswer)  # an unconditional request is never a 304
            document = answer.document
            mine = next((v for v in document.versions if v.version == version), None)
            latest = document.latest_version
            newer = latest is not None and Version.parse(latest) > Version.parse(version)
            yanked = mine is not None and mine.yanked
            if newer or yanked:
                rows.append(
                    {
                        "name": name,
                        "version": version,
                        "latest_version": latest,
                        "yanked": yanked,
                        "yank_reason": mine.yank_reason if mine is not None else None,
                    }
                )
    if json_output:
        print_json(rows)
        return
    if not rows:
        note("every installed cube is up to date")
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        flag = f"  YANKED: {row['yank_reason']}" if row["yanked"] else ""
        print(
            f"{row['name']:<{width}}  {row['version']:<12} -> {row['latest_version'] or '-'}{flag}"
        )


@command()
@arg("cube", help="NAMESPACE/NAME, or NAMESPACE/NAME@VERSION.")
@flag("--remote", help="Show the registry's view even when installed.")
@INDEX_URL
@JSON
def show(cube: str, remote: bool, index_url: str | None, json_output: bool) -> None:
    """Show a cube: the installed version when installed, else the registry's versions."""
    from memos_client.cli.output import print_json
    from memos_client.cli.registry_commands import _split_reference, show_registry
    from memos_client.cli.runtime_store import open_runtime
    from memos_client.config import memos_home
    from memos_client.install.requirements import parse_requirement
    from memos_client.install.show import installed_view, render_installed

    name, version = _split_reference(cube)  # the same validation and errors as the registry view
    requirement = parse_requirement(f"{name}=={version}" if version else name)
    view = None if remote else installed_view(memos_home(), requirement, open_runtime)
    if view is None:
        from memos_client.cli.suggestions import suggesting_registry_names
        from memos_client.registry.config import configured_index_url

        url = configured_index_url(index_url) or DEFAULT_INDEX_URL
        with suggesting_registry_names(url, [name]):
            show_registry(cube, index_url, json_output)
    elif json_output:
        print_json(view)
    else:
        sys.stdout.write(render_installed(view))
