"""What the commands that change the installed cubes print: a dry run's plan, and the cubes
installed (install, sync)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memos_client.cli.output import note

if TYPE_CHECKING:
    from memos_client.install.installer import InstallResult
    from memos_client.install.plan import Change
    from memos_client.trust.store import NamespacePin


def report_plan(changes: list[Change], json_output: bool) -> None:
    """``--dry-run``: what would change, one line per cube (stdout), nothing done."""
    from memos_client.cli.output import print_json

    if json_output:
        print_json({"dry_run": True, "changes": [c.to_json() for c in changes]})
        return
    for change in changes:
        before = f" (installed: {change.previous_version})" if change.previous_version else ""
        yanked = f" (yanked: {change.yank_reason})" if change.yanked else ""
        verb = "unchanged:" if change.action == "unchanged" else f"would {change.action}"
        print(f"{verb} {change.name} {change.version}{before}{yanked}")
    if not any(change.action != "unchanged" for change in changes):
        note("nothing would change")
    note("dry run: nothing was changed")


def report_installed(
    results: list[InstallResult], pins: list[NamespacePin], json_output: bool
) -> None:
    """The cubes installed (one line each) and the namespace keys trusted on first use."""
    from memos_client.cli.output import print_json

    if json_output:
        print_json(
            {
                "installed": [r.to_json() for r in results],
                "pinned": {p.namespace: sorted(p.keys) for p in pins},
            }
        )
        return
    for pin in pins:
        keys = ", ".join(key_id[:16] for key_id in pin.keys)
        source = "from the lockfile" if pin.source == "lockfile" else "first use"
        note(f"trusting key {keys} for namespace {pin.namespace!r} ({source})")
    for result in results:
        if result.unchanged:
            print(f"{result.name} {result.version} already installed")
        elif result.previous_version == result.version:
            print(f"reinstalled {result.name} {result.version} ({result.memory_count} memories)")
        elif result.previous_version:
            print(
                f"installed {result.name} {result.version} (was {result.previous_version}, "
                f"{result.memory_count} memories)"
            )
        else:
            print(f"installed {result.name} {result.version} ({result.memory_count} memories)")
