"""``memos download`` (verified bundles, nothing installed) and ``memos tree``."""

from __future__ import annotations

from pathlib import Path

from memos_client.cli.app import arg, command, flag
from memos_client.cli.options import INDEX_URL_READ, JSON, Fetching, fetching_options


@command()
@arg("cubes", nargs="+", help="NAMESPACE/NAME[SPEC] (e.g. alice/cooking>=1,<2).")
@arg(
    "-d",
    "--dest",
    dest="directory",
    metavar="DIR",
    type=Path,
    default=Path("."),
    help="Where to write the .memcube files (default: the current directory).",
)
@flag("--no-deps", help="Download the named cubes only, not their dependencies.")
@INDEX_URL_READ
@fetching_options("Accept")
@JSON
def download(
    cubes: list[str],
    directory: Path,
    no_deps: bool,
    index_url: str | None,
    fetching: Fetching,
    json_output: bool,
) -> None:
    """Resolve, verify and save cubes as .memcube files (nothing installed, like pip download).

    Each bundle is checked as an install checks it (signature against your trusted keys and
    namespace pins, every blob's digest), then written from the download cache; `memos install
    ./FILE.memcube` or `memos verify` take it later, on this machine or another.
    """
    from memos_client.cli.install_options import install_options
    from memos_client.cli.output import format_size, print_json
    from memos_client.cli.suggestions import suggesting_registry_names
    from memos_client.install.download import download as do_download
    from memos_client.install.requirements import parse_requirement

    requirements = [parse_requirement(text) for text in cubes]
    options = install_options(index_url, fetching, json_output=json_output)
    options.no_deps = no_deps
    with suggesting_registry_names(
        None if fetching.offline else options.index_url, [r.name for r in requirements]
    ):
        written = do_download(requirements, options, directory)
    if json_output:
        print_json({"downloaded": [item.to_json() for item in written]})
        return
    for item in written:
        yanked = f" (yanked: {item.yank_reason})" if item.yanked else ""
        print(f"saved {item.path} ({item.name} {item.version}, {format_size(item.size)}){yanked}")


@command()
@JSON
def tree(json_output: bool) -> None:
    """Show the installed cubes as a dependency tree (missing or unsatisfied ones marked)."""
    from memos_client.cli.output import note, print_json
    from memos_client.cli.runtime_store import open_runtime
    from memos_client.config import memos_home
    from memos_client.install.tree import dependency_tree, render_tree

    nodes = dependency_tree(memos_home(), open_runtime)
    if json_output:
        print_json(nodes)
        return
    if not nodes:
        note("no cubes installed")
        return
    print(render_tree(nodes), end="")
