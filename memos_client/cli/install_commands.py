"""Install commands: ``install``, ``uninstall``, ``list``, ``show``, ``lock``, ``sync``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.cli.app import arg, command
from memos_client.cli.options import DEFAULT_INDEX_URL, DRY_RUN, JSON, explain_registry
from memos_client.cli.options import INDEX_URL_READ as INDEX_URL
from memos_client.cli.output import note

if TYPE_CHECKING:
    from memos_client.install.installer import InstallResult
    from memos_client.install.plan import Change
    from memos_client.install.session import Options
    from memos_client.trust.store import NamespacePin

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
FORCE = arg(
    "--force",
    action="store_true",
    help="Go ahead even when it breaks an installed cube's dependency (and say what breaks).",
)


def _options(
    index_url: str | None,
    offline: bool = False,
    allow_unsigned: bool = False,
    upgrade: bool = False,
    json_output: bool = False,
    allow_unlogged: bool = False,
    force: bool = False,
    *,
    registry_from: str | None = None,
    uses_registry: bool = True,
) -> Options:
    """The install options of a command; with ``-v``, which registry it uses and why
    (``registry_from``: a file that named it, else options.index_url_source)."""
    from memos_client.cli.output import progress_bar, progress_counter, warn
    from memos_client.cli.runtime_store import open_runtime
    from memos_client.config import memos_cache_dir, memos_home
    from memos_client.install.cache import Cache
    from memos_client.install.fetch import default_registry_url
    from memos_client.install.session import Options

    url = (index_url or default_registry_url()).rstrip("/")
    if uses_registry:
        explain_registry(index_url, url, registry_from)
    return Options(
        home=memos_home(),
        cache=Cache(memos_cache_dir()),
        index_url=url,
        open_runtime=open_runtime,
        offline=offline,
        allow_unsigned=allow_unsigned,
        upgrade=upgrade,
        force=force,
        progress=None if json_output else progress_bar,
        counter=None if json_output else progress_counter,
        allow_unlogged=allow_unlogged,
        warn=warn,
    )


def _report_plan(changes: list[Change], json_output: bool) -> None:
    """``--dry-run``: what would change, one line per cube (stdout), nothing done."""
    from memos_client.cli.output import print_json

    if json_output:
        print_json({"dry_run": True, "changes": [c.to_json() for c in changes]})
        return
    for change in changes:
        before = f" (installed: {change.previous_version})" if change.previous_version else ""
        yanked = f" (yanked: {change.yank_reason})" if change.yanked else ""
        verb = "unchanged:" if change.action == "unchanged" else f"would {change.action}"
        print(f"{verb} {change.name} {change.version}{before}{yanked}")
    if not any(change.action != "unchanged" for change in changes):
        note("nothing would change")
    note("dry run: nothing was changed")


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
        note(f"trusting key {keys} for namespace {pin.namespace!r} ({source})")
    for result in results:
        if result.unchanged:
            print(f"{result.name} {result.version} already installed")
        elif result.previous_version == result.version:
            print(f"reinstalled {result.name} {result.version} ({result.memory_count} memories)")
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
@arg("--no-deps", action="store_true", help="Install the named cubes only, not their dependencies.")
@arg(
    "--force-reinstall",
    action="store_true",
    help="Download, verify and import again even when the same version is installed.",
)
@DRY_RUN
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
    no_deps: bool,
    force_reinstall: bool,
    dry_run: bool,
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
        registry_from=None if index_url or not project_index else str(requirements_file),
    )
    options.no_deps, options.force_reinstall, options.dry_run = no_deps, force_reinstall, dry_run
    if dry_run:
        if bundles:
            raise UsageError("--dry-run takes cube names, not .memcube files: leave it out")
        from memos_client.cli.suggestions import suggesting_registry_names
        from memos_client.install.plan import plan_install

        with suggesting_registry_names(
            None if offline else options.index_url, [r.name for r in requirements]
        ):
            _report_plan(plan_install(requirements, options), json_output)
        return
    results = []
    pins = []
    if bundles:
        done, learned = install_bundle_files(bundles, options)
        results.extend(done)
        pins.extend(learned)
    if requirements:
        from memos_client.cli.suggestions import suggesting_registry_names

        asked = [r.name for r in requirements]
        with suggesting_registry_names(None if offline else options.index_url, asked):
            done, learned = install_requirements(requirements, options)
        results.extend(done)
        pins.extend(learned)
    _report(results, pins, json_output)


@command()
@arg("cubes", nargs="+", help="Installed cubes (NAMESPACE/NAME).")
@DRY_RUN
@FORCE
@JSON
def uninstall(cubes: list[str], dry_run: bool, force: bool, json_output: bool) -> None:
    """Remove installed cubes and their memories."""
    from memos_client.cli.output import print_json
    from memos_client.install.requirements import parse_requirement
    from memos_client.install.workflow import uninstall as do_uninstall

    names = [parse_requirement(text).name for text in cubes]
    if dry_run:
        from memos_client.install.plan import plan_uninstall

        _report_plan(plan_uninstall(names, _options(None, uses_registry=False)), json_output)
        return
    removed = do_uninstall(names, _options(None, force=force, uses_registry=False))
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
    from memos_client.cli.runtime_store import open_runtime
    from memos_client.config import memos_home
    from memos_client.errors import BrokenDependentsError
    from memos_client.install.dependents import check as find_broken
    from memos_client.install.dependents import installed_set
    from memos_client.install.target import read_installed

    home = memos_home()
    cubes = read_installed(open_runtime, home)
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
@arg(
    "--outdated",
    action="store_true",
    help="Only cubes the registry has a newer version of (and installed versions now yanked).",
)
@INDEX_URL
@JSON
def list_cubes(outdated: bool, index_url: str | None, json_output: bool) -> None:
    """List installed cubes: name, version, manifest digest, memory count."""
    from memos_client.cli.output import print_json
    from memos_client.install.target import read_installed

    options = _options(None, uses_registry=False)
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
@arg("--remote", action="store_true", help="Show the registry's view even when installed.")
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
@JSON
def lock(
    cubes: list[str],
    requirements_file: Path,
    output: Path,
    index_url: str | None,
    offline: bool,
    allow_unsigned: bool,
    allow_unlogged: bool,
    json_output: bool,
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
        index_url or project_index,
        offline,
        allow_unsigned,
        allow_unlogged=allow_unlogged,
        registry_from=None if index_url or not project_index else str(requirements_file),
    )
    lockfile = do_lock(requirements, options)
    lockfile.write(output)
    if json_output:
        from memos_client.cli.output import print_json

        print_json(
            {
                "lockfile": str(output),
                "index_url": lockfile.index_url,
                "cubes": [
                    {"name": c.name, "version": c.version, "manifest_digest": c.manifest_digest}
                    for c in lockfile.cubes
                ],
            }
        )
        return
    note(f"locked {len(lockfile.cubes)} cubes in {output}")


@command()
@arg(
    "lockfile_path",
    metavar="LOCKFILE",
    nargs="?",
    type=Path,
    default=Path("memos.lock"),
    help="The lockfile (default: %(default)s).",
)
@DRY_RUN
@OFFLINE
@ALLOW_UNSIGNED
@ALLOW_UNLOGGED
@JSON
def sync(
    lockfile_path: Path,
    dry_run: bool,
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
        registry_from=str(lockfile_path),
    )
    if dry_run:
        from memos_client.install.plan import plan_sync

        _report_plan(plan_sync([c.candidate() for c in lockfile.cubes], options), json_output)
        return
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
