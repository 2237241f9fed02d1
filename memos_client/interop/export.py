"""``memos export CUBE``: a runtime cube back out as files.

- ``source`` (default): a cube source directory -- ``memcube.toml``, ``memories/memories.jsonl``
  with every field of every live memory (id, text, tags, metadata, version, timestamps, state,
  unknown record keys as ``extra``), the KV snapshots (``activations/``) and LoRA adapters
  (``adapters/``) the cube holds, and its card (``README.md``, with ``homepage`` and
  ``repository`` in ``memcube.toml``) -- that ``memos pack`` builds again;
- ``jsonl``: one JSON object per memory, a flat dump;
- ``memos``: a MemOS (MemTensor) cube directory (:mod:`memos_client.interop.memos_writer`).

The output appears whole or not at all: it is written beside its destination and renamed into
place. An existing non-empty directory or file is never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from memos_client.runtime import MemOS
    from memos_client.runtime.memory_types import MemoryItem

#: The ``[cube]`` keys an export carries over from the installed manifest.
_CUBE_FIELDS = ("description", "license", "keywords", "authors")
_RECORD_KEYS = frozenset({"id", "text", "tags", "metadata", "created", "updated", "version"})


class ExportReport(msgspec.Struct):
    """What an export wrote."""

    cube: str
    format: str
    path: str
    memories: int
    activations: list[str] = msgspec.field(default_factory=list)
    adapters: list[str] = msgspec.field(default_factory=list)
    skipped: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


@contextmanager
def _staged_dir(destination: Path) -> Iterator[Path]:
    """A fresh directory beside ``destination``, renamed to it when the block succeeds."""
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise UsageError(f"{destination} exists and is not empty: choose a new -o directory")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield staging
        if destination.exists():
            destination.rmdir()  # empty, checked above
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def cube_name(cube: str) -> str:
    """``cube`` normalised (MIP-1 §3.1); a bad name is a usage error."""
    from mip.errors import InvalidNameError
    from mip.names import normalize_cube_name

    try:
        return str(normalize_cube_name(cube))
    except InvalidNameError as exc:
        raise UsageError(str(exc)) from exc


def live_items(mem: MemOS, cube: str) -> tuple[list[MemoryItem], int]:
    """The cube's live memories (generated, activated, archived) and how many were skipped
    (expired ones: they are history, not content)."""
    items = mem.memories(cube)
    live = [item for item in items if str(item.state) in ("generated", "activated", "archived")]
    return live, len(items) - len(live)


def source_record(item: MemoryItem) -> dict[str, Any]:
    """A memory as one line of a cube source's JSONL (every field; state when not generated)."""
    record = item.to_record()
    line: dict[str, Any] = {key: record[key] for key in ("id", "text", "tags", "metadata")}
    line.update(version=record["version"], created=record["created"], updated=record["updated"])
    if str(item.state) != "generated":
        line["state"] = str(item.state)
    extra = {key: value for key, value in record.items() if key not in _RECORD_KEYS}
    extra.pop("state", None)
    if extra:
        line["extra"] = extra
    return line


def _manifest(mem: MemOS, cube: str) -> dict[str, Any] | None:
    """The manifest of the installed version of ``cube`` (None for a local cube)."""
    from memos_client.install.installer import cube_dir

    for installed in mem.installed_cubes():
        if installed.name == cube:
            path = cube_dir(mem.home, cube, installed.manifest_digest) / "manifest.json"
            try:
                value: dict[str, Any] = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                return {"version": installed.version}
            return value
    return None


def _parts(mem: MemOS, cube: str) -> list[dict[str, Any]]:
    from memos_client.runtime.activation.local_parts import cube_parts

    return [*cube_parts(mem, cube, "activation"), *cube_parts(mem, cube, "parameter")]


