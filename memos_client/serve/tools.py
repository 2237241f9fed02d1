"""The memory tools agents call, over one runtime, for one principal: MCP and REST share them.

Each tool takes JSON-shaped arguments, checks them (every problem of an argument in one
:class:`~memos_client.errors.UsageError`), calls :class:`~memos_client.runtime.MemOS` acting as
the caller's principal (so a cube's access policy holds per caller) and returns a JSON-ready
dict. Errors stay the client's own (:mod:`memos_client.errors`); the transports map them to an
MCP tool error or an HTTP status with the error's stable ``code`` (:data:`HTTP_STATUS`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from memos_client.errors import (
    AccessDeniedError,
    MemosError,
    NotFoundError,
    UsageError,
)

if TYPE_CHECKING:
    from memos_client.runtime import MemOS

#: The fixed tool names (agents, docs and tests rely on them).
TOOL_NAMES = (
    "search_memories",
    "add_memory",
    "add_messages",
    "get_memory",
    "update_memory",
    "delete_memory",
    "plan_context",
    "list_cubes",
    "cube_history",
    "rollback_cube",
    "install_cube",
)

#: The most results one search or plan may ask for, and the largest budget a plan may use.
MAX_K = 1000
MAX_BUDGET = 1_000_000
MAX_MESSAGES = 10_000
MAX_HISTORY = 1000

#: HTTP status of each error class (the first match in this order wins).
HTTP_STATUS: tuple[tuple[type[MemosError], int], ...] = (
    (AccessDeniedError, 403),
    (NotFoundError, 404),
    (UsageError, 422),
)


def http_status(error: MemosError) -> int:
    """The HTTP status for a client error (500 for a store failure)."""
    for kind, status in HTTP_STATUS:
        if isinstance(error, kind):
            return status
    return 500


class InstallRefusedError(AccessDeniedError):
    """``install_cube`` on a server started without ``--allow-install``."""

    code = "install_not_allowed"


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise UsageError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"{name} must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got {value!r}"
        ) from exc
    if moment.tzinfo is None:
        raise UsageError(f"{name} must carry a time zone (e.g. Z or +02:00), got {value!r}")
    return moment


def _scope(cube: str | None, cubes: Sequence[str] | None) -> str | list[str] | None:
    if cube is not None and cubes is not None:
        raise UsageError("give cube or cubes, not both")
    if cubes is not None:
        if not cubes:
            raise UsageError("cubes must name at least one cube (or leave it out: every cube)")
        return list(cubes)
    return cube


def _hit(hit: Any) -> dict[str, Any]:
    return {**hit.item.to_json(), "score": hit.score, "retrievers": hit.retrievers}


class MemoryTools:
    """The tools over one warm runtime; ``for_principal`` gives the caller's view.

    ``installer`` installs a requirement string exactly as ``memos install`` does; it is None
    unless the server was started with ``--allow-install``. Calls that write are serialised
    (one SQLite writer per store anyway); reads run concurrently.
    """

    def __init__(
        self,
        runtime: MemOS,
        installer: Callable[[str], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.runtime = runtime
        self.installer = installer
        self._write_lock = threading.Lock()

    def for_principal(self, principal: str) -> MemOS:
        """The runtime acting as ``principal`` (an unknown principal is refused)."""
        if principal == self.runtime.principal:
            return self.runtime
        return self.runtime.acting_as(principal)

    # -- reads ---------------------------------------------------------------------------------

    def search_memories(
        self,
        principal: str,
        query: str,
        k: int = 10,
        cube: str | None = None,
        cubes: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        min_score: float | None = None,
    ) -> dict[str, Any]:
        """Hybrid search; see the MCP tool description."""
        mem = self.for_principal(principal)
        k = _integer(k, "k", 1, MAX_K)
        filters: dict[str, Any] = {}
        if tags:
            filters["tags"] = list(tags)
        if metadata:
            filters["metadata"] = dict(metadata)
        filters["since"] = _time(since, "since")
        filters["until"] = _time(until, "until")
        filters = {key: value for key, value in filters.items() if value is not None}
        if min_score is not None and (
            isinstance(min_score, bool) or not isinstance(min_score, (int, float))
        ):
            raise UsageError(f"min_score must be a number from 0 to 1, got {min_score!r}")
        hits = mem.search(
            query,
            k=k,
            cube=_scope(cube, cubes),
            filters=filters,
            min_score=float(min_score or 0.0),
        )
        results = [_hit(hit) for hit in hits]
        return {"results": results, "count": len(results)}

    def get_memory(self, principal: str, id: str) -> dict[str, Any]:
        """One memory by id."""
        return self.for_principal(principal).get(id).to_json()

    def plan_context(
        self,
        principal: str,
        query: str,
        budget_tokens: int = 1024,
        cube: str | None = None,
        cubes: Sequence[str] | None = None,
        k: int = 20,
        min_score: float | None = None,
    ) -> dict[str, Any]:
        """The prompt context for a query within a token budget, with the plan's reasons."""
        mem = self.for_principal(principal)
        budget = _integer(budget_tokens, "budget_tokens", 1, MAX_BUDGET)
        k = _integer(k, "k", 1, MAX_K)
        options: dict[str, Any] = {}
        if min_score is not None:
            options["min_score"] = min_score
        plan = mem.plan(query, budget=budget, cube=_scope(cube, cubes), k=k, **options)
        return {
            "context": plan.prompt_context(),
            "used_tokens": plan.used_tokens,
            "budget_tokens": plan.budget_tokens,
            "memories": [
                {
                    "id": memory.item.id,
                    "cube": memory.item.cube,
                    "text": memory.item.text,
                    "score": memory.score,
                    "tokens": memory.tokens,
                    "reason": memory.reason,
                }
                for memory in plan.memories
            ],
            "activations": [part.to_json() for part in plan.activations],
            "adapters": [part.to_json() for part in plan.adapters],
            "skipped": list(plan.skipped),
        }

    def list_cubes(self, principal: str) -> dict[str, Any]:
        """The cubes the caller may read, with version and memory counts."""
        mem = self.for_principal(principal)
        return {"cubes": [self._cube_summary(mem, name) for name in mem.cubes()]}

    def cube_info(self, principal: str, name: str) -> dict[str, Any]:
        """A cube's card, version, parts and counts (the MCP resource)."""
        mem = self.for_principal(principal)
        if name not in mem.cubes():
            known = mem.store.query("SELECT 1 FROM cubes WHERE name = ?", [name])
            if known:
                mem.governor.require(principal, name, "read", "cube")
            raise NotFoundError(f"no cube named {name!r}", code="unknown_cube")
        return self._cube_summary(mem, name, detail=True)

    @staticmethod
    def _cube_summary(mem: MemOS, name: str, detail: bool = False) -> dict[str, Any]:
        rows = mem.store.query(
            "SELECT state, COUNT(*) FROM items WHERE cube = ? GROUP BY state", [name]
        )
        counts = {str(row[0]): int(row[1]) for row in rows}
        origin = mem.store.query("SELECT origin FROM cubes WHERE name = ?", [name])
        install = mem.store.query(
            "SELECT version, manifest_digest, parts FROM installs WHERE cube = ?", [name]
        )
        summary: dict[str, Any] = {
            "name": name,
            "origin": origin[0][0] if origin else "local",
            "version": install[0][0] if install else None,
            "counts": counts,
            "memories": sum(n for state, n in counts.items() if state not in ("deleted",)),
        }
        if detail:
            import json

            manifest: dict[str, Any] = {}
            if install:
                from memos_client.install.installer import cube_dir

                path = cube_dir(mem.home, name, install[0][1]) / "manifest.json"
                try:
                    manifest = json.loads(path.read_text("utf-8"))
                except (OSError, ValueError):
                    manifest = {}
            summary["manifest_digest"] = install[0][1] if install else None
            summary["parts"] = json.loads(install[0][2]) if install else []
            summary["description"] = manifest.get("description")
            summary["card"] = manifest.get("card")
        return summary

    def cube_history(self, principal: str, cube: str, limit: int = 100) -> dict[str, Any]:
        """The latest versions of a cube's memories (or of one memory, by id), newest first."""
        limit = _integer(limit, "limit", 1, MAX_HISTORY)
        records = self.for_principal(principal).history(cube)
        newest = sorted(records, key=lambda record: -record.seq)[:limit]
        return {"versions": [record.to_json() for record in newest], "total": len(records)}

    # -- writes --------------------------------------------------------------------------------

    def add_memory(
        self,
        principal: str,
        text: str,
        cube: str = "local/default",
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add one memory; returns its id."""
        mem = self.for_principal(principal)
        with self._write_lock:
            memory_id = mem.add(
                text, cube=cube, tags=list(tags or []), metadata=dict(metadata or {})
            )
        return {"id": memory_id, "cube": mem.get(memory_id, touch=False).cube}

    def add_messages(
        self,
        principal: str,
        messages: Sequence[Mapping[str, Any]],
        cube: str = "local/default",
        session: str | None = None,
    ) -> dict[str, Any]:
        """Chat messages as conversation memories (one per turn)."""
        if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
            raise UsageError("messages must be a non-empty list of {role, content} objects")
        if len(messages) > MAX_MESSAGES:
            raise UsageError(f"{len(messages)} messages in one call, the limit is {MAX_MESSAGES}")
        mem = self.for_principal(principal)
        with self._write_lock:
            ids = mem.add_messages(messages, cube=cube, session=session)
        return {"ids": ids, "count": len(ids)}

    def update_memory(
        self,
        principal: str,
        id: str,
        text: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change a memory's text, tags or metadata (a new version)."""
        if text is None and tags is None and metadata is None:
            raise UsageError("nothing to update: give text, tags or metadata")
        mem = self.for_principal(principal)
        with self._write_lock:
            item = mem.update(
                id,
                text=text,
                tags=None if tags is None else list(tags),
                metadata=None if metadata is None else dict(metadata),
            )
        return item.to_json()

    def delete_memory(self, principal: str, id: str) -> dict[str, Any]:
        """Delete a memory (a tombstone version: history keeps it)."""
        mem = self.for_principal(principal)
        with self._write_lock:
            mem.delete(id)
        return {"id": id, "deleted": True}

    def rollback_cube(self, principal: str, cube: str, to: str | int) -> dict[str, Any]:
        """Bring a cube back to a change number, an RFC 3339 time or an installed version."""
        point: int | str | datetime
        if isinstance(to, bool) or not isinstance(to, (int, str)):
            raise UsageError("to must be a change number, an RFC 3339 time or a version")
        point = to
        if isinstance(to, str) and "T" in to:
            moment = _time(to, "to")
            assert moment is not None
            point = moment
        mem = self.for_principal(principal)
        with self._write_lock:
            report = mem.rollback(cube, point)
        return report.to_json()

    def install_cube(self, principal: str, requirement: str) -> dict[str, Any]:
        """Install a cube from the registry, verified as ``memos install`` does."""
        if self.installer is None:
            raise InstallRefusedError(
                "installing is off on this server: start it with --allow-install to allow it"
            )
        if principal != "local":
            raise AccessDeniedError(
                f"only the store's owner ('local') may install cubes, not {principal!r}"
            )
        if not isinstance(requirement, str) or not requirement.strip():
            raise UsageError("requirement must be a cube requirement such as 'ns/name>=1'")
        with self._write_lock:
            installed = self.installer(requirement)
        return {"installed": installed}
