"""Registry commands: ``login``, ``logout``, ``whoami``, ``publish``, ``yank``, ``search``,
``show``, ``token``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli_support.args import integer
from memos_client.cli.app import arg, command, flag, group
from memos_client.cli.options import INDEX_URL, INDEX_URL_READ, JSON, explain_registry
from memos_client.cli.output import note

if TYPE_CHECKING:
    from memos_client.registry.client import RegistryClient
    from mip.registry_api import VersionDetail

TOKEN = arg("--token", help="API token (default: MEMOS_TOKEN or `memos login`).")


def _client(index_url: str | None, token: str | None, *, read: bool = False) -> RegistryClient:
    """The registry a command names or is configured with, and the token of its origin.

    ``read``: a command that only reads (search, show) falls back to the local default registry
    as installs do (options.INDEX_URL_READ); the others need one configured."""
    from memos_client.registry.client import RegistryClient
    from memos_client.registry.config import configured_index_url, registry_settings

    given = index_url
    if read and configured_index_url(index_url) is None:
        from memos_client.cli.options import DEFAULT_INDEX_URL

        index_url = DEFAULT_INDEX_URL
    settings = registry_settings(index_url, token)
    explain_registry(given, settings.url)
    return RegistryClient(settings.url, settings.token)


def _split_reference(reference: str) -> tuple[str, str | None]:
    """``ns/name@1.2.3`` -> (``ns/name``, ``1.2.3``); the version is optional."""
    from mip.names import validate_cube_name
    from mip.versions import parse_version

    name, _, version = reference.partition("@")
    validate_cube_name(name)
    if version:
        parse_version(version)
    return name, version or None


@command()
@arg("--index-url", help="Registry URL (default: MEMOS_INDEX_URL).")
@arg("--token", help="API token; prompted for (hidden) when omitted.")
@JSON
def login(index_url: str | None, token: str | None, json_output: bool) -> None:
    """Check a token against the registry and store URL + token in $MEMOS_HOME (mode 0600)."""
    import os

    from memos_client.errors import UsageError
    from memos_client.registry.client import RegistryClient
    from memos_client.registry.config import check_index_url, check_token, save_login

    given = index_url or os.environ.get("MEMOS_INDEX_URL")
    if not given:
        raise UsageError("give the registry URL: memos login --index-url URL")
    url = check_index_url(given)
    if token:
        secret = check_token(token, "--token")
    elif os.environ.get("MEMOS_TOKEN"):
        secret = check_token(os.environ["MEMOS_TOKEN"], "MEMOS_TOKEN")
    else:
        import getpass

        try:
            typed = getpass.getpass("token: ")
        except EOFError:  # stdin closed before a line came (not a terminal, nothing piped in)
            print(file=sys.stderr)  # end the prompt's line
            raise UsageError(
                "no token given: pass --token, set MEMOS_TOKEN, or type it at the prompt"
            ) from None
        secret = check_token(typed, "the prompt")
    # Nothing is stored unless the registry accepted the token with a well-formed answer: a
    # failed login leaves the previous credentials as they were.
    with RegistryClient(url, secret) as client:
        identity = client.whoami()
    message = (
        f"logged in to {url} as {identity.account} (namespaces: {', '.join(identity.namespaces)})"
    )
    path = save_login(url, secret)
    if json_output:
        from memos_client.cli.output import print_json

        print_json(
            {
                "index_url": url,
                "account": identity.account,
                "namespaces": list(identity.namespaces),
                "credentials": str(path),
            }
        )
        return
    print(message)
    note(f"credentials stored in {path}")


@command()
@INDEX_URL
@TOKEN
@JSON
def whoami(index_url: str | None, token: str | None, json_output: bool) -> None:
    """Show the account, namespaces and expiry of the token used for the registry."""
    from memos_client.cli.output import print_json
    from memos_client.errors import UsageError

    with _client(index_url, token) as client:
        if client.token is None:
            raise UsageError(
                f"no token for {client.url}: run 'memos login --index-url {client.url}', "
                "or pass --token"
            )
        identity = client.whoami()
    if json_output:
        import msgspec

        print_json({"index_url": client.url, **msgspec.to_builtins(identity)})
        return
    print(f"{identity.account} at {client.url}")
    print(f"namespaces: {', '.join(identity.namespaces)}; actions: {', '.join(identity.actions)}")
    print(f"token {identity.token_prefix}... expires {identity.expires_at:%Y-%m-%d}")


@command()
@arg("--index-url", help="Registry to log out of (default: MEMOS_INDEX_URL or `memos login`'s).")
@JSON
def logout(index_url: str | None, json_output: bool) -> None:
    """Forget the token stored for a registry (the token stays valid: `memos token revoke`)."""
    from memos_client.errors import UsageError
    from memos_client.registry.config import configured_index_url, login_path, remove_login

    url = configured_index_url(index_url)
    if url is None:
        raise UsageError("no registry configured: pass --index-url")
    removed = remove_login(url)
    if json_output:
        from memos_client.cli.output import print_json

        print_json({"index_url": url, "logged_out": removed})
        return
    if not removed:
        note(f"not logged in to {url}")
        return
    print(f"logged out of {url} (removed its token from {login_path()})")


@command()
@arg("bundle", type=Path, help="The .memcube file to publish.")
@INDEX_URL
@TOKEN
@JSON
def publish(bundle: Path, index_url: str | None, token: str | None, json_output: bool) -> None:
    """Check a bundle, upload the blobs the registry lacks, then publish its signed manifest."""
    # The publish path stays light: the bundle checks' imports (msgspec models, cryptography)
    # happen while the upload runs (memos_client.authoring.publisher).
    from memos_client.authoring.publisher import publish_bundle
    from memos_client.cli.output import format_size, print_json, progress_bar

    client = _client(index_url, token)
    try:
        with progress_bar(
            bundle.stat().st_size if bundle.is_file() else 0, f"publish {bundle.name}"
        ) as advance:
            outcome = publish_bundle(bundle, client, progress=advance)
    finally:
        client.close()
    result = outcome.result
    if json_output:
        print_json(
            {
                "name": result.name,
                "version": result.version,
                "manifest_digest": result.manifest_digest,
                "created": result.created,
                "uploaded": outcome.uploaded,
                "skipped": outcome.skipped,
                "uploaded_bytes": outcome.uploaded_bytes,
            }
        )
        return
    state = "published" if result.created else "already published (identical), nothing changed:"
    print(f"{state} {result.name}@{result.version} {result.manifest_digest}")
    note(
        f"uploaded {len(outcome.uploaded)} blob(s), {format_size(outcome.uploaded_bytes)}; "
        f"{len(outcome.skipped)} already on the registry"
    )


@command()
@arg("reference", help="NS/NAME@VERSION to yank.")
@arg("--reason", help="Why (shown to people who pin it).")
@flag("--undo", help="Unyank instead.")
@INDEX_URL
@TOKEN
@JSON
def yank(
    reference: str,
    reason: str | None,
    undo: bool,
    index_url: str | None,
    token: str | None,
    json_output: bool,
) -> None:
    """Yank a version: resolvers skip it unless it is pinned exactly (==VERSION)."""
    from memos_client.errors import UsageError

    name, version = _split_reference(reference)
    if version is None:
        raise UsageError(f"name the version to yank: {name}@VERSION")
    if not undo and not reason:
        raise UsageError("say why with --reason TEXT (shown to people who pinned the version)")
    with _client(index_url, token) as client:
        info = client.unyank(name, version) if undo else client.yank(name, version, reason or "")
    if json_output:
        from memos_client.cli.output import print_json

        print_json(
            {
                "name": name,
                "version": info.version,
                "yanked": info.yanked,
                "yank_reason": info.yank_reason,
            }
        )
        return
    state = f"yanked ({info.yank_reason})" if info.yanked else "not yanked"
    print(f"{name}@{info.version}: {state}")


@command()
@arg("query", nargs="+", help="Words to search for.")
@arg(
    "--limit",
    type=integer(1, 100),
    default=20,
    help="At most this many results (default: %(default)s).",
)
@INDEX_URL_READ
@JSON
def search(query: list[str], limit: int, index_url: str | None, json_output: bool) -> None:
    """Search cube names, descriptions, keywords and tags."""
    from memos_client.cli.output import print_json
    from memos_client.errors import UsageError

    words = " ".join(query).strip()
    if not words:
        raise UsageError("give words to search for: memos search WORD...")
    with _client(index_url, None, read=True) as client:
        page = client.search(words, limit=limit)
    total, hits = page.total, page.results
    if json_output:
        print_json(
            {
                "total": total,
                "results": [
                    {
                        "name": hit.name,
                        "latest_version": hit.latest_version,
                        "description": hit.description,
                        "keywords": list(hit.keywords),
                        "downloads": hit.downloads,
                    }
                    for hit in hits
                ],
            }
        )
        return
    if not hits:
        note("no cubes found")
        return
    width = max(len(hit.name) for hit in hits)
    for hit in hits:
        latest = hit.latest_version or "(all yanked)"
        line = f"{hit.name:<{width}}  {latest:<12}  {hit.description.splitlines()[0] if hit.description else ''}"
        print(line.rstrip())
    if total > len(hits):
        note(f"... {total - len(hits)} more (use --limit)")


def show_registry(reference: str, index_url: str | None, json_output: bool) -> None:
    """The registry's view of a cube's versions, or of one version (``memos show`` prints it
    when the cube is not installed, or with ``--remote``; see list_commands.show)."""
    from memos_client.cli.output import format_size, print_json

    name, version = _split_reference(reference)
    import msgspec

    from memos_client.registry.client import CubeAnswer

    with _client(index_url, None, read=True) as client:
        if version is not None:
            details = client.version(name, version)
            if json_output:
                print_json(msgspec.to_builtins(details))
                return
            _print_version(name, details, format_size)
            return
        answer = client.cube(name)
    assert isinstance(answer, CubeAnswer)  # an unconditional request is never answered 304
    cube = answer.document
    if json_output:
        print_json(
            {
                "name": cube.name,
                "description": cube.description,
                "keywords": list(cube.keywords),
                "latest_version": cube.latest_version,
                "downloads": cube.downloads,
                "versions": [
                    {
                        "version": v.version,
                        "manifest_digest": v.manifest_digest,
                        "dependencies": v.dependencies,
                        "yanked": v.yanked,
                        "yank_reason": v.yank_reason,
                        "published_at": v.published_at,
                        "size": v.size,
                    }
                    for v in cube.versions
                ],
            }
        )
        return
    print(f"{cube.name}  latest {cube.latest_version or '(none)'}  downloads {cube.downloads}")
    if cube.description:
        print(cube.description)
    if cube.keywords:
        print("keywords: " + ", ".join(cube.keywords))
    for entry in reversed(cube.versions):
        flag = f"  YANKED: {entry.yank_reason}" if entry.yanked else ""
        print(
            f"  {entry.version:<16} {entry.published_at[:10]}  {format_size(entry.size):>9}{flag}"
        )


def _print_version(name: str, details: VersionDetail, format_size: Any) -> None:
    print(f"{details.name or name}@{details.version}  {details.manifest_digest}")
    print(f"published {details.published_at}  downloads {details.downloads}")
    if details.yanked:
        print(f"YANKED: {details.yank_reason}")
    for dependency, specifier in sorted(details.dependencies.items()):
        print(f"depends on {dependency} {specifier}")
    for part in details.parts:
        print(f"  {part.kind:<10} {part.name:<24} {format_size(part.size):>9}  {part.digest}")


TOKEN_GROUP = group("token", "Create, list and revoke the registry tokens of your account.")


@command("create", group=TOKEN_GROUP)
@arg(
    "-n",
    "--namespace",
    action="append",
    required=True,
    help="A namespace it may act on (repeat; '*' for all).",
)
@arg(
    "-a",
    "--action",
    action="append",
    help="publish, yank, keys or tokens (repeat; default publish).",
)
@arg(
    "--days",
    type=integer(1, 3650),
    default=90,
    help="Days until it expires (default: %(default)s).",
)
@arg("--description", default="", help="What it is for (shown in listings).")
@INDEX_URL
@TOKEN
@JSON
def token_create(
    namespace: list[str],
    action: list[str] | None,
    days: int,
    description: str,
    index_url: str | None,
    token: str | None,
    json_output: bool,
) -> None:
    """Create a token within your token's scopes; the secret is printed this once."""
    import msgspec

    from memos_client.cli.output import print_json

    with _client(index_url, token) as client:
        created = client.create_token(namespace, action or ["publish"], days, description)
    if json_output:
        print_json(msgspec.to_builtins(created))
        return
    print(created.token)
    print(
        f"scopes: {', '.join(created.namespaces)}; {', '.join(created.actions)}; "
        f"expires {msgspec.to_builtins(created.expires_at)}. It is not shown again: store it now.",
        file=sys.stderr,
    )


