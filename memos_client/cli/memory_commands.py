"""One memory by id: ``get``, ``update``, ``delete``.

Only the standard library and the CLI framework are imported here; the runtime is imported
inside each command so ``memos --help`` stays fast.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from memos_client.cli.app import arg, flag
from memos_client.cli.output import printable
from memos_client.cli.runtime_store import open_runtime, print_json, runtime_command

if TYPE_CHECKING:
    from memos_client.runtime import MemoryItem


def _show(item: MemoryItem, json_output: bool) -> None:
    if json_output:
        print_json(item.to_json())
        return
    print(f"{item.id}  [{item.cube}] v{item.version} {item.state}")
    if item.tags:
        print(f"tags: {', '.join(printable(tag) for tag in item.tags)}")
    for key, value in item.metadata.items():
        print(f"{printable(key)}: {printable(json.dumps(value, ensure_ascii=False))}")
    print(printable(item.text))


@runtime_command("get")
@arg("item_id", metavar="ID", help="The memory id (from `memos query` or `memos add`).")
def get_command(item_id: str, as_: str | None, json_output: bool) -> None:
    """Show one memory by id (deleted and expired ones: see `memos history ID`)."""
    with open_runtime(principal=as_) as mem:
        item = mem.get(item_id)
    _show(item, json_output)


@runtime_command("update")
@arg("item_id", metavar="ID", help="The memory to change.")
@arg("--text", help="The new text.")
@arg("-t", "--tag", action="append", help="The new tags (repeatable; replaces all tags).")
@flag("--no-tags", help="Remove every tag.")
@arg("-m", "--meta", action="append", help="Set metadata KEY=VALUE (repeatable; others kept).")
@arg("--unset", action="append", metavar="KEY", help="Remove a metadata key (repeatable).")
def update_command(
    item_id: str,
    text: str | None,
    tag: list[str] | None,
    no_tags: bool,
    meta: list[str] | None,
    unset: list[str] | None,
    as_: str | None,
    json_output: bool,
) -> None:
    """Change a memory's text, tags or metadata: a new version (history keeps the old one)."""
    from memos_client.cli.metadata_args import parse_meta
    from memos_client.errors import UsageError

    if text is None and tag is None and not no_tags and not meta and not unset:
        raise UsageError("nothing to change: give --text, --tag, --no-tags, --meta or --unset")
    if tag is not None and no_tags:
        raise UsageError("--tag and --no-tags contradict each other: give one")
    changes = parse_meta(meta or [])
    with open_runtime(principal=as_) as mem:
        metadata = None
        if changes or unset:
            current = dict(mem.get(item_id, touch=False).metadata)
            missing = [key for key in unset or [] if key not in current]
            if missing:
                raise UsageError(f"--unset {missing[0]!r}: memory {item_id} has no such key")
            for key in unset or []:
                del current[key]
            metadata = current | changes
        tags = [] if no_tags else tag
        item = mem.update(item_id, text=text, tags=tags, metadata=metadata)
    if json_output:
        _show(item, json_output=True)
    else:
        print(f"updated {item.id} (version {item.version})")


@runtime_command("delete")
@arg("item_id", metavar="ID", help="The memory to delete.")
def delete_command(item_id: str, as_: str | None, json_output: bool) -> None:
    """Delete a memory (a tombstone version: a rollback brings it back; `memos purge` does not)."""
    with open_runtime(principal=as_) as mem:
        mem.delete(item_id)
    if json_output:
        from memos_client.cli.output import print_json

        print_json({"deleted": item_id})
        return
    print(f"deleted {item_id}")
