"""`memos-registry`: serve the registry, and admin commands (bootstrap tokens)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from cli_support import args as cli_args

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from registry_server.settings import Settings


def _fail(message: str, exit_code: int) -> NoReturn:
    """Write ``error: MESSAGE`` (one line, :func:`cli_support.args.write_error`) and exit."""
    cli_args.write_error(message)
    sys.exit(exit_code)


class _Parser(cli_args.Parser):
    """An argument parser whose usage errors are one ``error:`` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{self.prog}: {message} (see `{self.prog} --help`)", 2)


def serve(host: str, port: int, data_dir: Path | None, workers: int, access_log: bool) -> None:
    """Serve the registry (settings from MEMSTORE_* variables; flags override them)."""
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from registry_server.settings import load_settings

    if data_dir is not None:
        os.environ["MEMSTORE_DATA_DIR"] = str(data_dir)
    # Fail here, with one clear line, on what would otherwise fail in the app's start-up.
    _check_before_serving(load_settings())
    uvicorn.run(
        "registry_server.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        log_config=_log_config(copy.deepcopy(LOGGING_CONFIG)),
    )


def _log_config(config: dict[str, Any]) -> dict[str, Any]:
    """Uvicorn's logging, with the registry's own lines (``registry_server.*``) beside its."""
    config["loggers"]["registry_server"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def _check_before_serving(settings: Settings) -> None:
    """Open what the server will use -- data directory, blob storage, database -- and close it."""
    from registry_server.services.log_key import load_log_signer
    from registry_server.services.storage import LocalBlobStore, open_blob_store
    from registry_server.services.transparency import ensure_log

    _prepare_data_dir(settings)
    store = open_blob_store(settings)
    if isinstance(store, LocalBlobStore):
        store.check()  # a bucket is only reached later: the server may start before it
    engine = _open_database(settings)
    try:
        signer = load_log_signer(settings)
        ensure_log(engine, signer.origin, signer.verifier.verifier_key())
    finally:
        engine.dispose()


def _prepare_data_dir(settings: Settings) -> None:
    """Create the data directory, or say in one line why it cannot be used."""
    from registry_server.settings import InvalidSettingsError

    path = settings.data_dir
    if path.exists() and not path.is_dir():
        raise InvalidSettingsError(
            f"the data directory {path} is not a directory: pass a directory as --data-dir "
            "(or MEMSTORE_DATA_DIR); it is created when missing"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        # Root passes every permission check; only a real write shows a read-only place.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise InvalidSettingsError(
            f"the data directory {path} cannot be used ({exc.strerror or exc}): pass a "
            "writable directory as --data-dir (or MEMSTORE_DATA_DIR)"
        ) from exc


def _open_database(settings: Settings) -> Engine:
    """An engine on the registry's database with its schema in place, or one clear error."""
    from sqlalchemy.engine import make_url

    from registry_server.db.session import create_db_engine, init_schema
    from registry_server.errors import DatabaseUnavailableError

    url = settings.resolved_database_url()
    engine = create_db_engine(url, 1)
    try:
        init_schema(engine)
    except DatabaseUnavailableError as exc:
        engine.dispose()
        cause = exc.__cause__
        reason = str(getattr(cause, "orig", None) or cause or exc).strip().splitlines()[0]
        if engine.dialect.name == "sqlite":
            where = make_url(url).database
            advice = (
                "if the file is damaged, move it away or restore it from a backup; "
                "or pass another --data-dir"
            )
        else:
            where = make_url(url).render_as_string(hide_password=True)
            advice = "check MEMSTORE_DATABASE_URL and that the database server is running"
        raise DatabaseUnavailableError(
            f"cannot use the registry database {where}: {reason}: {advice}"
        ) from exc
    return engine


def create_token(namespace: str, account: str | None, days: int, data_dir: Path | None) -> None:
    """Create account + namespace if needed and print a new token for it (shown once)."""
    from mip.names import validate_namespace
    from registry_server.services.auth import commit_bootstrap_token
    from registry_server.settings import load_settings

    # Bad names are refused before a data directory and a database are created for them.
    validate_namespace(namespace)
    if account:
        validate_namespace(account)
    settings = load_settings(data_dir=data_dir)
    _prepare_data_dir(settings)
    engine = _open_database(settings)
    try:
        secret = commit_bootstrap_token(engine, namespace, account, days)
    finally:
        engine.dispose()
    sys.stdout.write(f"{secret}\n")


def _existing_registry(data_dir: Path | None) -> Settings:
    """The settings of a registry that exists: an embedded one needs its data directory."""
    from registry_server.errors import NotFoundError
    from registry_server.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    data_dir = settings.data_dir
    if not settings.resolved_database_url().startswith("sqlite"):
        return settings
    what: str | None = None
    if not data_dir.is_dir():
        what = (
            f"{data_dir} is not a directory of registry data"
            if data_dir.exists()
            else f"no registry data at {data_dir}"
        )
    elif not settings.database_url and not (data_dir / "registry.db").exists():
        # Any directory is not a registry: opening one would create an empty database in it.
        what = f"no registry database in {data_dir} (no registry.db)"
    if what is not None:
        raise NotFoundError(
            f"{what}: pass the --data-dir the server uses "
            "(or MEMSTORE_DATA_DIR / MEMSTORE_DATABASE_URL)"
        )
    return settings


def list_tokens(account: str | None, data_dir: Path | None) -> None:
    """List tokens (id, account, prefix, scopes, expiry, state), newest first; no secrets."""
    from registry_server.db.models import utcnow
    from registry_server.db.session import read_session
    from registry_server.services.auth import admin_list_tokens

    engine = _open_database(_existing_registry(data_dir))
    try:
        with read_session(engine) as session:
            rows = admin_list_tokens(session, account)
            now = utcnow()
            for name, token in rows:
                state = (
                    "revoked"
                    if token.revoked
                    else "expired"
                    if token.expires_at <= now
                    else "active"
                )
                sys.stdout.write(
                    f"{token.id}\t{name}\t{token.display_prefix}...\t"
                    f"{','.join(token.namespaces)}\t{','.join(token.actions)}\t"
                    f"{token.expires_at.date().isoformat()}\t{state}\t{token.description}\n"
                )
    finally:
        engine.dispose()


def revoke_token(token_id: int, data_dir: Path | None) -> None:
    """Revoke a token by id (audited); it is refused from the next request on."""
    from registry_server.db.session import write_session
    from registry_server.services.auth import admin_revoke_token

    engine = _open_database(_existing_registry(data_dir))
    try:
        with write_session(engine) as session:
            token = admin_revoke_token(session, token_id)
            session.commit()
            sys.stdout.write(f"revoked token {token_id} ({token.display_prefix}...)\n")
    finally:
        engine.dispose()


def gc(dry_run: bool, grace_minutes: int, data_dir: Path | None) -> None:
    """Remove blobs no version references, old upload sessions and abandoned uploads."""
    from datetime import timedelta

    from registry_server.services.collect import collect_garbage
    from registry_server.services.storage import open_blob_store

    settings = _existing_registry(data_dir)
    engine = _open_database(settings)
    try:
        report = collect_garbage(
            engine,
            open_blob_store(settings),
            grace=timedelta(minutes=grace_minutes),
            abandoned_write_seconds=settings.abandoned_write_seconds,
            dry_run=dry_run,
        )
    finally:
        engine.dispose()
    lines = [f"blob\t{digest}\t{size}" for digest, size in report.blobs]
    lines += [f"object\t{key}\t{size}" for key, size in report.stray_objects]
    lines += [f"session\t{upload_id}" for upload_id in report.sessions]
    lines += [f"chunk\t{key}\t{size}" for key, size in report.stray_chunks]
    lines += [f"abandoned\t{name}\t{size}" for name, size in report.abandoned]
    lines += [f"kept\t{digest}\t(a publish referenced it meanwhile)" for digest in report.kept]
    counts = (
        f"{len(report.blobs)} unreferenced blob(s), {len(report.stray_objects)} stray "
        f"object(s), {len(report.sessions)} upload session(s), {len(report.stray_chunks)} stray "
        f"chunk(s), {len(report.abandoned)} abandoned upload(s)"
    )
    if dry_run:
        summary = (
            f"would remove {counts}: {report.freed_bytes:,} bytes (dry run: nothing was removed)"
        )
    else:
        summary = f"removed {counts}: {report.freed_bytes:,} bytes freed"
    sys.stdout.write("".join(f"{line}\n" for line in [*lines, summary]))


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=cli_args.path,
        help="Directory of the embedded SQLite database and blobs.",
    )


