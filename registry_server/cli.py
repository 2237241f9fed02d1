"""`memos-registry`: serve the registry, and admin commands (bootstrap tokens)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from registry_server.settings import Settings

app = typer.Typer(
    name="memos-registry",
    help="The MemStore registry server (MIP-1 registry API).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
admin = typer.Typer(
    help="Administration: bootstrap accounts, namespaces and tokens; list and revoke tokens.",
    no_args_is_help=True,
)
app.add_typer(admin, name="admin")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory of the embedded SQLite database and blobs."),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8700,
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(help="Server processes (they share DB and storage).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
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


@admin.command("create-token")
def create_token(
    namespace: Annotated[
        str, typer.Option(help="Namespace the token may act on (created if new).")
    ],
    account: Annotated[
        str | None, typer.Option(help="Account owning the namespace (default: its name).")
    ] = None,
    days: Annotated[
        int, typer.Option(help="Days until the token expires (1 to 3650).", min=1, max=3650)
    ] = 90,
    data_dir: DataDir = None,
) -> None:
    """Create account + namespace if needed and print a new token for it (shown once)."""
    from registry_server.db.session import write_session
    from registry_server.services.auth import bootstrap_token
    from registry_server.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    _prepare_data_dir(settings)
    engine = _open_database(settings)
    try:
        with write_session(engine) as session:
            secret = bootstrap_token(session, namespace, account, days)
            session.commit()
    finally:
        engine.dispose()
    typer.echo(secret)


def _existing_registry(data_dir: Path | None) -> Settings:
    """The settings of a registry that exists: an embedded one needs its data directory."""
    from registry_server.errors import NotFoundError
    from registry_server.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    data_dir = settings.data_dir
    if settings.resolved_database_url().startswith("sqlite") and not data_dir.is_dir():
        what = (
            f"{data_dir} is not a directory of registry data"
            if data_dir.exists()
            else f"no registry data at {data_dir}"
        )
        raise NotFoundError(
            f"{what}: pass the --data-dir the server uses "
            "(or MEMSTORE_DATA_DIR / MEMSTORE_DATABASE_URL)"
        )
    return settings


@admin.command("list-tokens")
def list_tokens(
    account: Annotated[str | None, typer.Option(help="Only this account's tokens.")] = None,
    data_dir: DataDir = None,
) -> None:
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
                typer.echo(
                    f"{token.id}\t{name}\t{token.display_prefix}...\t"
                    f"{','.join(token.namespaces)}\t{','.join(token.actions)}\t"
                    f"{token.expires_at.date().isoformat()}\t{state}\t{token.description}"
                )
    finally:
        engine.dispose()


@admin.command("revoke-token")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="The id `list-tokens` shows.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token by id (audited); it is refused from the next request on."""
    from registry_server.db.session import write_session
    from registry_server.services.auth import admin_revoke_token

    engine = _open_database(_existing_registry(data_dir))
    try:
        with write_session(engine) as session:
            token = admin_revoke_token(session, token_id)
            session.commit()
            typer.echo(f"revoked token {token_id} ({token.display_prefix}...)")
    finally:
        engine.dispose()


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: domain errors become one ``error:`` line and exit 1."""
    from mip.errors import MIPError
    from registry_server.errors import RegistryError
    from registry_server.settings import InvalidSettingsError

    try:
        app(args=argv)
    except InvalidSettingsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except (RegistryError, MIPError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except OSError as exc:  # a file or directory the commands above did not foresee
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
