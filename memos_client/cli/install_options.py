"""The options of the commands that install or download cubes, and the install settings
(:class:`memos_client.install.session.Options`) a command makes of them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from memos_client.cli.app import Handler, arg, flag
from memos_client.cli.options import explain_registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from memos_client.install.session import Options

OFFLINE = flag("--offline", help="Use only the cache; never touch the network.")
ALLOW_UNSIGNED = flag("--allow-unsigned", help="Accept cubes whose envelope carries no signature.")
FORCE = flag(
    "--force",
    help="Go ahead even when it breaks an installed cube's dependency (and say what breaks).",
)


def allow_unlogged(verb: str) -> Callable[[Handler], Handler]:
    """``--allow-unlogged``; ``verb`` says what the command does with such a registry."""
    return flag(
        "--allow-unlogged",
        help=f"{verb} a registry without a transparency log (or, offline, without stored log "
        "proofs), with a warning.",
    )


#: ``--allow-unlogged`` of the commands that install (install, lock, sync).
ALLOW_UNLOGGED = allow_unlogged("Install from")


def requirements_file(help: str, default: Path | None = None) -> Callable[[Handler], Handler]:
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
        offline=offline,
        allow_unsigned=allow_unsigned,
        upgrade=upgrade,
        force=force,
        progress=None if json_output else progress_bar,
        counter=None if json_output else progress_counter,
        allow_unlogged=allow_unlogged,
        warn=warn,
    )
