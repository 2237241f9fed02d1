"""Runtime commands: add, query, plan, history, rollback, diff, lifecycle, access, principal.

Only typer and the standard library are imported here; the runtime (NumPy, SQLite, the
embedding model) is imported inside each command so ``memos --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos_client.cli.app import app
from memos_client.cli.output import printable

if TYPE_CHECKING:
    from datetime import datetime

    from memos_client.runtime import MemOS

lifecycle_app = typer.Typer(help="MemLifecycle: apply policies, archive and restore memories.")
app.add_typer(lifecycle_app, name="lifecycle")
principal_app = typer.Typer(help="Local principals (who a command acts as, with --as).")
app.add_typer(principal_app, name="principal")

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", help="Act as this local principal (default: $MEMOS_PRINCIPAL or 'local')."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
CubeOption = Annotated[str | None, typer.Option("--cube", help="Cube name, namespace/name.")]


def _open(principal: str | None) -> MemOS:
    from memos_client.runtime import MemOS

    return MemOS(principal=principal)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _parse_meta(pairs: list[str]) -> dict[str, Any]:
    from memos_client.errors import UsageError

    metadata: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta {pair!r}: expected KEY=VALUE")
        try:
            # Numbers, booleans and JSON values keep their type; anything else is a string.
            metadata[key] = json.loads(value)
        except json.JSONDecodeError:
            metadata[key] = value
    return metadata


def _point(text: str) -> int | str | datetime:
    if text.isdigit():
        return int(text)
    return text


@app.command("add")
def add_command(
    text: Annotated[str, typer.Argument(help="The memory text.")],
    cube: CubeOption = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A tag (repeatable).")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", "-m", help="Metadata KEY=VALUE (repeatable).")
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a plaintext memory to a cube (default local/default) and print its id."""
    from memos_client.runtime import DEFAULT_CUBE

    with _open(as_) as mem:
        item_id = mem.add(
            text, cube=cube or DEFAULT_CUBE, tags=tag or [], metadata=_parse_meta(meta or [])
        )
        if json_output:
            _print_json(mem.get(item_id, touch=False).to_json())
        else:
            typer.echo(item_id)


@app.command("query")
def query_command(
    text: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", help="How many results.")] = 10,
    cube: CubeOption = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Only memories with this tag.")
    ] = None,
    include_archived: Annotated[
        bool, typer.Option("--include-archived", help="Also search archived memories.")
    ] = False,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Hybrid search (lexical + semantic + filters) over the cubes you may read."""
    with _open(as_) as mem:
        hits = mem.search(
            text, k=k, cube=cube, filters={"tags": tag or []}, include_archived=include_archived
        )
    if json_output:
        _print_json([hit.to_json() for hit in hits])
        return
    if not hits:
        typer.echo("no memories found")
    for hit in hits:
        found = "+".join(hit.retrievers)
        typer.echo(
            f"{hit.score:.3f}  {hit.item.id}  [{hit.item.cube}] ({found})  {printable(hit.item.text)}"
        )


@app.command("plan")
def plan_command(
    text: Annotated[str, typer.Argument(help="The query the plan is for.")],
    budget: Annotated[int, typer.Option("--budget", help="Prompt tokens for memories.")] = 1024,
    cube: CubeOption = None,
    k: Annotated[int, typer.Option("--k", help="Candidates considered.")] = 20,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="tokenizer.json (or model dir) to count with.")
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the memory plan for a query: memories for the prompt, KV snapshots, adapters."""
    from memos_client.runtime import MemOS

    with MemOS(principal=as_, tokenizer=tokenizer) as mem:
        plan = mem.plan(text, budget=budget, cube=cube, k=k)
    if json_output:
        _print_json(plan.to_json())
        return
    typer.echo(f"{plan.used_tokens}/{plan.budget_tokens} tokens, {len(plan.memories)} memories")
    for memory in plan.memories:
        typer.echo(f"  memory {memory.item.id}: {memory.reason}")
        typer.echo(f"    {printable(memory.item.text)}")
    for part in [*plan.activations, *plan.adapters]:
        typer.echo(f"  {part.kind} {part.cube}:{part.name}: {part.reason}")
    for reason in plan.skipped:
        typer.echo(f"  skipped {reason}")


