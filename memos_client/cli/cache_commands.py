"""``memos cache info|verify|clean``: the download cache under $MEMOS_CACHE_DIR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memos_client.cli.app import command, group
from memos_client.cli.options import JSON

if TYPE_CHECKING:
    from memos_client.install.cache import Cache

CACHE = group("cache", "Inspect, verify or clear the download cache.")


def _cache() -> Cache:
    from memos_client.config import memos_cache_dir
    from memos_client.install.cache import Cache

    return Cache(memos_cache_dir())


@command("info", group=CACHE)
@JSON
def info(json_output: bool) -> None:
    """Where the cache is and what it holds."""
    from memos_client.cli.output import format_size, print_json

    summary = _cache().info()
    if json_output:
        print_json(summary)
        return
    print(f"cache: {summary['path']}")
    for kind in ("blobs", "envelopes", "index", "partial"):
        item = summary[kind]
        print(f"  {kind:<10} {item['count']:>6} entries  {format_size(item['bytes'])}")
    print(f"  total      {format_size(summary['total_bytes'])}")


@command("verify", group=CACHE)
@JSON
def verify(json_output: bool) -> None:
    """Re-hash every cached blob and envelope; remove those that no longer match their name."""
    from memos_client.cli.output import format_size, print_json
    from memos_client.errors import VerificationError

    report = _cache().verify(remove=True)
    if json_output:
        print_json(
            {"checked": report.checked, "bytes": report.bytes_checked, "corrupt": report.corrupt}
        )
    else:
        print(f"checked {report.checked} entries ({format_size(report.bytes_checked)})")
    if report.corrupt:
        raise VerificationError(
            f"{len(report.corrupt)} corrupted cache entries removed: {', '.join(report.corrupt)}; "
            "they will be downloaded again when needed"
        )


@command("clean", group=CACHE)
@JSON
def clean(json_output: bool) -> None:
    """Delete everything in the cache (installed cubes keep their files)."""
    from memos_client.cli.output import format_size, print_json

    freed = _cache().clean()
    if json_output:
        print_json({"freed_bytes": freed})
        return
    print(f"removed {format_size(freed)} from the cache")
