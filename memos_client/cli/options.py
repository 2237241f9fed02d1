"""Parameters many commands share, declared once so that their help says the same true thing."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from memos_client.cli.app import Declaration, arg, flag, option_group

#: Where installs look when no registry is named (memos_client.install.fetch.DEFAULT_INDEX_URL;
#: not imported here, to keep `memos --help` light; tests/cli check they agree).
DEFAULT_INDEX_URL = "http://127.0.0.1:8700"

#: The resolution order, as the commands apply it (memos_client.registry.config).
_ORDER = "--index-url, else $MEMOS_INDEX_URL, else the registry of the last `memos login`"

#: ``--index-url`` of the commands that read from a registry and fall back to the local default.
INDEX_URL_READ = arg(
    "--index-url",
    metavar="URL",
    help=f"Registry to use: {_ORDER}, else {DEFAULT_INDEX_URL}.",
)
#: ``--index-url`` of the commands that need a configured registry (no local default).
INDEX_URL = arg(
    "--index-url",
    metavar="URL",
    help=f"Registry to use: {_ORDER} (none of them: an error).",
)
JSON = flag(
    "--json",
    dest="json_output",
    help="Print JSON for scripts (an error: a JSON object on stderr). Also `memos --json CMD`.",
)
_AS = "Act as this local principal (default: $MEMOS_PRINCIPAL or 'local')"
#: ``--as`` of the commands on the local runtime (runtime_session.runtime_command).
AS = arg(
    "--as",
    dest="as_",
    metavar="PRINCIPAL",
    help=f"{_AS}; names a principal, does not authenticate one.",
)
#: ``--as`` of export, import and the servers (mcp, serve).
AS_BRIEF = arg("--as", dest="as_", metavar="PRINCIPAL", help=f"{_AS}.")
DRY_RUN = flag(
    "--dry-run",
    help="Say what would change; change nothing (no install, no removal, no file written).",
)

#: ``--min-score`` of the commands that spend a token budget (plan, generate).
PLAN_MIN_SCORE = arg(
    "--min-score",
    type=float,
    default=0.1,
    help="Spend no budget on memories scored below this (0..1; default: %(default)s).",
)
#: ``--no-widen`` of the same commands.
NO_WIDEN = flag(
    "--no-widen",
    help="Keep chosen document chunks without their neighbours (by default budget left once "
    "every relevant memory is placed goes to them).",
)


#: ``--force`` of the commands that change the installed cubes (install, uninstall).
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


def index_url_source(given: str | None) -> str:
    """Where the registry URL of a command comes from (``memos -v`` says so)."""
    import os

    from memos_client.cli.context import current

    if given is not None:
        return "--index-url" if given != current().index_url else "memos --index-url"
    if os.environ.get("MEMOS_INDEX_URL"):
        return "$MEMOS_INDEX_URL"
    from memos_client.registry.config import read_logins

    if read_logins().index_url:
        return "the last `memos login`"
    return "the default"


def explain_registry(given: str | None, url: str, source: str | None = None) -> None:
    """``registry: URL (from SOURCE)`` with ``-v`` (``source``: a file that named it)."""
    from memos_client.cli.output import detail

    detail(f"registry: {url} (from {source or index_url_source(given)})")
