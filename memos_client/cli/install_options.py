"""The options of the commands that install or download cubes, and the install settings
(:class:`memos_client.install.session.Options`) a command makes of them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from memos_client.cli.app import Declaration, arg, flag, option_group
from memos_client.cli.options import explain_registry

if TYPE_CHECKING:
    from memos_client.install.session import Options

FORCE = flag(
    "--force",
    help="Go ahead even when it breaks an installed cube's dependency (and say what breaks).",
)


class Fetching(NamedTuple):
    """Where a command may take cubes from, and which it accepts."""

    offline: bool = False
    allow_unsigned: bool = False
    allow_unlogged: bool = False


def fetching_options(unlogged: str = "Install from") -> Declaration:
    """``--offline``, ``--allow-unsigned`` and ``--allow-unlogged`` (its help: ``unlogged`` a
    registry without a log), taken by the command as one ``fetching`` parameter (:class:`Fetching`)."""
    return option_group(
        "fetching",
        Fetching,
        Fetching._fields,
        flag("--offline", help="Use only the cache; never touch the network."),
        flag("--allow-unsigned", help="Accept cubes whose envelope carries no signature."),
        flag(
            "--allow-unlogged",
            help=f"{unlogged} a registry without a transparency log (or, offline, without stored "
            "log proofs), with a warning.",
        ),
    )


#: The fetching options of the commands that install (install, lock, sync).
FETCHING = fetching_options()
#: The fetching of the commands without those options (uninstall, list): the defaults.
NO_FETCHING_OPTIONS = Fetching()


def requirements_file(help: str, default: Path | None = None) -> Declaration:
    """``-r/--requirements FILE``: the memos.toml that lists the cubes."""
    return arg(
        "-r",
        "--requirements",
        dest="requirements_file",
        metavar="FILE",
        type=Path,
        default=default,
        help=help,
    )


def install_options(
    index_url: str | None,
    fetching: Fetching = NO_FETCHING_OPTIONS,
    *,
    upgrade: bool = False,
    json_output: bool = False,
    force: bool = False,
    registry_from: str | None = None,
    uses_registry: bool = True,
) -> Options:
    """The install options of a command; with ``-v``, which registry it uses and why
    (``registry_from``: a file that named it, else options.index_url_source)."""
    from memos_client.cli.output import progress_bar, progress_counter, warn
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
        offline=fetching.offline,
        allow_unsigned=fetching.allow_unsigned,
        upgrade=upgrade,
        force=force,
        progress=None if json_output else progress_bar,
        counter=None if json_output else progress_counter,
        allow_unlogged=fetching.allow_unlogged,
        warn=warn,
    )
