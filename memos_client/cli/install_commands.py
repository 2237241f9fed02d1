"""Install commands: ``install``, ``uninstall``, ``list``, ``show``, ``lock``, ``sync``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from memos_client.cli.app import arg, command

if TYPE_CHECKING:
    from memos_client.install.installer import InstallResult
    from memos_client.install.session import Options
    from memos_client.trust.store import NamespacePin

INDEX_URL = arg(
    "--index-url",
    metavar="URL",
    help="Registry to install from (default: $MEMOS_INDEX_URL, else http://127.0.0.1:8700).",
)
OFFLINE = arg("--offline", action="store_true", help="Use only the cache; never touch the network.")
ALLOW_UNSIGNED = arg(
    "--allow-unsigned",
    action="store_true",
    help="Accept cubes whose envelope carries no signature.",
)
ALLOW_UNLOGGED = arg(
    "--allow-unlogged",
    action="store_true",
    help="Install from a registry without a transparency log (or, offline, without stored log "
    "proofs), with a warning.",
)
JSON = arg("--json", dest="json_output", action="store_true", help="Print JSON for scripts.")
FORCE = arg(
    "--force",
    action="store_true",
    help="Go ahead even when it breaks an installed cube's dependency (and say what breaks).",
)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _options(
    index_url: str | None,
    offline: bool = False,
    allow_unsigned: bool = False,
    upgrade: bool = False,
    json_output: bool = False,
    allow_unlogged: bool = False,
    force: bool = False,
) -> Options:
    from memos_client.cli.output import progress_bar
    from memos_client.config import memos_cache_dir, memos_home
    from memos_client.install.cache import Cache
    from memos_client.install.fetch import default_registry_url
    from memos_client.install.session import Options

    return Options(
        home=memos_home(),
        cache=Cache(memos_cache_dir()),
        index_url=(index_url or default_registry_url()).rstrip("/"),
        offline=offline,
        allow_unsigned=allow_unsigned,
        upgrade=upgrade,
        force=force,
        progress=None if json_output else progress_bar,
        allow_unlogged=allow_unlogged,
        warn=_warn,
    )


def _report(results: list[InstallResult], pins: list[NamespacePin], json_output: bool) -> None:
    from memos_client.cli.output import print_json

    if json_output:
        print_json(
            {
                "installed": [r.to_json() for r in results],
                "pinned": {p.namespace: sorted(p.keys) for p in pins},
            }
        )
        return
    for pin in pins:
        keys = ", ".join(key_id[:16] for key_id in pin.keys)
        source = "from the lockfile" if pin.source == "lockfile" else "first use"
        print(f"trusting key {keys} for namespace {pin.namespace!r} ({source})", file=sys.stderr)
    for result in results:
        if result.unchanged:
            print(f"{result.name} {result.version} already installed")
        elif result.previous_version:
            print(
                f"installed {result.name} {result.version} (was {result.previous_version}, "
                f"{result.memory_count} memories)"
            )
        else:
            print(f"installed {result.name} {result.version} ({result.memory_count} memories)")


@command()
@arg(
    "cubes",
    nargs="*",
    type=str,  # a .memcube file's name may be any bytes
    help="NAMESPACE/NAME[SPEC] (e.g. alice/cooking>=1,<2) or ./FILE.memcube.",
)
@arg(
    "-r",
    "--requirements",
    dest="requirements_file",
    metavar="FILE",
    type=Path,
    help="A memos.toml listing cubes.",
)
@arg(
    "-U",
    "--upgrade",
    action="store_true",
    help="Prefer the newest versions over installed ones.",
)
@INDEX_URL
@OFFLINE
@ALLOW_UNSIGNED
@ALLOW_UNLOGGED
@FORCE
@JSON
def install(
    cubes: list[str],
    requirements_file: Path | None,
    upgrade: bool,
    index_url: str | None,
    offline: bool,
    allow_unsigned: bool,
    allow_unlogged: bool,
    force: bool,
    json_output: bool,
) -> None:
    """Resolve, download, verify and install cubes into the local runtime."""
    from memos_client.errors import UsageError
    from memos_client.install.requirements import load_project_file, parse_requirement
    from memos_client.install.workflow import install_bundle_files, install_requirements

    items = list(cubes)
    project_index = None
    requirements = []
    if requirements_file is not None:
        project = load_project_file(requirements_file)
        requirements.extend(project.requirements)
        project_index = project.index_url
    bundles = [Path(item) for item in items if item.endswith(".memcube")]
    requirements.extend(parse_requirement(item) for item in items if not item.endswith(".memcube"))
    if not requirements and not bundles:
        raise UsageError("nothing to install: name cubes (NAMESPACE/NAME) or pass -r memos.toml")
    options = _options(
        index_url or project_index,
        offline,
        allow_unsigned,
        upgrade,
        json_output,
        allow_unlogged,
        force,
    )
    results = []
    pins = []
    if bundles:
        done, learned = install_bundle_files(bundles, options)
        results.extend(done)
        pins.extend(learned)
    if requirements:
        done, learned = install_requirements(requirements, options)
        results.extend(done)
        pins.extend(learned)
    _report(results, pins, json_output)


@command()
@arg("cubes", nargs="+", help="Installed cubes (NAMESPACE/NAME).")
@FORCE
@JSON
def uninstall(cubes: list[str], force: bool, json_output: bool) -> None:
    """Remove installed cubes and their memories."""
    from memos_client.cli.output import print_json
    from memos_client.install.requirements import parse_requirement
    from memos_client.install.workflow import uninstall as do_uninstall

    names = [parse_requirement(text).name for text in cubes]
    removed = do_uninstall(names, _options(None, force=force))
    if json_output:
        print_json([{"name": n, "version": v, "memories": c} for n, v, c in removed])
        return
    for name, version, count in removed:
        print(f"uninstalled {name} {version} ({count} memories)")


@command()
@JSON
def check(json_output: bool) -> None:
    """Check that every installed cube's dependencies are installed, at fitting versions."""
    from memos_client.cli.output import print_json
    from memos_client.config import memos_home
    from memos_client.errors import BrokenDependentsError
    from memos_client.install.dependents import check as find_broken
    from memos_client.install.dependents import installed_set
    from memos_client.install.session import open_runtime

    home = memos_home()
    runtime = open_runtime(home)
    try:
        cubes = runtime.installed_cubes()
    finally:
        runtime.close()
    broken = find_broken(
        installed_set(home, [(c.name, c.version, c.manifest_digest) for c in cubes])
    )
    if json_output:
        print_json(
            {
                "ok": not broken,
                "problems": [
                    {"cube": b.dependent, "requires": b.requirement, "installed": b.found}
                    for b in broken
                ],
            }
        )
    else:
        for item in broken:
            print(item)
    if broken:
        count = len({b.dependent for b in broken})
        raise BrokenDependentsError(
            f"{count} installed cube{'s' if count > 1 else ''} ha{'ve' if count > 1 else 's'} "
            "unmet dependencies: install what they require (memos install NAME[SPEC])"
        )
    if not json_output:
        print("no broken dependencies")