@command("list", group=TOKEN_GROUP)
@INDEX_URL
@TOKEN
@JSON
def token_list(index_url: str | None, token: str | None, json_output: bool) -> None:
    """Your account's tokens within your token's scopes, newest first (never their secrets)."""
    import msgspec

    from memos_client.cli.output import print_json

    with _client(index_url, token) as client:
        tokens = client.list_tokens()
    if json_output:
        print_json(msgspec.to_builtins(tokens))
        return
    if not tokens:
        note("no tokens")
        return
    for item in tokens:
        state = "revoked" if item.revoked else f"expires {item.expires_at:%Y-%m-%d}"
        mark = "  (this one)" if item.current else ""
        print(
            f"{item.id:>5}  {item.prefix}...  {','.join(item.namespaces)}  "
            f"{','.join(item.actions)}  {state}  {item.description}{mark}".rstrip()
        )


@command("revoke", group=TOKEN_GROUP)
@arg("token_id", nargs="?", type=int, help="Id from `memos token list`.")
@flag("--current", help="Revoke the token this command uses instead.")
@INDEX_URL
@TOKEN
@JSON
def token_revoke(
    token_id: int | None, current: bool, index_url: str | None, token: str | None, json_output: bool
) -> None:
    """Revoke a token: it is refused from its next request on."""
    from memos_client.errors import UsageError

    if (token_id is None) == (not current):
        raise UsageError(
            "name one token: `memos token revoke ID` (ids: `memos token list`) "
            "or `memos token revoke --current`"
        )
    with _client(index_url, token) as client:
        client.revoke_token(token_id)
    if json_output:
        from memos_client.cli.output import print_json

        print_json({"revoked": token_id if token_id is not None else "current"})
        return
    print(f"revoked token {token_id}" if token_id is not None else "revoked the token in use")
