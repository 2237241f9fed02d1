"""``memos cache info|verify|clean``: the download cache under $MEMOS_CACHE_DIR."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from memos_client.cli.app import app

if TYPE_CHECKING:
    from memos_client.install.cache import Cache

cache_app = typer.Typer(help="Inspect, verify or clear the download cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _cache() -> Cache:
    from memos_client.config import memos_cache_dir
    from memos_client.install.cache import Cache

    return Cache(memos_cache_dir())


@cache_app.command("info")
def info(json_output: Json = False) -> None:
    """Where the cache is and what it holds."""
    from memos_client.cli.output import format_size, print_json

    summary = _cache().info()
    if json_output:
        print_json(summary)
        return
    typer.echo(f"cache: {summary['path']}")
    for kind in ("blobs", "envelopes", "index", "partial"):
        item = summary[kind]
        typer.echo(f"  {kind:<10} {item['count']:>6} entries  {format_size(item['bytes'])}")
    typer.echo(f"  total      {format_size(summary['total_bytes'])}")


@cache_app.command("verify")
def verify(json_output: Json = False) -> None:
    """Re-hash every cached blob and envelope; remove those that no longer match their name."""
    from memos_client.cli.output import format_size, print_json
    from memos_client.errors import VerificationError

    report = _cache().verify(remove=True)
    if json_output:
        print_json(
            {"checked": report.checked, "bytes": report.bytes_checked, "corrupt": report.corrupt}
        )
    else:
        typer.echo(f"checked {report.checked} entries ({format_size(report.bytes_checked)})")
    if report.corrupt:
        raise VerificationError(
            f"{len(report.corrupt)} corrupted cache entries removed: {', '.join(report.corrupt)}; "
            "they will be downloaded again when needed"
        )


@cache_app.command("clean")
def clean() -> None:
    """Delete everything in the cache (installed cubes keep their files)."""
    from memos_client.cli.output import format_size

    freed = _cache().clean()
    typer.echo(f"removed {format_size(freed)} from the cache")