@command("list")
@JSON
def list_cubes(json_output: bool) -> None:
    """List installed cubes: name, version, manifest digest, memory count."""
    from memos_client.cli.output import print_json
    from memos_client.install.session import open_runtime

    options = _options(None)
    runtime = open_runtime(options.home)
    try:
        cubes = runtime.installed_cubes()
    finally:
        runtime.close()
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
        print("no cubes installed", file=sys.stderr)
        return
    width = max(len(c.name) for c in cubes)
    for c in cubes:
        reason = yanks[c.name]
        flag = "" if reason is None else f"  YANKED: {reason or 'no reason given'}"
        print(
            f"{c.name:<{width}}  {c.version:<12} {c.manifest_digest[:19]}  "
            f"{c.memory_count} memories{flag}"
        )


@command()
@arg("cube", help="NAMESPACE/NAME, or NAMESPACE/NAME@VERSION.")
@arg("--remote", action="store_true", help="Show the registry's view even when installed.")
@INDEX_URL
@JSON
def show(cube: str, remote: bool, index_url: str | None, json_output: bool) -> None:
    """Show a cube: the installed version when installed, else the registry's versions."""
    from memos_client.cli.output import print_json
    from memos_client.cli.registry_commands import _split_reference, show_registry
    from memos_client.config import memos_home
    from memos_client.install.requirements import parse_requirement
    from memos_client.install.show import installed_view, render_installed

    name, version = _split_reference(cube)  # the same validation and errors as the registry view
    requirement = parse_requirement(f"{name}=={version}" if version else name)
    view = None if remote else installed_view(memos_home(), requirement)
    if view is None:
        show_registry(cube, index_url, json_output)
    elif json_output:
        print_json(view)
    else:
        sys.stdout.write(render_installed(view))