@app.command("history")
def history_command(
    target: Annotated[str, typer.Argument(help="A memory id or a cube name.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every version of a memory, or of every memory of a cube (oldest first)."""
    with _open(as_) as mem:
        versions = mem.history(target)
    if json_output:
        _print_json([version.to_json() for version in versions])
        return
    for version in versions:
        typer.echo(
            f"#{version.seq}  {version.at}  {version.item_id} v{version.version} "
            f"{version.op} [{version.state}] by {version.principal}: {printable(version.text[:80])}"
        )


@app.command("rollback")
def rollback_command(
    cube: Annotated[str, typer.Argument(help="The cube to roll back.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="A change number (#N in history), an RFC 3339 time or an installed version.",
        ),
    ],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Bring a cube back to an earlier point; the rollback is itself new versions."""
    with _open(as_) as mem:
        report = mem.rollback(cube, to=_point(to))
    if json_output:
        _print_json(report.to_json())
        return
    typer.echo(
        f"rolled {report.cube} back to change {report.target_seq}: "
        f"{len(report.restored)} restored, {len(report.deleted)} deleted"
    )


@app.command("diff")
def diff_command(
    cube: Annotated[str, typer.Argument(help="The cube.")],
    before: Annotated[str, typer.Argument(help="Earlier point: change number, time or version.")],
    after: Annotated[str, typer.Argument(help="Later point (default: now).")] = "now",
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """What was added, removed or changed in a cube between two points."""
    with _open(as_) as mem:
        entries = mem.diff(cube, _point(before), _point(after))
    if json_output:
        _print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        typer.echo("no differences")
    for entry in entries:
        sign = {"added": "+", "removed": "-", "changed": "~"}[entry.change]
        shown = entry.after or entry.before
        text = shown.text if shown is not None else ""
        typer.echo(f"{sign} {entry.item_id}: {printable(text[:100])}")


@lifecycle_app.command("tick")
def tick_command(
    now: Annotated[
        str | None, typer.Option("--now", help="Pretend it is this RFC 3339 time.")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Also promote Activated memories to a KV snapshot for this local model and "
            "drop stale or idle snapshots (docs/activation-memory.md).",
        ),
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Apply lifecycle policies: expire, archive idle and promote hot memories."""
    from memos_client.errors import UsageError
    from memos_client.runtime.models import from_rfc3339

    moment = None
    if now is not None:
        try:
            moment = from_rfc3339(now)
        except ValueError as exc:
            raise UsageError(f"--now {now!r}: {exc}") from exc
    if model is not None:
        from memos_client.runtime.activation.lifecycle_policy import tick_activation
        from memos_client.runtime.activation.model_adapter import load_model

        loaded = load_model(model)
        with _open(as_) as mem:
            activation = tick_activation(mem, loaded, now=moment)
        if json_output:
            _print_json(activation.to_json())
            return
        counts = activation.lifecycle
        typer.echo(
            f"{len(counts['expired'])} expired, {len(counts['archived'])} archived, "
            f"{len(counts['activated'])} activated; snapshots: "
            f"{len(activation.promoted)} built, {len(activation.dropped)} dropped"
        )
        for line in activation.promoted + activation.dropped:
            typer.echo(f"  {line}")
        return
    with _open(as_) as mem:
        report = mem.lifecycle.tick(now=moment)
    if json_output:
        _print_json(report.to_json())
        return
    typer.echo(
        f"{len(report.expired)} expired, {len(report.archived)} archived, "
        f"{len(report.activated)} activated"
    )


@lifecycle_app.command("archive")
def archive_command(item_id: str, as_: AsOption = None) -> None:
    """Archive a memory (it leaves default retrieval)."""
    with _open(as_) as mem:
        version = mem.lifecycle.archive(item_id)
    typer.echo(f"archived {item_id} (version {version})")


@lifecycle_app.command("restore")
def restore_command(item_id: str, as_: AsOption = None) -> None:
    """Restore an archived memory."""
    with _open(as_) as mem:
        version = mem.lifecycle.restore(item_id)
    typer.echo(f"restored {item_id} (version {version})")


@app.command("access")
def access_command(
    cube: Annotated[str, typer.Argument(help="The cube.")],
    read: Annotated[
        str | None,
        typer.Option("--read", help="Comma-separated principals who may read ('*': anyone)."),
    ] = None,
    write: Annotated[
        str | None, typer.Option("--write", help="Comma-separated principals who may write.")
    ] = None,
    as_: AsOption = None,
) -> None:
    """Show or set a cube's access policy."""

    def split(value: str | None) -> list[str] | None:
        return None if value is None else [n.strip() for n in value.split(",") if n.strip()]

    with _open(as_) as mem:
        if read is None and write is None:
            governance = mem.governor.governance(cube)
        else:
            governance = mem.set_access(cube, read=split(read), write=split(write))
    access = governance.get("access", {})
    typer.echo(f"read: {','.join(access.get('read', ['*']))}")
    typer.echo(f"write: {','.join(access.get('write', ['*']))}")


@principal_app.command("add")
def principal_add_command(name: str, as_: AsOption = None) -> None:
    """Register a local principal (only 'local' may)."""
    with _open(as_) as mem:
        mem.add_principal(name)
    typer.echo(f"added principal {name}")


@principal_app.command("list")
def principal_list_command() -> None:
    """List the local principals."""
    with _open(None) as mem:
        for name in mem.governor.principals():
            typer.echo(name)