def _add_bounded_integer(
    parser: argparse.ArgumentParser, flag: str, low: int, high: int, default: int, purpose: str
) -> None:
    """An integer option refused outside ``low``..``high``; its help states the range once."""
    parser.add_argument(
        flag,
        type=cli_args.integer(low, high),
        default=default,
        help=f"{purpose} ({low} to {high}; default: %(default)s).",
    )


def _command(
    commands: argparse._SubParsersAction[_Parser],
    name: str,
    handler: Callable[..., None],
) -> argparse.ArgumentParser:
    """The parser of one command that runs ``handler``, its docstring as help."""
    parser = commands.add_parser(
        name, help=handler.__doc__, description=handler.__doc__, allow_abbrev=False
    )
    parser.set_defaults(handler=handler, parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of `memos-registry`: ``serve`` and the ``admin`` commands."""
    parser = _Parser(
        prog="memos-registry",
        description="The MemStore registry server (MIP-1 registry API).",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action=cli_args.VersionAction)
    parser.set_defaults(handler=None, parser=parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve_parser = _command(commands, "serve", serve)
    serve_parser.add_argument(
        "--host",
        type=cli_args.text,
        default="127.0.0.1",
        help="Address to listen on (default: %(default)s).",
    )
    _add_bounded_integer(serve_parser, "--port", 0, 65535, 8700, "Port to listen on")
    _add_data_dir(serve_parser)
    serve_parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Server processes (they share DB and storage; default: %(default)s).",
    )
    serve_parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Log every request (default: %(default)s).",
    )

    admin_help = (
        "Administration: bootstrap accounts, namespaces and tokens; list and revoke tokens; "
        "collect garbage."
    )
    admin_parser = commands.add_parser(
        "admin", help=admin_help, description=admin_help, allow_abbrev=False
    )
    admin_parser.set_defaults(parser=admin_parser)
    admin_commands = admin_parser.add_subparsers(title="commands", metavar="COMMAND")

    create = _command(admin_commands, "create-token", create_token)
    create.add_argument(
        "--namespace",
        type=cli_args.text,
        required=True,
        help="Namespace the token may act on (created if new).",
    )
    create.add_argument(
        "--account", type=cli_args.text, help="Account owning the namespace (default: its name)."
    )
    _add_bounded_integer(create, "--days", 1, 3650, 90, "Days until the token expires")
    _add_data_dir(create)

    listing = _command(admin_commands, "list-tokens", list_tokens)
    listing.add_argument("--account", type=cli_args.text, help="Only this account's tokens.")
    _add_data_dir(listing)

    revoke = _command(admin_commands, "revoke-token", revoke_token)
    revoke.add_argument("token_id", type=int, help="The id `list-tokens` shows.")
    _add_data_dir(revoke)

    collect = _command(admin_commands, "gc", gc)
    collect.add_argument(
        "--dry-run",
        action="store_true",
        help="List what would be removed; remove nothing.",
    )
    collect.add_argument(
        "--grace-minutes",
        type=cli_args.integer(0, 10 * 365 * 24 * 60),
        default=24 * 60,
        help="Keep unreferenced blobs and upload sessions younger than this: a publish in "
        "progress has uploaded its blobs but not yet referenced them (default: %(default)s).",
    )
    _add_data_dir(collect)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run its command."""
    known, extra = build_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    namespace = vars(known)
    handler: Callable[..., None] | None = namespace.pop("handler")
    parser: argparse.ArgumentParser = namespace.pop("parser")  # the innermost command's
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if handler is None:
        if parser.prog != "memos-registry":  # `memos-registry admin` alone
            parser.error("name a command")
        parser.print_help()  # `memos-registry` alone: what it can do
        return
    handler(**namespace)


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: domain errors become one ``error:`` line and exit 1."""
    from mip.errors import MIPError
    from registry_server.errors import RegistryError
    from registry_server.settings import InvalidSettingsError

    try:
        main(argv)
    except InvalidSettingsError as exc:
        _fail(str(exc), 2)
    except (RegistryError, MIPError) as exc:
        _fail(str(exc), 1)
    except BrokenPipeError:
        # The reader of stdout went away (`list-tokens | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:  # a file or directory the commands above did not foresee
        _fail(str(exc), 1)
    except KeyboardInterrupt:  # Ctrl-C (uvicorn re-raises it once the server has stopped)
        sys.stderr.write("\nAborted!\n")
        sys.exit(1)
