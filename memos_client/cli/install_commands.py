"""Install commands: ``install``, ``uninstall`` and ``check`` (the installed cubes' dependencies).

``list``/``show`` are in list_commands, ``lock``/``sync`` in lock_commands."""

from __future__ import annotations

from pathlib import Path

from memos_client.cli.app import arg, command, flag
from memos_client.cli.options import (
    DRY_RUN,
    FETCHING,
    FORCE,
    JSON,
    Fetching,
    requirements_file,
)
from memos_client.cli.options import INDEX_URL_READ as INDEX_URL


@command()
@arg(
    "cubes",
    nargs="*",
    type=str,  # a .memcube file's name may be any bytes
    help="NAMESPACE/NAME[SPEC] (e.g. alice/cooking>=1,<2) or ./FILE.memcube.",
)
@requirements_file("A memos.toml listing cubes.")
@flag("-U", "--upgrade", help="Prefer the newest versions over installed ones.")
@flag("--no-deps", help="Install the named cubes only, not their dependencies.")
@flag(
    "--force-reinstall",
    help="Download, verify and import again even when the same version is installed.",
)
@DRY_RUN
@INDEX_URL
@FETCHING
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
    fetching: Fetching,
    force: bool,
    json_output: bool,
) -> None:
    """Resolve, download, verify and install cubes into the local runtime."""
    from memos_client.cli.install_options import install_options
    from memos_client.cli.install_reports import report_installed, report_plan
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
    options = install_options(
        index_url or project_index,
        fetching,
        upgrade=upgrade,
        json_output=json_output,
        force=force,
        registry_from=None if index_url or not project_index else str(requirements_file),
    )
    options.no_deps, options.force_reinstall, options.dry_run = no_deps, force_reinstall, dry_run
    if dry_run:
        if bundles:
            raise UsageError("--dry-run takes cube names, not .memcube files: leave it out")
        from memos_client.cli.suggestions import suggesting_registry_names
        from memos_client.install.plan import plan_install

        with suggesting_registry_names(
            None if fetching.offline else options.index_url, [r.name for r in requirements]
        ):
            report_plan(plan_install(requirements, options), json_output)
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
        with suggesting_registry_names(None if fetching.offline else options.index_url, asked):
            done, learned = install_requirements(requirements, options)
        results.extend(done)
        pins.extend(learned)
    report_installed(results, pins, json_output)


@command()
@arg("cubes", nargs="+", help="Installed cubes (NAMESPACE/NAME).")
@DRY_RUN
@FORCE
@JSON
def uninstall(cubes: list[str], dry_run: bool, force: bool, json_output: bool) -> None:
    """Remove installed cubes and their memories."""
    from memos_client.cli.install_options import install_options
    from memos_client.cli.install_reports import report_plan
    from memos_client.cli.output import print_json
    from memos_client.install.requirements import parse_requirement
    from memos_client.install.workflow import uninstall as do_uninstall

    names = [parse_requirement(text).name for text in cubes]
    if dry_run:
        from memos_client.install.plan import plan_uninstall

        report_plan(plan_uninstall(names, install_options(None, uses_registry=False)), json_output)
        return
    removed = do_uninstall(names, install_options(None, force=force, uses_registry=False))
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
