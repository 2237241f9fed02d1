"""Governance commands: ``audit`` (read the audit log) and ``purge`` (erase memories' text).

Only the standard library and the CLI framework are imported here; the runtime is imported
inside each command so ``memos --help`` stays fast.
"""

from __future__ import annotations

import json

from memos_client.cli.app import arg, flag
from memos_client.cli.output import printable
from memos_client.cli.runtime_store import open_runtime, print_json, runtime_command


@runtime_command("audit")
@arg("cube", nargs="?", help="Only this cube's entries (its admins may read them).")
@arg("--since", help="Entries from this time on: RFC 3339, or a duration back (24h, 7d).")
@arg("--limit", type=int, default=100, help="At most this many entries (default: %(default)s).")
def audit_command(
    cube: str | None, since: str | None, limit: int, as_: str | None, json_output: bool
) -> None:
    """Show the audit log, newest first: every read, write and refusal (the owner sees all)."""
    from memos_client.cli.moments import moment

    start = moment(since, "--since") if since is not None else None
    with open_runtime(principal=as_) as mem:
        entries = mem.audit(cube, since=start, limit=limit)
    if json_output:
        print_json(entries)
        return
    if not entries:
        print("no audit entries")
    for entry in entries:
        where = entry["cube"] or "-"
        target = f" {entry['target']}" if entry["target"] else ""
        detail = f": {printable(entry['detail'][:120])}" if entry["detail"] else ""
        print(
            f"#{entry['seq']}  {entry['at']}  {entry['principal']} {entry['action']} "
            f"[{where}]{target} {entry['outcome']}{detail}"
        )


@runtime_command("purge")
@arg("item_id", nargs="?", metavar="ID", help="The memory to purge.")
@arg("--cube", help="Purge every memory of this cube instead.")
@flag("--yes", help="Confirm: the text is erased for good.")
def purge_command(
    item_id: str | None, cube: str | None, yes: bool, as_: str | None, json_output: bool
) -> None:
    """Erase a memory's text (or a cube's) from every version and index, for good.

    Unlike `memos delete`, no rollback brings it back; the audit log and a tombstone record
    that the purge happened, by whom and when, never the text. Needs the cube's admin right.
    """
    from memos_client.errors import UsageError

    if (item_id is None) == (cube is None):
        raise UsageError("give a memory ID or --cube CUBE (one of them)")
    if not yes:
        what = f"memory {item_id}" if item_id is not None else f"every memory of {cube}"
        raise UsageError(f"purging erases the text of {what} for good: add --yes to confirm")
    with open_runtime(principal=as_) as mem:
        report = mem.purge(item_id, cube=cube)
    if json_output:
        print(json.dumps(report.to_json(), indent=2))
        return
    print(
        f"purged {len(report.purged)} memories of {report.cube} ({report.versions} versions erased)"
    )
    for name in report.parts_removed:
        print(f"  removed part {name} (built from a purged memory)")
