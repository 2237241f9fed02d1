"""The install settings (:class:`memos_client.install.session.Options`) a command makes of its
options (imported by the commands as they run: not on the way to ``memos --help``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memos_client.cli.options import Fetching, explain_registry

if TYPE_CHECKING:
    from memos_client.install.session import Options

#: The fetching of the commands without those options (uninstall, list): the defaults.
NO_FETCHING_OPTIONS = Fetching()


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
        offline=fetching.offline,
        allow_unsigned=fetching.allow_unsigned,
        upgrade=upgrade,
        force=force,
        progress=None if json_output else progress_bar,
        counter=None if json_output else progress_counter,
        allow_unlogged=fetching.allow_unlogged,
        warn=warn,
    )
