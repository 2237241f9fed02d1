"""Lockfiles: ``lock`` (resolve and write memos.lock) and ``sync`` (install exactly what it holds)."""

from __future__ import annotations

from pathlib import Path

from memos_client.cli.app import arg, command
from memos_client.cli.options import DRY_RUN, FETCHING, JSON, Fetching, requirements_file
from memos_client.cli.options import INDEX_URL_READ as INDEX_URL
from memos_client.cli.output import note


@command()
@arg("cubes", nargs="*", help="NAMESPACE/NAME[SPEC]; default: memos.toml's list.")
@requirements_file(
    "memos.toml listing the cubes (default: %(default)s).", default=Path("memos.toml")
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
@FETCHING
@JSON
def lock(
    cubes: list[str],
    requirements_file: Path,
    output: Path,
    index_url: str | None,
    fetching: Fetching,
    json_output: bool,
) -> None:
    """Resolve and verify cubes, and write memos.lock (exact versions, digests, signer keys)."""
    from memos_client.cli.install_options import install_options
    from memos_client.install.requirements import load_project_file, parse_requirement
    from memos_client.install.workflow import lock as do_lock

    project_index = None
    if cubes:
        requirements = [parse_requirement(text) for text in cubes]
    else:
        project = load_project_file(requirements_file)
        requirements, project_index = project.requirements, project.index_url
    options = install_options(
        index_url or project_index,
        fetching,
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
@FETCHING
@JSON
def sync(
    lockfile_path: Path,
    dry_run: bool,
    fetching: Fetching,
    json_output: bool,
) -> None:
    """Make the installed cubes exactly those of memos.lock (installs, replaces, removes)."""
    from memos_client.cli.install_options import install_options
    from memos_client.cli.install_reports import report_installed, report_plan
    from memos_client.cli.output import print_json
    from memos_client.install.lockfile import read_lockfile
    from memos_client.install.workflow import sync as do_sync

    lockfile = read_lockfile(lockfile_path)
    options = install_options(
        lockfile.index_url,
        fetching,
        json_output=json_output,
        registry_from=str(lockfile_path),
    )
    if dry_run:
        from memos_client.install.plan import plan_sync

        report_plan(plan_sync([c.candidate() for c in lockfile.cubes], options), json_output)
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
    report_installed([r for r in results if not r.unchanged], [], False)
    for name, version, _ in removed:
        print(f"uninstalled {name} {version} (not in {lockfile_path})")
    if all(r.unchanged for r in results) and not removed:
        print(f"already in sync with {lockfile_path}")
