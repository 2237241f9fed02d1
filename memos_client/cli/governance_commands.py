"""Governance commands: ``audit`` (read the audit log) and ``purge`` (erase memories' text).

Only the standard library and the CLI framework are imported here; the runtime is imported
inside each command so ``memos --help`` stays fast.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from memos_client.cli.app import arg, command
from memos_client.cli.output import printable
from memos_client.cli.runtime_commands import AS, JSON

if TYPE_CHECKING:
    from memos_client.runtime import MemOS


def _open(principal: str | None) -> MemOS:
    from memos_client.runtime import MemOS

    return MemOS(principal=principal)


@command("audit")
@arg("cube", nargs="?", help="Only this cube's entries (its admins may read them).")
@arg("--since", help="Entries from this time on: RFC 3339, or a duration back (24h, 7d).")
@arg("--limit", type=int, default=100, help="At most this many entries (default: %(default)s).")
@AS
@JSON
def audit_command(
    cube: str | None, since: str | None, limit: int, as_: str | None, json_output: bool
) -> None:
    """Show the audit log, newest first: every read, write and refusal (the owner sees all)."""
    from memos_client.cli.moments import moment

    start = moment(since, "--since") if since is not None else None
    with _open(as_) as mem:
        entries = mem.audit(cube, since=start, limit=limit)
    if json_output:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
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