@command()
@arg("cubes", nargs="*", help="NAMESPACE/NAME[SPEC]; default: memos.toml's list.")
@arg(
    "-r",
    "--requirements",
    dest="requirements_file",
    metavar="FILE",
    type=Path,
    default=Path("memos.toml"),
    help="memos.toml listing the cubes (default: %(default)s).",
)
@arg(
    "-o",
    "--output",
    metavar="FILE",
    type=Path,
    default=Path("memos.lock"),
    help="Lockfile to write (default: %(default)s).",
)
@INDEX_URL
@OFFLINE
@ALLOW_UNSIGNED
@ALLOW_UNLOGGED
def lock(
    cubes: list[str],
    requirements_file: Path,
    output: Path,
    index_url: str | None,
    offline: bool,
    allow_unsigned: bool,
    allow_unlogged: bool,
) -> None:
    """Resolve and verify cubes, and write memos.lock (exact versions, digests, signer keys)."""
    from memos_client.install.requirements import load_project_file, parse_requirement
    from memos_client.install.workflow import lock as do_lock

    project_index = None
    if cubes:
        requirements = [parse_requirement(text) for text in cubes]
    else:
        project = load_project_file(requirements_file)
        requirements, project_index = project.requirements, project.index_url
    options = _options(
        index_url or project_index, offline, allow_unsigned, allow_unlogged=allow_unlogged
    )
    lockfile = do_lock(requirements, options)
    lockfile.write(output)
    print(f"locked {len(lockfile.cubes)} cubes in {output}", file=sys.stderr)


@command()
@arg(
    "lockfile_path",
    metavar="LOCKFILE",
    nargs="?",
    type=Path,
    default=Path("memos.lock"),
    help="The lockfile (default: %(default)s).",
)
@OFFLINE
@ALLOW_UNSIGNED
@ALLOW_UNLOGGED
@JSON
def sync(
    lockfile_path: Path,
    offline: bool,
    allow_unsigned: bool,
    allow_unlogged: bool,
    json_output: bool,
) -> None:
    """Make the installed cubes exactly those of memos.lock (installs, replaces, removes)."""
    from memos_client.cli.output import print_json
    from memos_client.install.lockfile import read_lockfile
    from memos_client.install.workflow import sync as do_sync

    lockfile = read_lockfile(lockfile_path)
    options = _options(
        lockfile.index_url,
        offline,
        allow_unsigned,
        json_output=json_output,
        allow_unlogged=allow_unlogged,
    )
    results, removed = do_sync(lockfile, options)
    if json_output:
        print_json(
            {
                "installed": [r.to_json() for r in results],
                "removed": [{"name": n, "version": v} for n, v, _ in removed],
            }
        )
        return
    _report([r for r in results if not r.unchanged], [], False)
    for name, version, _ in removed:
        print(f"uninstalled {name} {version} (not in {lockfile_path})")
    if all(r.unchanged for r in results) and not removed:
        print(f"already in sync with {lockfile_path}")
