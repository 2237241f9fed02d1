"""Runtime commands: add, query, plan, history, rollback, diff, access, principal.

Only the standard library and the CLI framework are imported here; the runtime (NumPy, SQLite,
the embedding model) is imported inside each command so ``memos --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.cli.app import arg, command, flag, group
from memos_client.cli.filter_args import FILTERS
from memos_client.cli.options import JSON, NO_WIDEN, PLAN_MIN_SCORE
from memos_client.cli.output import printable
from memos_client.cli.runtime_store import (
    open_runtime,
    print_json,
    respond,
    respond_settings,
    runtime_command,
)

if TYPE_CHECKING:
    from datetime import datetime

PRINCIPAL = group("principal", "Local principals (who a command acts as, with --as).")

CUBE = arg("--cube", help="Cube name, namespace/name.")
CUBES = arg("--cube", action="append", help="Only this cube (repeatable: several cubes).")


def _cubes(names: list[str] | None) -> str | list[str] | None:
    return names[0] if names and len(names) == 1 else names


def _point(text: str) -> int | str | datetime:
    if text.isdigit():
        return int(text)
    return text


@runtime_command("add")
@arg("text", nargs="?", help="The memory text (or use --file, --dir or --messages).")
@arg(
    "--file",
    dest="files",
    action="extend",
    nargs="+",
    type=Path,
    metavar="PATH",
    help="Documents to add (.md, .txt, .html, .pdf), cut into chunks; repeatable.",
)
@arg(
    "--dir",
    dest="dirs",
    action="append",
    type=Path,
    metavar="DIR",
    help="A folder whose documents to add (recursively); repeatable.",
)
@arg(
    "--messages",
    type=Path,
    metavar="FILE",
    help="Chat messages (a JSON list, or JSON Lines of sessions): one memory per turn.",
)
@arg("--session", help="Session id of a --messages file that names none (default: its name).")
@CUBE
@arg("-t", "--tag", action="append", help="A tag (repeatable).")
@arg("-m", "--meta", action="append", help="Metadata KEY=VALUE (repeatable; plain text only).")
def add_command(
    text: str | None,
    files: list[Path] | None,
    dirs: list[Path] | None,
    messages: Path | None,
    session: str | None,
    cube: str | None,
    tag: list[str] | None,
    meta: list[str] | None,
    as_: str | None,
    json_output: bool,
) -> None:
    """Add memories to a cube (default local/default): a text, documents or chat messages.

    memos add "TEXT"                  one memory; prints its id
    memos add --file a.md b.pdf       documents cut into chunks within the embedder's
    memos add --dir docs/             256 tokens; adding a changed file again replaces
                                      only the chunks that changed
    memos add --messages chat.json    one memory per turn (speaker, session, turn, time)
    """
    from memos_client.cli.metadata_args import parse_meta
    from memos_client.errors import UsageError
    from memos_client.runtime import DEFAULT_CUBE

    given = [
        name for name, value in (("TEXT", text), ("--messages", messages)) if value is not None
    ]
    if files or dirs:
        given.append("--file/--dir")
    if len(given) != 1:
        raise UsageError("give one of TEXT, --file/--dir or --messages (see `memos add --help`)")
    target = cube or DEFAULT_CUBE
    if text is not None:
        with open_runtime(principal=as_, warm=False) as mem:
            item_id = mem.add(text, cube=target, tags=tag or [], metadata=parse_meta(meta or []))
            if json_output:
                print_json(mem.get(item_id, touch=False).to_json())
            else:
                print(item_id)
        return
    if meta:
        raise UsageError("-m/--meta applies to a TEXT memory; documents and messages carry "
                         "their own metadata")  # fmt: skip
    if messages is not None:
        _add_messages(messages, session, target, tag or [], as_, json_output)
        return
    from memos_client.ingest.adding import add_documents, collect_documents

    paths, skipped = collect_documents(files or [], dirs or [])
    with open_runtime(principal=as_, warm=False) as mem:
        reports = add_documents(mem, paths, cube=target, tags=tag or [])
    if json_output:
        print_json(
            {
                "cube": target,
                "documents": [report.to_json() for report in reports],
                "skipped": [str(path) for path in skipped],
            }
        )
        return
    for report in reports:
        print(
            f"{report.source}: {report.chunks} chunks ({report.added} added, "
            f"{report.changed} changed, {report.unchanged} unchanged, {report.removed} removed)"
        )
    if skipped:
        names = ", ".join(str(path) for path in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        print(f"skipped {len(skipped)} files that are not documents: {names}{more}")


def _add_messages(
    path: Path, session: str | None, cube: str, tags: list[str], as_: str | None, json_output: bool
) -> None:
    from memos_client.ingest.adding import read_conversation

    conversation = read_conversation(path, session)
    if not conversation.records:
        from memos_client.errors import UsageError

        raise UsageError(f"{path}: no message has any text to remember")
    for record in conversation.records:
        record["tags"] = list(tags)
    with open_runtime(principal=as_, warm=False) as mem:
        ids = mem.add_many(conversation.records, cube=cube)
    notes = []
    if conversation.skipped:
        notes.append(f"{conversation.skipped} messages without text skipped")
    if conversation.dropped_parts:
        notes.append(f"{conversation.dropped_parts} non-text content parts left out")
    if conversation.ignored_keys:
        notes.append(f"message keys not kept: {', '.join(conversation.ignored_keys)}")
    if json_output:
        print_json({"cube": cube, "ids": ids, "sessions": conversation.sessions, "notes": notes})
        return
    print(f"added {len(ids)} turns from {conversation.sessions} sessions to {cube}")
    for note in notes:
        print(f"  {note}")


@runtime_command("query")
@arg("text", help="What to look for.")
@arg("-k", "--k", type=int, default=10, help="How many results (default: %(default)s).")
@CUBES
@FILTERS
@flag("--include-archived", help="Also search archived memories.")
@arg(
    "--min-score",
    type=float,
    default=0.0,
    help="Only hits scored at least this (0..1; default: %(default)s).",
)
def query_command(
    text: str,
    k: int,
    cube: list[str] | None,
    filters: dict[str, Any],
    include_archived: bool,
    min_score: float,
    as_: str | None,
    json_output: bool,
) -> None:
    """Hybrid search (lexical + semantic + filters) over the cubes you may read."""
    with open_runtime(principal=as_, warm=False) as mem:
        hits = mem.search(
            text,
            k=k,
            cube=_cubes(cube),
            filters=filters,
            include_archived=include_archived,
            min_score=min_score,
        )
    if json_output:
        print_json([hit.to_json() for hit in hits])
        return
    if not hits:
        print("no memories found")
    for hit in hits:
        found = "+".join(hit.retrievers)
        print(
            f"{hit.score:.3f}  {hit.item.id}  [{hit.item.cube}] ({found})  {printable(hit.item.text)}"
        )


@runtime_command("plan")
@arg("text", help="The query the plan is for.")
@arg(
    "--budget",
    type=int,
    default=1024,
    help="Memory tokens, injected plus prefilled (default: %(default)s).",
)
@CUBES
@FILTERS
@arg("--k", type=int, default=20, help="Candidates considered (default: %(default)s).")
@PLAN_MIN_SCORE
@arg(
    "--model",
    type=Path,
    help="The local model the plan is for: exact token counts, only its snapshots and adapters.",
)
@arg("--tokenizer", type=str, help="tokenizer.json (or model dir) to count with.")
@arg(
    "--form",
    choices=("cost", "inject"),
    default="cost",
    help="With --model, cost: inject a snapshot only where it is estimated faster than "
    "prefilling (the model's TTFT calibration); inject: every fresh one that fits.",
)
@NO_WIDEN
def plan_command(
    text: str,
    budget: int,
    cube: list[str] | None,
    filters: dict[str, Any],
    k: int,
    min_score: float,
    model: Path | None,
    tokenizer: str | None,
    form: str,
    no_widen: bool,
    as_: str | None,
    json_output: bool,
) -> None:
    """Show the memory plan for a query: memories for the prompt, KV snapshots, adapters.

    Without --model (or --tokenizer) token counts are estimates, and snapshots built for any
    model are considered.
    """
    from memos_client.runtime import MemOS

    loaded = None
    if model is not None:
        from memos_client.runtime.activation.model_adapter import load_model

        loaded = load_model(model)
    with MemOS(principal=as_, tokenizer=tokenizer, warm=False) as mem:
        costs = None
        if loaded is not None and form == "cost":
            from memos_client.runtime.activation.calibration import calibration_for

            costs = calibration_for(mem.home, loaded)
        plan = mem.plan(
            text,
            budget=budget,
            cube=_cubes(cube),
            k=k,
            filters=filters,
            model=loaded,
            min_score=min_score,
            costs=costs,
            widen=not no_widen,
        )
    if json_output:
        print_json(plan.to_json())
        return
    print(
        f"{plan.used_tokens}/{plan.budget_tokens} tokens ({plan.injected_tokens} injected, "
        f"{plan.prefill_tokens} prefilled), {len(plan.memories)} memories; "
        f"counted with {plan.counted_with}"
    )
    for memory in plan.memories:
        cost = f"{memory.tokens} tokens" if memory.form == "prompt" else f"in {memory.snapshot}"
        print(f"  memory {memory.item.id} ({cost}): {memory.reason}")
        print(f"    {printable(memory.item.text)}")
    for part in [*plan.activations, *plan.adapters]:
        print(f"  {part.kind} {part.label}: {part.reason}")
    for reason in plan.skipped:
        print(f"  skipped {reason}")
    if plan.decision:
        print(f"  form: {plan.decision}")
    for option in plan.ttft_options:
        estimate = "estimate unavailable" if option.ttft_ms is None else f"~{option.ttft_ms:.1f} ms"
        mark = "*" if option.chosen else " " if option.fits else "x"
        print(
            f"  {mark} {option.name}: {estimate} to first token ({option.injected_tokens} "
            f"injected + {option.prefill_tokens} prefilled{'' if option.fits else ', over budget'})"
        )


@runtime_command("history")
@arg("target", help="A memory id or a cube name.")
def history_command(target: str, as_: str | None, json_output: bool) -> None:
    """Every version of a memory, or of every memory of a cube (oldest first)."""
    with open_runtime(principal=as_, warm=False) as mem:
        versions = mem.history(target)
    if json_output:
        print_json([version.to_json() for version in versions])
        return
    for version in versions:
        print(
            f"#{version.seq}  {version.at}  {version.item_id} v{version.version} "
            f"{version.op} [{version.state}] by {version.principal}: {printable(version.text[:80])}"
        )


@runtime_command("rollback")
@arg("cube", help="The cube to roll back.")
@arg(
    "--to",
    required=True,
    help="A change number (#N in history), an RFC 3339 time or an installed version.",
)
def rollback_command(cube: str, to: str, as_: str | None, json_output: bool) -> None:
    """Bring a cube back to an earlier point; the rollback is itself new versions."""
    with open_runtime(principal=as_, warm=False) as mem:
        report = mem.rollback(cube, to=_point(to))
    respond(
        json_output,
        report.to_json(),
        f"rolled {report.cube} back to change {report.target_seq}: "
        f"{len(report.restored)} restored, {len(report.deleted)} deleted",
    )


@runtime_command("diff")
@arg("cube", help="The cube.")
@arg("before", help="Earlier point: change number, time or version.")
@arg("after", nargs="?", default="now", help="Later point (default: now).")
def diff_command(cube: str, before: str, after: str, as_: str | None, json_output: bool) -> None:
    """What was added, removed or changed in a cube between two points."""
    with open_runtime(principal=as_, warm=False) as mem:
        entries = mem.diff(cube, _point(before), _point(after))
    if json_output:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        print("no differences")
    for entry in entries:
        sign = {"added": "+", "removed": "-", "changed": "~"}[entry.change]
        shown = entry.after or entry.before
        text = shown.text if shown is not None else ""
        print(f"{sign} {entry.item_id}: {printable(text[:100])}")


@runtime_command("access")
@arg("cube", help="The cube.")
@arg("--read", help="Comma-separated principals who may read ('*': anyone).")
@arg("--write", help="Comma-separated principals who may write.")
@arg("--admin", help="Comma-separated principals who may change this policy (besides 'local').")
def access_command(
    cube: str,
    read: str | None,
    write: str | None,
    admin: str | None,
    as_: str | None,
    json_output: bool,
) -> None:
    """Show or set a cube's access policy (setting it needs the admin right: write is not grant).

    --as names a principal; it does not authenticate one: anyone who can open MEMOS_HOME may
    act as any principal (the served runtime authenticates by token).
    """

    def split(value: str | None) -> list[str] | None:
        return None if value is None else [n.strip() for n in value.split(",") if n.strip()]

    with open_runtime(principal=as_, warm=False) as mem:
        if read is None and write is None and admin is None:
            governance = mem.governor.governance(cube)
        else:
            governance = mem.set_access(
                cube, read=split(read), write=split(write), admin=split(admin)
            )
    access = governance.get("access", {})
    rights = {
        "read": access.get("read", ["*"]),
        "write": access.get("write", ["*"]),
        "admin": ["local", *access.get("admin", [])],
    }
    respond_settings(json_output, cube, rights, ",".join)


@runtime_command("add", group=PRINCIPAL)
@arg("name")
def principal_add_command(name: str, as_: str | None, json_output: bool) -> None:
    """Register a local principal (only 'local' may)."""
    with open_runtime(principal=as_, warm=False) as mem:
        mem.add_principal(name)
    respond(json_output, {"added": name}, f"added principal {name}")


@command("list", group=PRINCIPAL)
@JSON
def principal_list_command(json_output: bool) -> None:
    """List the local principals."""
    with open_runtime(warm=False) as mem:
        names = list(mem.governor.principals())
    respond(json_output, names, *names)