def _toml(cube: str, manifest: dict[str, Any] | None, governance: dict[str, Any]) -> str:
    import tomli_w

    table: dict[str, Any] = {"name": cube}
    if manifest is not None:
        table["version"] = str(manifest.get("version", "0.1.0"))
        for key in _CUBE_FIELDS:
            if manifest.get(key) not in (None, "", []):
                table[key] = manifest[key]
        raw_card = manifest.get("card")
        card: dict[str, Any] = raw_card if isinstance(raw_card, dict) else {}
        for key in ("homepage", "repository"):
            if isinstance(card.get(key), str):
                table[key] = card[key]
    else:
        table["version"] = "0.1.0"
        table["description"] = f"Memories exported from the local cube {cube}."
    document: dict[str, Any] = {"cube": table}
    document["dependencies"] = dict((manifest or {}).get("dependencies") or {})
    document["governance"] = {k: v for k, v in governance.items() if v is not None}
    return tomli_w.dumps(document)


def _readme(cube: str, manifest: dict[str, Any] | None, report: ExportReport) -> str:
    """The cube's card as published (MIP-1 §5.4), else a short one saying what this is."""
    card = (manifest or {}).get("card")
    if isinstance(card, dict) and isinstance(card.get("readme"), str) and card["readme"]:
        return str(card["readme"])
    description = (manifest or {}).get("description") or f"Memories of the cube {cube}."
    parts = f"{report.memories} memories"
    if report.activations:
        parts += f", {len(report.activations)} KV snapshots"
    if report.adapters:
        parts += f", {len(report.adapters)} LoRA adapters"
    return (
        f"# {cube}\n\n{description}\n\n"
        f"This cube source was written by `memos export` from a local MemOS runtime: {parts}.\n"
        "Every memory is a line of `memories/memories.jsonl` with all its fields.\n\n"
        "Rebuild the bundle with `memos pack .`; bump `version` in `memcube.toml` before "
        "publishing a changed cube.\n"
    )


def _copy_parts(parts: list[dict[str, Any]], root: Path, report: ExportReport) -> None:
    for part in parts:
        name, path = str(part["name"]), Path(str(part.get("path") or ""))
        if part["kind"] == "activation":
            if not path.is_file():
                raise NotFoundError(f"KV snapshot {name!r}: its file {path} is missing")
            (root / "activations").mkdir(exist_ok=True)
            shutil.copyfile(path, root / "activations" / f"{name}.safetensors")
            report.activations.append(name)
            continue
        target = root / "adapters" / name
        target.mkdir(parents=True)
        if path.is_dir():
            for file_name in ("adapter_config.json", "adapter_model.safetensors"):
                shutil.copyfile(path / file_name, target / file_name)
        elif path.is_file() and isinstance(part.get("adapter_config"), dict):
            (target / "adapter_config.json").write_text(
                json.dumps(part["adapter_config"], indent=2, sort_keys=True), "utf-8"
            )
            shutil.copyfile(path, target / "adapter_model.safetensors")
        else:
            raise NotFoundError(f"LoRA adapter {name!r}: its files under {path} are missing")
        report.adapters.append(name)


def export_source(mem: MemOS, cube: str, destination: Path) -> ExportReport:
    """Write ``cube`` as a cube source directory at ``destination``."""
    name = cube_name(cube)
    items, skipped = live_items(mem, name)
    manifest = _manifest(mem, name)
    governance = mem.governor.governance(name)
    report = ExportReport(name, "source", str(destination), len(items), skipped=skipped)
    with _staged_dir(destination) as root:
        (root / "memories").mkdir()
        with open(root / "memories" / "memories.jsonl", "w", encoding="utf-8") as out:
            for item in items:
                out.write(json.dumps(source_record(item), ensure_ascii=False) + "\n")
        _copy_parts(_parts(mem, name), root, report)
        (root / "memcube.toml").write_text(_toml(name, manifest, governance), "utf-8")
        (root / "README.md").write_text(_readme(name, manifest, report), "utf-8")
    return report


def export_jsonl(mem: MemOS, cube: str, destination: Path) -> ExportReport:
    """Write ``cube``'s live memories as JSON Lines at ``destination`` (a new file)."""
    if destination.exists():
        raise UsageError(f"{destination} exists: choose a new -o file")
    name = cube_name(cube)
    items, skipped = live_items(mem, name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for item in items:
                line = source_record(item)
                line["cube"] = item.cube
                line["state"] = str(item.state)
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ExportReport(name, "jsonl", str(destination), len(items), skipped=skipped)
