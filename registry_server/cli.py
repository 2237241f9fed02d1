"""`memos-registry`: serve the registry, and admin commands (bootstrap tokens)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="memos-registry",
    help="The MemStore registry server (MIP-1 registry API).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
admin = typer.Typer(
    help="Administration: bootstrap accounts, namespaces and tokens.", no_args_is_help=True
)
app.add_typer(admin, name="admin")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory of the embedded SQLite database and blobs."),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(help="Server processes (they share DB and storage).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the registry (settings from MEMSTORE_* variables; flags override them)."""
    import uvicorn

    from registry_server.settings import load_settings

    if data_dir is not None:
        os.environ["MEMSTORE_DATA_DIR"] = str(data_dir)
    load_settings()  # fail here, with a clear message, on bad settings
    uvicorn.run(
        "registry_server.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
    )


@admin.command("create-token")
def create_token(
    namespace: Annotated[
        str, typer.Option(help="Namespace the token may act on (created if new).")
    ],
    account: Annotated[
        str | None, typer.Option(help="Account owning the namespace (default: its name).")
    ] = None,
    days: Annotated[int, typer.Option(help="Days until the token expires.")] = 90,
    data_dir: DataDir = None,
) -> None:
    """Create account + namespace if needed and print a new token for it (shown once)."""
    from registry_server.db.session import create_db_engine, init_schema, write_session
    from registry_server.services.auth import bootstrap_token
    from registry_server.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.resolved_database_url(), 1)
    try:
        init_schema(engine)
        with write_session(engine) as session:
            secret = bootstrap_token(session, namespace, account, days)
            session.commit()
    finally:
        engine.dispose()
    typer.echo(secret)


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
