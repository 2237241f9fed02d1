"""`memos-registry`: serve the registry, and admin commands (bootstrap tokens)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from registry_server.settings import Settings


#: Control characters (C0 but tab, DEL, C1) as escapes: in an error line a newline would split
#: the line, an escape sequence act on the terminal.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL |= {0x09: "\t", 0x0A: "\\n"}


def _fail(message: str, exit_code: int) -> NoReturn:
    """Write ``error: MESSAGE`` as one line that any stderr can take, and exit.

    A message may quote the command line: its control characters are shown as escapes, and
    what stderr's encoding cannot take (a lone surrogate, from an undecodable byte) as
    ``\\udcNN``.
    """
    line = f"error: {message.translate(_CONTROL)}\n"
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr.write(line.encode(encoding, "backslashreplace").decode(encoding))
    sys.exit(exit_code)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``error:`` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{self.prog}: {message} (see `{self.prog} --help`)", 2)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # A value that is "--" itself (`--days=--`): Python 3.11's argparse drops it as the end
        # of the options and hands the parameter an empty list.
        if action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


def _text(value: str) -> str:
    """An argparse ``type``: text without an undecodable byte (a lone surrogate, which neither
    the database nor a name check can take)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not valid UTF-8 text (an undecodable byte at character {exc.start}): "
            "use UTF-8"
        ) from None
    return value


def _directory(value: str) -> Path:
    """An argparse ``type``: a directory; "" (which Path reads as ".") and NUL refused."""
    if not value:
        raise argparse.ArgumentTypeError("the path is empty: give a directory")
    if "\0" in value:
        raise argparse.ArgumentTypeError(f"{value!r} contains a NUL character: no file name does")
    return Path(value)


def _integer(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is not between {minimum} and {maximum}")
        return value

    return parse


def serve(host: str, port: int, data_dir: Path | None, workers: int, access_log: bool) -> None:
    """Serve the registry (settings from MEMSTORE_* variables; flags override them)."""
    import uvicorn

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
    )


def _check_before_serving(settings: Settings) -> None:
    """Open what the server will use -- data directory, blob storage, database -- and close it."""
    from registry_server.services.storage import LocalBlobStore, open_blob_store

    _prepare_data_dir(settings)
    store = open_blob_store(settings)
    if isinstance(store, LocalBlobStore):
        store.check()  # a bucket is only reached later: the server may start before it
    _open_database(settings).dispose()


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
    from registry_server.db.session import write_session
    from registry_server.services.auth import bootstrap_token
    from registry_server.settings import load_settings

    # Bad names are refused before a data directory and a database are created for them.
    validate_namespace(namespace)
    if account:
        validate_namespace(account)
    settings = load_settings(data_dir=data_dir)
    _prepare_data_dir(settings)
    engine = _open_database(settings)
    try:
        with write_session(engine) as session:
            secret = bootstrap_token(session, namespace, account, days)
            session.commit()
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


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=_directory, help="Directory of the embedded SQLite database and blobs."
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of `memos-registry`: ``serve`` and the ``admin`` commands."""
    parser = _Parser(
        prog="memos-registry",
        description="The MemStore registry server (MIP-1 registry API).",
        allow_abbrev=False,
    )
    parser.set_defaults(handler=None, parser=parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve", help=serve.__doc__, description=serve.__doc__, allow_abbrev=False
    )
    serve_parser.add_argument(
        "--host",
        type=_text,
        default="127.0.0.1",
        help="Address to listen on (default: %(default)s).",
    )
    serve_parser.add_argument(
        "--port",
        type=_integer(0, 65535),
        default=8700,
        help="Port to listen on (0 to 65535; default: %(default)s).",
    )
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
    serve_parser.set_defaults(handler=serve, parser=serve_parser)

    admin_help = (
        "Administration: bootstrap accounts, namespaces and tokens; list and revoke tokens."
    )
    admin_parser = commands.add_parser(
        "admin", help=admin_help, description=admin_help, allow_abbrev=False
    )
    admin_parser.set_defaults(parser=admin_parser)
    admin_commands = admin_parser.add_subparsers(title="commands", metavar="COMMAND")

    create = admin_commands.add_parser(
        "create-token",
        help=create_token.__doc__,
        description=create_token.__doc__,
        allow_abbrev=False,
    )
    create.add_argument(
        "--namespace",
        type=_text,
        required=True,
        help="Namespace the token may act on (created if new).",
    )
    create.add_argument(
        "--account", type=_text, help="Account owning the namespace (default: its name)."
    )
    create.add_argument(
        "--days",
        type=_integer(1, 3650),
        default=90,
        help="Days until the token expires (1 to 3650; default: %(default)s).",
    )
    _add_data_dir(create)
    create.set_defaults(handler=create_token, parser=create)

    listing = admin_commands.add_parser(
        "list-tokens",
        help=list_tokens.__doc__,
        description=list_tokens.__doc__,
        allow_abbrev=False,
    )
    listing.add_argument("--account", type=_text, help="Only this account's tokens.")
    _add_data_dir(listing)
    listing.set_defaults(handler=list_tokens, parser=listing)

    revoke = admin_commands.add_parser(
        "revoke-token",
        help=revoke_token.__doc__,
        description=revoke_token.__doc__,
        allow_abbrev=False,
    )
    revoke.add_argument("token_id", type=int, help="The id `list-tokens` shows.")
    _add_data_dir(revoke)
    revoke.set_defaults(handler=revoke_token, parser=revoke)
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
