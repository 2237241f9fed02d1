"""Activation and parameter parts of a cube: built locally, registered with the runtime.

``memos activate`` / ``memos consolidate`` work on either

- an **installed cube** (``NS/NAME``): the snapshot or adapter is written under
  ``$MEMOS_HOME/runtime/{activations,adapters}/`` and registered as a part of the cube (the
  ``cube_parts`` rows the scheduler plans from), with the memories' runtime ids and versions as
  its sources; or
- a **cube source directory** (holding ``memcube.toml``, its records read by the caller:
  :class:`SourceDir`): it is written to
  ``activations/NAME.safetensors`` or ``adapters/NAME/``, where ``memos pack`` takes it from, with
  the records' ids and versions as its sources.

Which memories: those tagged ``activate`` (``consolidate`` for adapters) if any, else those the
lifecycle has promoted to Activated, else every live memory — in that order of preference, most
used first, as many as fit the model's context with room left for a question and an answer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.config import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    private_dir,
    private_file,
)
from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime.activation.lora import (
    WEIGHTS_NAME,
    TrainingSettings,
    export_adapter,
    install_adapter_dir,
    open_adapter,
    train_adapter,
)
from memos_client.runtime.activation.model_adapter import TransformersCausalLM
from memos_client.runtime.activation.prompt import MemoryText, render_segment
from memos_client.runtime.activation.snapshots import build_snapshot
from mip.digests import digest_file
from mip.models import ACTIVATION_MEDIA_TYPE, PARAMETER_MEDIA_TYPE, MemoryRef, to_document

if TYPE_CHECKING:
    from memos_client.runtime.memos import MemOS

#: Positions kept free after a snapshot for the question and the answer (at most a quarter of
#: the context).
ANSWER_ROOM = 256


class Candidate(msgspec.Struct):
    """A memory that may go into a snapshot or adapter, with how it was picked."""

    memory: MemoryText
    tags: list[str]
    state: str
    access_count: int


def choose_memories(
    candidates: Sequence[Candidate], model: TransformersCausalLM, tag: str
) -> tuple[list[MemoryText], str]:
    """Pick the memories to build from (see the module docstring) and say how they were picked."""
    tagged = [c for c in candidates if tag in c.tags]
    activated = [c for c in candidates if c.state == "activated"]
    pool, how = (
        (tagged, f"tagged {tag!r}")
        if tagged
        else (activated, "promoted to Activated by the lifecycle")
        if activated
        else (list(candidates), "all live memories")
    )
    if not pool:
        raise NotFoundError("the cube has no live memories to build from", code="no_memories")
    pool = sorted(pool, key=lambda c: (-c.access_count, c.memory.id))
    context = model.max_positions or 4096
    limit = context - min(ANSWER_ROOM, context // 4)
    chosen: list[MemoryText] = []
    for candidate in pool:
        trial = [*chosen, candidate.memory]
        if len(model.encode(render_segment(trial))) > limit:
            continue
        chosen = trial
    if not chosen:
        raise UsageError(f"no memory fits the model's context of {model.max_positions} tokens")
    left_out = len(pool) - len(chosen)
    suffix = f"; {left_out} left out (context full)" if left_out else ""
    return chosen, f"{len(chosen)} memories, {how}{suffix}"


def is_source_dir(target: str) -> bool:
    """True when ``target`` names a cube source directory rather than an installed cube."""
    path = Path(target)
    return path.is_dir() and (path / "memcube.toml").is_file()


class SourceDir(msgspec.Struct):
    """A cube source directory and its memories, read by the caller (the CLI reads the source
    format, which is authoring's: the runtime only builds from the records)."""

    root: Path
    candidates: list[Candidate]


def source_candidates(records: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """Candidates from a source directory's records (``id``, ``version``, ``text``, ``tags``)."""
    return [
        Candidate(MemoryText(r["id"], r["version"], r["text"]), list(r["tags"]), "generated", 0)
        for r in records
    ]


def installed_candidates(memos: MemOS, cube: str) -> list[Candidate]:
    """The live memories of an installed (or local) cube, with their runtime versions."""
    memos.governor.require(memos.principal, cube, "read", "activation.build")
    rows = memos.store.query(
        "SELECT id, source_id, text, tags, state, version, access_count FROM items "
        "WHERE cube = ? AND state IN ('generated', 'activated') ORDER BY id",
        [cube],
    )
    return [
        Candidate(
            MemoryText(row["source_id"] or row["id"], row["version"], row["text"]),
            json.loads(row["tags"]),
            row["state"],
            row["access_count"],
        )
        for row in rows
    ]


def register_part(memos: MemOS, cube: str, part: dict[str, Any]) -> None:
    """Add (or replace) a locally built part of ``cube`` for the scheduler, audit-logged."""
    memos.governor.require(memos.principal, cube, "write", "activation.register")
    stored = dict(part, cube=cube)
    with memos.store.write() as connection:
        connection.execute(
            "INSERT INTO cube_parts (cube, name, kind, info) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (cube, name) DO UPDATE SET kind = excluded.kind, info = excluded.info",
            (cube, part["name"], part["kind"], json.dumps(stored, sort_keys=True)),
        )
        memos.store.audit(
            connection, memos.principal, f"{part['kind']}.register", cube=cube, detail=part["name"]
        )


def remove_part(memos: MemOS, cube: str, name: str) -> None:
    """Forget a locally built part of ``cube`` (its files are the caller's to delete)."""
    with memos.store.write() as connection:
        connection.execute("DELETE FROM cube_parts WHERE cube = ? AND name = ?", (cube, name))
        memos.store.audit(connection, memos.principal, "part.remove", cube=cube, detail=name)


def cube_parts(memos: MemOS, cube: str, kind: str) -> list[dict[str, Any]]:
    """The registered parts of ``kind`` of ``cube`` (manifest fields plus ``path``)."""
    rows = memos.store.query(
        "SELECT info FROM cube_parts WHERE cube = ? AND kind = ? ORDER BY name", [cube, kind]
    )
    return [json.loads(row[0]) for row in rows]


def _runtime_target(memos: MemOS | None, cube: str | None) -> tuple[MemOS, str]:
    if memos is None or cube is None:
        raise UsageError("give either a cube source directory or a runtime and a cube name")
    return memos, cube


def _local_dir(memos: MemOS, kind: str, cube: str) -> Path:
    # Under MEMOS_HOME: folders 0700, files 0600 whatever the umask (memos_client.config).
    return private_dir(memos.home / "runtime" / kind / cube.replace("/", "--"))


def _make_private(path: Path) -> None:
    """A snapshot file or an adapter folder built under MEMOS_HOME: the user's alone."""
    if path.is_dir():
        os.chmod(path, PRIVATE_DIR_MODE)
        for child in path.rglob("*"):
            os.chmod(child, PRIVATE_DIR_MODE if child.is_dir() else PRIVATE_FILE_MODE)
    else:
        private_file(path)


class BuiltPart(msgspec.Struct):
    """What ``activate``/``consolidate`` produced."""

    name: str
    kind: str
    path: Path
    sources: list[MemoryRef]
    how: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "sources": [to_document(source) for source in self.sources],
            "chosen": self.how,
            **self.details,
        }


def activate(
    model: TransformersCausalLM,
    name: str,
    *,
    memos: MemOS | None = None,
    cube: str | None = None,
    source: SourceDir | None = None,
    only_activated: bool = False,
    built: str | None = None,
    adapters: Sequence[dict[str, Any]] = (),
) -> BuiltPart:
    """Build a KV snapshot of a cube's chosen memories and put it where it will be used.

    ``only_activated`` builds from exactly the memories in state Activated (the lifecycle's
    promotion); ``built`` is the time to record (default: now). ``adapters`` names the
    adapter parts (``name``, ``digest``) active on ``model`` while it computes: the snapshot
    holds the adapted model's keys and values and is injected only with exactly those adapters.
    """
    if source is not None:
        memories, how = choose_memories(source.candidates, model, "activate")
        path = source.root / "activations" / f"{name}.safetensors"
    else:
        memos, cube = _runtime_target(memos, cube)
        candidates = installed_candidates(memos, cube)
        if only_activated:
            candidates = [c for c in candidates if c.state == "activated"]
        memories, how = choose_memories(candidates, model, "activate")
        path = _local_dir(memos, "activations", cube) / f"{name}.safetensors"
    header, token_ids = build_snapshot(model, memories, path)
    if memos is not None and cube is not None:
        _make_private(path)
        digest, size = digest_file(path)
        part = {
            "kind": "activation",
            "name": name,
            "media_type": ACTIVATION_MEDIA_TYPE,
            "digest": digest,
            "size": size,
            **to_document(header, omit_none=False),
            "path": str(path),
            "origin": "local",
            "built": built or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "complete": "left out" not in how,
        }
        if adapters:
            part["adapters"] = [{"name": a["name"], "digest": a["digest"]} for a in adapters]
        register_part(memos, cube, part)
    details = {"num_tokens": len(token_ids), "bytes": path.stat().st_size, "dtype": header.dtype}
    return BuiltPart(name, "activation", path, list(header.sources), how, details)


def consolidate(
    model: TransformersCausalLM,
    name: str,
    settings: TrainingSettings,
    *,
    memos: MemOS | None = None,
    cube: str | None = None,
    source: SourceDir | None = None,
) -> BuiltPart:
    """Train a LoRA adapter on a cube's chosen memories and put it where it will be used."""
    if source is not None:
        memories, how = choose_memories(source.candidates, model, "consolidate")
        target = source.root / "adapters" / name
    else:
        memos, cube = _runtime_target(memos, cube)
        memories, how = choose_memories(installed_candidates(memos, cube), model, "consolidate")
        target = _local_dir(memos, "adapters", cube) / name
    base = model.fingerprint
    report = train_adapter(model, memories, settings)
    sources = [MemoryRef(id=memory.id, version=memory.version) for memory in memories]
    export_adapter(report.peft_model, target, base, sources)
    if memos is not None and cube is not None:
        _make_private(target)
        adapter = open_adapter(target)
        digest, size = digest_file(target / WEIGHTS_NAME)
        part = {
            "kind": "parameter",
            "name": name,
            "media_type": PARAMETER_MEDIA_TYPE,
            "digest": digest,
            "size": size,
            "base_model": to_document(base, omit_none=False),
            "adapter_config": adapter.adapter_config,
            "sources": [to_document(source) for source in sources],
            "path": str(target),
            "origin": "local",
        }
        register_part(memos, cube, part)
    details = {
        "steps": report.steps,
        "first_loss": round(report.first_loss, 4),
        "last_loss": round(report.last_loss, 4),
    }
    return BuiltPart(name, "parameter", target, sources, how, details)


def adapter_dir(memos: MemOS, part: dict[str, Any]) -> Path:
    """The adapter directory of a parameter part, re-created from its blob when needed.

    A locally built part's ``path`` is the directory itself; an installed part's ``path`` is its
    blob (``adapter_model.safetensors``), and the directory is made beside the runtime's files
    from the manifest's ``adapter_config`` (MIP-1 §7.3).
    """
    path = Path(str(part.get("path") or ""))
    if path.is_dir():
        return path
    if not path.is_file():
        raise NotFoundError(f"adapter {part.get('name')!r}: its file {path} is missing")
    config = part.get("adapter_config")
    if not isinstance(config, dict):
        raise UsageError(f"adapter {part.get('name')!r}: the part has no adapter_config")
    target = _local_dir(memos, "adapters", str(part["cube"])) / str(part["name"])
    installed = install_adapter_dir(target, config, path)
    _make_private(target)
    return installed
