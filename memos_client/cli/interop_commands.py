"""Knowledge out and in: ``memos export`` and ``memos import`` (other systems' memory).

Only the CLI framework is imported here; the runtime and the format readers are imported inside
each command, so ``memos --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

from memos_client.cli.app import arg, command, flag
from memos_client.cli.options import AS_BRIEF, JSON
from memos_client.cli.runtime_store import open_runtime, print_json


@command("export")
@arg("cube", help="The cube to export (namespace/name).")
@arg("-o", "--output", type=Path, required=True, help="Output directory (a file for jsonl).")
@arg(
    "--format",
    dest="format_",
    choices=("source", "jsonl", "memos"),
    default="source",
    help="source: a cube source directory `memos pack` builds again (default); jsonl: one "
    "JSON object per memory; memos: a MemOS (MemTensor) cube directory.",
)
@AS_BRIEF
@JSON
def export_command(
    cube: str, output: Path, format_: str, as_: str | None, json_output: bool
) -> None:
    """Write a cube's memories, KV snapshots and adapters out as files."""
    with open_runtime(principal=as_) as mem:
        if format_ == "memos":
            from memos_client.interop.memos_writer import export_memos

            report = export_memos(mem, cube, output)
        else:
            from memos_client.interop.export import export_jsonl, export_source

            export = export_source if format_ == "source" else export_jsonl
            report = export(mem, cube, output)
    if json_output:
        print_json(report.to_json())
        return
    extra = ""
    if report.activations:
        extra += f", {len(report.activations)} KV snapshots"
    if report.adapters:
        extra += f", {len(report.adapters)} adapters"
    print(f"exported {report.cube}: {report.memories} memories{extra} to {report.path}")
    if report.skipped:
        print(f"  {report.skipped} expired memories left out")
    if format_ == "source":
        print(f"  rebuild the bundle with: memos pack {report.path}")


@command("import")
@arg("path", type=Path, help="A MemOS cube directory, a Letta .af file, a mem0 OpenMemory "
     "export zip, or a JSONL/CSV file of {text, tags, metadata}.")  # fmt: skip
@arg("--cube", help="The cube to import into (default: derived from the source).")
@flag("--dry-run", help="Show the report; write nothing.")
@flag("--messages", help="Also import conversation messages (Letta agent files) as turn memories.")
@AS_BRIEF
@JSON
def import_command(
    path: Path,
    cube: str | None,
    dry_run: bool,
    messages: bool,
    as_: str | None,
    json_output: bool,
) -> None:
    """Import another system's memory; report what was kept and what was dropped, and why."""
    from memos_client.interop.importer import import_path

    with open_runtime(principal=as_) as mem:
        report = import_path(mem, path, cube=cube, dry_run=dry_run, messages=messages)
    if json_output:
        print_json(report.to_json())
        return
    print(report.render())
