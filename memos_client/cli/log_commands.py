"""``memos log verify|watch``: the registry's transparency log, after the install."""

from __future__ import annotations

import sys

from memos_client.cli.app import arg, command, flag, group

LOG = group("log", "Check installed cubes against the transparency log; watch a namespace.")
JSON = flag("--json", dest="json_output", help="Print JSON for scripts.")


@command("verify", group=LOG)
@flag("--offline", help="Re-check the proofs stored at install time only.")
@flag(
    "--allow-unlogged",
    help="Only warn about cubes from a registry without a log (or without stored proofs).",
)
@JSON
def verify(offline: bool, allow_unlogged: bool, json_output: bool) -> None:
    """Re-check every installed cube against its registry's transparency log.

    Online, each version needs a fresh inclusion proof in a checkpoint that extends the one this
    home accepted; with --offline, the proof stored when it was installed is re-checked."""
    from memos_client.cli.output import print_json
    from memos_client.cli.runtime_store import open_runtime
    from memos_client.config import memos_home
    from memos_client.install.log_audit import verify_installed

    results, warnings = verify_installed(
        memos_home(), open_runtime, offline=offline, allow_unlogged=allow_unlogged
    )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if json_output:
        print_json([result.to_json() for result in results])
        return
    if not results:
        print("no cubes installed", file=sys.stderr)
        return
    for result in results:
        if result.skipped:
            print(f"skipped  {result.name} {result.version}: {result.skipped}")
            continue
        yanked = "  (yanked in the log)" if result.yanked_in_log else ""
        print(
            f"ok       {result.name} {result.version}: entry {result.index} of "
            f"{result.tree_size}{yanked}"
        )


@command("watch", group=LOG)
@arg("namespace", help="The namespace to list the events of.")
@arg(
    "--since",
    type=int,
    metavar="N",
    help="Start at entry N (default: where the last clean watch of it stopped, else 0).",
)
@arg(
    "--expect-key",
    dest="expect_keys",
    action="append",
    default=[],
    metavar="KEYID",
    help="A key id (or its first 8+ hex digits) the namespace's events may name; repeatable "
    "(default: the keys pinned for the namespace).",
)
@arg(
    "--index-url",
    metavar="URL",
    help="Registry (default: $MEMOS_INDEX_URL, else http://127.0.0.1:8700).",
)
@JSON
def watch(
    namespace: str,
    since: int | None,
    expect_keys: list[str],
    index_url: str | None,
    json_output: bool,
) -> None:
    """List a namespace's events in the log; exit 3 on a key that was not expected.

    Every entry from --since to the current checkpoint is read from tiles proven against it; an
    event naming a key outside --expect-key (or the namespace's pinned keys) is a version or a
    key its owner did not publish: a stolen token or key."""
    from memos_client.cli.output import print_json
    from memos_client.config import memos_home
    from memos_client.errors import TrustError, UsageError
    from memos_client.install.fetch import default_registry_url
    from memos_client.install.log_audit import watch_namespace

    if since is not None and since < 0:
        raise UsageError("--since is an entry index, 0 or more")
    url = (index_url or default_registry_url()).rstrip("/")
    report = watch_namespace(
        memos_home(), url, namespace, since=since, expect_keys=[k.lower() for k in expect_keys]
    )
    if json_output:
        print_json(
            {
                "namespace": report.namespace,
                "origin": report.origin,
                "start": report.start,
                "tree_size": report.tree_size,
                "expected_keys": report.expected,
                "events": [event.to_json() for event in report.events],
            }
        )
    else:
        print(
            f"log {report.origin}: entries {report.start} to {report.tree_size - 1} "
            f"(checkpoint verified), namespace {report.namespace!r}, "
            f"expecting key(s) {', '.join(k[:16] for k in report.expected)}"
        )
        for event in report.events:
            what = f"{event.name} {event.version}" if event.name else "namespace keys"
            keys = ",".join(k[:16] for k in event.key_ids)
            flag = "  UNEXPECTED KEY" if event.unexpected else ""
            print(f"#{event.index:<6} {event.time}  {event.event:<12} {what}  keys {keys}{flag}")
        if not report.events:
            print("no events")
    if report.unexpected:
        first = report.unexpected[0]
        raise TrustError(
            f"{len(report.unexpected)} event(s) of namespace {report.namespace!r} name a key "
            f"that was not expected (first: entry {first.index}, {first.event} with key "
            f"{first.unexpected[0][:16]}): if you did not make them, your token or key is "
            "compromised -- revoke the token (`memos token revoke`) and yank what you did not "
            "publish"
        )
