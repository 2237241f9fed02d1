"""``MemOS``: the local runtime's Python API (store, retrieval, scheduler, lifecycle, time machine).

Every public method acts as one principal (``MemOS(principal=...)`` or :meth:`MemOS.acting_as`)
and checks the access policy of the cube it touches first; reads and writes are audit-logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime import timemachine
from memos_client.runtime.embedding.engines import Engines
from memos_client.runtime.governance import OWNER, Governor, validate_principal_name
from memos_client.runtime.lifecycle import Lifecycle, policy_for
from memos_client.runtime.memory_types import (
    Hit,
    InstalledCube,
    MemoryItem,
    State,
    VersionRecord,
    to_rfc3339,
    utc_now,
)
from memos_client.runtime.record_checks import (
    check_metadata,
    check_tags,
    check_text,
    validate_records,
)
from memos_client.runtime.retrieval.lexical import embedding_text
from memos_client.runtime.scheduler import (
    MemoryPlan,
    TokenCounter,
    estimate_tokens,
    select_memories,
    select_parts,
    tokenizer_counter,
)
from memos_client.runtime.store.database import Store, item_from_row
from memos_client.runtime.store.items import change_item, insert_item, touch_items

if TYPE_CHECKING:
    from memos_client.runtime.embedding.minilm import Embedder
    from memos_client.runtime.retrieval.hybrid import Filters, RetrievalSettings, Retriever
    from memos_client.runtime.retrieval.vector_index import EmbeddingCache, VectorIndex
    from memos_client.runtime.upsert import UpsertReport

DEFAULT_CUBE = "local/default"
_LOCAL_GOVERNANCE = {"access": {"read": ["*"], "write": ["*"]}}


def _cube_name(cube: str) -> str:
    from mip.errors import InvalidNameError
    from mip.names import normalize_cube_name

    try:
        return str(normalize_cube_name(cube))
    except InvalidNameError as exc:
        raise UsageError(str(exc)) from exc


class MemOS:
    """A local MemOS runtime rooted at ``home`` (default ``$MEMOS_HOME``).

    The agent's entry point::

        from memos_client.runtime import MemOS

        with MemOS() as mem:                      # $MEMOS_HOME, acting as 'local'
            mem.install("acme/cooking>=1")        # exactly `memos install`
            mem.add("Ann is vegetarian.", cube="me/notes")
            plan = mem.plan("What can I cook for Ann?", budget=512)
            prompt = plan.prompt_context() + "\n\nQuestion: What can I cook for Ann?"
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        principal: str | None = None,
        embedder: str | Embedder | None = None,
        tokenizer: str | TokenCounter | None = None,
        settings: RetrievalSettings | None = None,
        ann_threshold: int = 20_000,
        lexical_threshold: int = 5_000,
        warm: bool = True,
    ) -> None:
        """Open (creating on first use) the runtime store under ``home``.

        Args:
            home: The runtime's root (``runtime/memos.db``, ``cubes/``); default ``$MEMOS_HOME``.
            principal: Who every call acts as (default ``$MEMOS_PRINCIPAL``, else ``local``, the
                store's owner); cube access policies are checked against it. An unknown
                principal raises :class:`~memos_client.errors.NotFoundError`.
            embedder: ``"minilm"`` (default, all-MiniLM-L6-v2 in NumPy), ``"hashing"`` (no
                model), or any :class:`~memos_client.runtime.embedding.minilm.Embedder`;
                default ``$MEMOS_EMBEDDER``.
            tokenizer: How :meth:`plan` counts prompt tokens: a callable, a local model
                directory or Hugging Face id whose tokenizer to use, or None (an estimate).
            settings: Retrieval knobs (:class:`~memos_client.runtime.RetrievalSettings`).
            ann_threshold: Indexed memories from which a warm runtime searches vectors through
                an HNSW graph instead of exactly.
            lexical_threshold: Indexed memories from which a warm runtime scores BM25 from
                in-memory postings instead of FTS5.
            warm: True for a process that serves many calls (graph and postings kept in
                memory); False for one short command, which maps the persisted vector index and
                ranks with FTS5 instead of loading anything (docs/adr/0017).

        Nothing heavy is loaded here: the embedder and indexes load on first use.
        """
        from memos_client.config import memos_home

        root = Path(home) if home is not None else memos_home()
        self.home = root
        self.store = Store(root / "runtime" / "memos.db")
        self.governor = Governor(self.store)
        self._engines = Engines(
            self.store,
            # MEMOS_EMBEDDER=hashing: every command indexes and searches without loading MiniLM.
            embedder if embedder is not None else os.environ.get("MEMOS_EMBEDDER") or None,
            settings,
            ann_threshold,
            lexical_threshold,
            root / "runtime" / "ann",
            warm,
        )
        if tokenizer is None or callable(tokenizer):
            self.count_tokens: TokenCounter = tokenizer or estimate_tokens
        else:
            self.count_tokens = tokenizer_counter(tokenizer)
        name = principal or os.environ.get("MEMOS_PRINCIPAL") or OWNER
        validate_principal_name(name)
        self.governor.check_principal(name)
        self.principal = name
        self.lifecycle = Lifecycle(self)

    @property
    def embedder(self) -> Embedder:
        """The embedder (loaded on first use; the MiniLM weights only when text is embedded)."""
        return self._engines.embedder

    @property
    def cache(self) -> EmbeddingCache:
        """The embedding cache (built on first use)."""
        return self._engines.cache

    @property
    def index(self) -> VectorIndex:
        """The vector index (built on first use)."""
        return self._engines.index

    @property
    def retriever(self) -> Retriever:
        """Hybrid retrieval (built on first use)."""
        return self._engines.retriever

    def acting_as(self, principal: str) -> MemOS:
        """The same runtime (store, indexes, model) acting as another known principal."""
        validate_principal_name(principal)
        self.governor.check_principal(principal)
        other = object.__new__(MemOS)
        other.__dict__.update(self.__dict__)
        other.principal = principal
        other.lifecycle = Lifecycle(other)
        return other

    def close(self) -> None:
        """Save the vector graph if it changed, then close the store."""
        # The graph is a cache, rebuilt from the store when missing: failing to save is harmless.
        with contextlib.suppress(OSError):
            self._engines.save()
        self.store.close()

    def __enter__(self) -> MemOS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- principals and access -----------------------------------------------------------------

    def add_principal(self, name: str) -> None:
        """Register a local principal (only ``local``, the store's owner, may)."""
        self.governor.add_principal(self.principal, name)

    def set_access(
        self, cube: str, *, read: list[str] | None = None, write: list[str] | None = None
    ) -> dict[str, Any]:
        """Set which principals may read and write a cube (``"*"``: anyone)."""
        return self.governor.set_access(self.principal, _cube_name(cube), read, write)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest audit entries, newest first (only the owner may read the log)."""
        if self.principal != OWNER:
            self.governor.refuse(
                self.principal, "audit.read", None, "only 'local' may read the audit log"
            )
        rows = self.store.query("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", [limit])
        return [dict(row) for row in rows]

    # -- writes --------------------------------------------------------------------------------

    def _ensure_cube(self, cube: str, action: str) -> None:
        rows = self.store.query("SELECT 1 FROM cubes WHERE name = ?", [cube])
        if not rows:
            with self.store.write() as connection:
                connection.execute(
                    "INSERT OR IGNORE INTO cubes (name, origin, governance, created) "
                    "VALUES (?, 'local', ?, ?)",
                    (cube, json.dumps(_LOCAL_GOVERNANCE), to_rfc3339(utc_now())),
                )
        self.governor.require(self.principal, cube, "write", action)

    def add(
        self,
        text: str,
        *,
        cube: str = DEFAULT_CUBE,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> str:
        """Add one memory and return its id."""
        record: dict[str, Any] = {"text": text, "tags": tags or [], "metadata": metadata or {}}
        if id is not None:
            record["id"] = id
        return self.add_many([record], cube=cube)[0]

    def add_many(
        self, records: Iterable[Mapping[str, Any]], *, cube: str = DEFAULT_CUBE
    ) -> list[str]:
        """Add records (``{"text", "tags", "metadata"}``, optional ``id``) in one transaction.

        Embeddings are computed in batches first; then every item is written or none is.
        Returns the new ids in input order.
        """
        cube = _cube_name(cube)
        valid = validate_records([dict(r) if isinstance(r, Mapping) else r for r in records])
        self._ensure_cube(cube, "add")
        self.cache.vectors([embedding_text(r.text, r.metadata) for r in valid])
        ids: list[str] = []
        with self.store.write() as connection:
            now = to_rfc3339(utc_now())
            cube_row = connection.execute(
                "SELECT governance, lifecycle_policy FROM cubes WHERE name = ?", (cube,)
            ).fetchone()
            policy = policy_for(json.loads(cube_row[0]), json.loads(cube_row[1]))
            for record in valid:
                item_id = record.source_id or uuid.uuid4().hex
                clash = connection.execute(
                    "SELECT cube FROM items WHERE id = ?", (item_id,)
                ).fetchone()
                if clash is not None:
                    raise UsageError(
                        f"memory id {item_id!r} already exists (in {clash[0]}); "
                        "use update() to change it or leave the id out"
                    )
                created = record.created or now
                insert_item(
                    connection,
                    item_id=item_id,
                    cube=cube,
                    source_id=item_id,
                    text=record.text,
                    tags=record.tags,
                    metadata=record.metadata,
                    extra=record.extra,
                    principal=self.principal,
                    created=created,
                    expires_at=policy.expiry_for(created, record.metadata),
                    at=now,
                )
                ids.append(item_id)
            self.store.audit(
                connection,
                self.principal,
                "add",
                cube=cube,
                target=ids[0] if len(ids) == 1 else None,
                detail=f"{len(ids)} memories",
            )
        # Append the new vectors to the persisted index now (their embeddings are cached): the
        # next process to search maps it as it is instead of catching up (ADR 0017).
        self.index.sync()
        return ids

    def upsert(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        cube: str = DEFAULT_CUBE,
        scope: tuple[str, Any] | None = None,
        op: str = "upsert",
        dry_run: bool = False,
    ) -> UpsertReport:
        """Write records with stable ids in one transaction: new ids are added (as
        ``<cube>#<id>``), known ids updated when they differ; with ``scope`` (a metadata JSON
        path and value), the scope's memories missing from ``records`` are deleted. A dry run
        only reports. See :mod:`memos_client.runtime.upsert`."""
        from memos_client.runtime.upsert import upsert_records

        return upsert_records(self, records, cube=cube, scope=scope, op=op, dry_run=dry_run)

    def add_messages(
        self,
        messages: Iterable[Mapping[str, Any]],
        *,
        cube: str = DEFAULT_CUBE,
        session: str | int | None = None,
    ) -> list[str]:
        """Add chat messages (``{"role", "content", "name"?, "timestamp"?, "id"?}``), one
        memory per turn with speaker, role, session, turn and time metadata (MIP-1 §7.1.2).

        ``messages`` is one session (``session`` names it, default: a new id) or a list of
        sessions (``{"messages": [...], "session"?: ..., "timestamp"?: ...}``). Returns the ids.
        """
        from memos_client.ingest.messages import conversation_records

        items = list(messages)
        if items and all(isinstance(m, Mapping) and "messages" in m for m in items):
            sessions: list[Mapping[str, Any]] = items
        else:
            sessions = [{"messages": items}]
        default = session if session is not None else uuid.uuid4().hex[:12]
        conversation = conversation_records(sessions, default_session=default, where="messages")
        if not conversation.records:
            raise UsageError("no message has any text to remember")
        return self.add_many(conversation.records, cube=cube)

    def memories(self, cube: str, *, include_deleted: bool = False) -> list[MemoryItem]:
        """Every memory of a cube, oldest first (deleted ones too with ``include_deleted``);
        needs read access and is audit-logged (``memos export`` reads a cube this way)."""
        name = _cube_name(cube)
        if not self.store.query("SELECT 1 FROM cubes WHERE name = ?", [name]):
            raise NotFoundError(f"no cube named {name!r}", code="unknown_cube")
        self.governor.require(self.principal, name, "read", "export")
        where = "" if include_deleted else " AND state != 'deleted'"
        rows = self.store.query(
            f"SELECT rowid, * FROM items WHERE cube = ?{where} ORDER BY rowid",  # noqa: S608
            [name],
        )
        with self.store.write() as connection:
            self.store.audit(
                connection, self.principal, "export", cube=name, detail=f"{len(rows)} memories"
            )
        return [item_from_row(row) for row in rows]

    def _row(self, item_id: str) -> Any:
        if not isinstance(item_id, str):
            raise UsageError(f"a memory id is a string, got {type(item_id).__name__}")
        rows = self.store.query("SELECT rowid, * FROM items WHERE id = ?", [item_id])
        if not rows:
            raise NotFoundError(f"unknown memory {item_id!r}", code="unknown_memory")
        return rows[0]

    def update(
        self,
        item_id: str,
        *,
        text: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MemoryItem:
        """Change a memory's text, tags or metadata (a new version); returns the new item."""
        where = f"memory {item_id!r}"
        if text is not None:
            check_text(text, where)
        new_tags = check_tags(tags, where) if tags is not None else None
        new_metadata = check_metadata(metadata, where) if metadata is not None else None
        row = self._row(item_id)
        self.governor.require(self.principal, row["cube"], "write", "update")
        if State(row["state"]) in (State.DELETED, State.EXPIRED):
            raise UsageError(
                f"memory {item_id!r} is {row['state']}; roll its cube back to revive it"
            )
        if text is not None or new_metadata is not None:
            self.cache.vectors(
                [
                    embedding_text(
                        text or row["text"],
                        new_metadata if new_metadata is not None else json.loads(row["metadata"]),
                    )
                ]
            )
        with self.store.write() as connection:
            current = connection.execute(
                "SELECT rowid, * FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            change_item(
                connection,
                current,
                principal=self.principal,
                op="update",
                text=text,
                tags=new_tags,
                metadata=new_metadata,
            )
            self.store.audit(connection, self.principal, "update", cube=row["cube"], target=item_id)
        return self.get(item_id, touch=False)

    def delete(self, item_id: str) -> None:
        """Delete a memory: a Deleted tombstone version; it leaves every index."""
        self._set_state(item_id, State.DELETED, "delete", None)

    def _set_state(
        self, item_id: str, state: State, action: str, allowed_from: set[State] | None
    ) -> int:
        row = self._row(item_id)
        self.governor.require(self.principal, row["cube"], "write", action)
        current_state = State(row["state"])
        if allowed_from is not None and current_state not in allowed_from:
            raise UsageError(f"cannot {action} memory {item_id!r}: it is {current_state}")
        if current_state == State.DELETED and state == State.DELETED:
            raise NotFoundError(f"memory {item_id!r} is already deleted", code="unknown_memory")
        with self.store.write() as connection:
            current = connection.execute(
                "SELECT rowid, * FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            change_item(connection, current, principal=self.principal, op=action, state=state)
            self.store.audit(connection, self.principal, action, cube=row["cube"], target=item_id)
        return int(current["version"]) + 1

    # -- reads ---------------------------------------------------------------------------------

    def get(self, item_id: str, *, touch: bool = True) -> MemoryItem:
        """A memory by id (deleted and expired memories are not returned: see :meth:`history`)."""
        row = self._row(item_id)
        self.governor.require(self.principal, row["cube"], "read", "get")
        item = item_from_row(row)
        expired = item.expires_at is not None and item.expires_at <= to_rfc3339(utc_now())
        if item.state in (State.DELETED, State.EXPIRED) or expired:
            state = State.EXPIRED if expired else item.state
            raise NotFoundError(
                f"memory {item_id!r} is {state} (its versions stay in its history)",
                code="unknown_memory",
                details={"memory": item_id},
            )
        if touch:
            with self.store.write() as connection:
                touch_items(connection, [item_id])
                self.store.audit(connection, self.principal, "get", cube=item.cube, target=item_id)
        return item

    def _scope(self, cube: str | Sequence[str] | None, action: str) -> set[str]:
        if cube is None:
            return self.governor.readable_cubes(self.principal)
        names = {_cube_name(cube)} if isinstance(cube, str) else {_cube_name(c) for c in cube}
        for name in sorted(names):
            self.governor.require(self.principal, name, "read", action)
        return names

    def search(
        self,
        query: str,
        k: int = 10,
        cube: str | Sequence[str] | None = None,
        filters: Filters | Mapping[str, Any] | None = None,
        *,
        include_archived: bool = False,
        touch: bool = True,
    ) -> list[Hit]:
        """Hybrid search; ``cube`` is one cube, a list of cubes, or None: every cube the
        principal may read."""
        if not isinstance(query, str) or not query.strip():
            raise UsageError("the query must be a non-empty string")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
            raise UsageError(f"k must be an integer from 1 to 1000, got {k!r}")
        from memos_client.runtime.retrieval.hybrid import Filters

        parsed = Filters.parse(filters, include_archived)
        cubes = self._scope(cube, "search")
        hits = self.retriever.search(query, k, cubes, parsed)
        self._record_use("search", cube, hits, query, touch)
        return hits

    def _record_use(
        self,
        action: str,
        cube: str | Sequence[str] | None,
        hits: list[Hit],
        query: str,
        touch: bool,
    ) -> None:
        # One short transaction per use: the behaviour indicators of every hit and the audit entry.
        ids = [hit.item.id for hit in hits]
        with self.store.write() as connection:
            if touch:
                touch_items(connection, ids)
            self.store.audit(
                connection,
                self.principal,
                action,
                cube=cube if cube is None or isinstance(cube, str) else ",".join(cube),
                detail=json.dumps({"query": query[:200], "results": ids}),
            )

    def plan(
        self,
        query: str,
        budget: int = 1024,
        *,
        cube: str | Sequence[str] | None = None,
        filters: Filters | Mapping[str, Any] | None = None,
        k: int = 20,
        model_digest: str | None = None,
    ) -> MemoryPlan:
        """A memory plan for ``query`` within ``budget`` prompt tokens (see ``scheduler``)."""
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise UsageError(f"budget must be a positive number of tokens, got {budget!r}")
        hits = self.search(query, k=k, cube=cube, filters=filters, touch=False)
        plan = MemoryPlan(query=query, budget_tokens=budget)
        plan.memories, plan.skipped, plan.used_tokens = select_memories(
            hits, budget, self.count_tokens
        )
        cubes = sorted({memory.item.cube for memory in plan.memories})
        parts: list[dict[str, Any]] = []
        versions: dict[tuple[str, str], int] = {}
        for name in cubes:
            for row in self.store.query("SELECT info FROM cube_parts WHERE cube = ?", [name]):
                parts.append(json.loads(row[0]))
            for row in self.store.query(
                "SELECT source_id, version FROM items WHERE cube = ? AND state != 'deleted'", [name]
            ):
                versions[(name, row[0])] = row[1]
        activations, adapters, skipped = select_parts(plan.memories, parts, versions, model_digest)
        plan.activations, plan.adapters = activations, adapters
        plan.skipped.extend(skipped)
        planned = [Hit(item=memory.item, score=memory.score, ranks={}) for memory in plan.memories]
        self._record_use("plan", cube, planned, query, touch=True)
        return plan

    # -- time machine --------------------------------------------------------------------------

    def history(self, target: str) -> list[VersionRecord]:
        """Every version of a memory (by id) or of every memory of a cube (by name)."""
        rows = self.store.query("SELECT cube FROM items WHERE id = ?", [target])
        if rows:
            self.governor.require(self.principal, rows[0][0], "read", "history")
            with self.store.read() as connection:
                return timemachine.history(connection, item_id=target)
        cube_rows = self.store.query("SELECT name FROM cubes WHERE name = ?", [target])
        if not cube_rows and "/" in target:
            cube_rows = self.store.query(
                "SELECT name FROM cubes WHERE name = ?", [_cube_name(target)]
            )
        if not cube_rows:
            raise NotFoundError(f"no memory or cube named {target!r}", code="not_found")
        cube = cube_rows[0][0]
        self.governor.require(self.principal, cube, "read", "history")
        with self.store.read() as connection:
            return timemachine.history(connection, cube=cube)

    def rollback(self, cube: str, to: timemachine.Point) -> timemachine.RollbackReport:
        """Bring a cube back to how it was at ``to`` (change number, datetime or installed
        version), as new versions: history is kept, so a rollback can be rolled back."""
        name = _cube_name(cube)
        self.governor.require(self.principal, name, "write", "rollback")
        texts = []
        with self.store.read() as connection:
            seq = timemachine.resolve_point(connection, name, to)
            for row in timemachine.snapshot(connection, name, seq).values():
                texts.append(embedding_text(row["text"], json.loads(row["metadata"])))
        self.cache.vectors(texts)
        with self.store.write() as connection:
            seq = timemachine.resolve_point(connection, name, to)
            report = timemachine.rollback(connection, name, seq, self.principal)
            origin = connection.execute(
                "SELECT origin FROM cubes WHERE name = ?", (name,)
            ).fetchone()[0]
            if origin != "local":
                from memos_client.runtime.cubes import restore_install_state

                report.installed_version = restore_install_state(connection, name, seq)
            self.store.audit(
                connection, self.principal, "rollback", cube=name, detail=f"to change {seq}"
            )
        return report

    def diff(
        self, cube: str, before: timemachine.Point, after: timemachine.Point = "now"
    ) -> list[timemachine.DiffEntry]:
        """What changed in a cube between two points."""
        name = _cube_name(cube)
        self.governor.require(self.principal, name, "read", "diff")
        with self.store.read() as connection:
            first = timemachine.resolve_point(connection, name, before)
            second = timemachine.resolve_point(connection, name, after)
            return timemachine.diff(connection, name, first, second)

    # -- installed cubes (``memos install``) ---------------------------------------------------

    def install(
        self, *requirements: str, index_url: str | None = None, offline: bool = False
    ) -> list[dict[str, Any]]:
        """Install cubes from the registry into this runtime, exactly as ``memos install``
        does (resolve, verify signatures against trusted keys, download, install atomically);
        ``requirements`` are ``"ns/name"``, ``"ns/name>=1,<2"`` or ``"ns/name@1.0.0"``.
        Only the store's owner (``local``) may. Returns what was installed, per cube."""
        if self.principal != OWNER:
            self.governor.refuse(self.principal, "install", None, "only 'local' may install cubes")
        # The install workflow lives a layer up (it also serves `memos install`): one path.
        from memos_client.install.workflow import install_requirement_texts

        results = install_requirement_texts(
            requirements, home=self.home, index_url=index_url, offline=offline
        )
        return [result.to_json() for result in results]

    def install_cube(
        self,
        name: str,
        version: str,
        manifest_digest: str,
        records: Iterable[dict[str, Any]],
        governance: dict[str, Any] | None = None,
        parts: list[dict[str, Any]] | None = None,
    ) -> int:
        """Replace a cube's installed content atomically; returns its memory count."""
        from memos_client.runtime.cubes import install_cube

        return install_cube(self, name, version, manifest_digest, records, governance, parts)

    def uninstall_cube(self, name: str) -> int:
        """Remove an installed cube: its memories become Deleted tombstones; returns how many."""
        from memos_client.runtime.cubes import uninstall_cube

        return uninstall_cube(self, name)

    def installed_cubes(self) -> list[InstalledCube]:
        """Every installed cube, by name."""
        from memos_client.runtime.cubes import installed_cubes

        return installed_cubes(self)

    def installed_digests(self) -> dict[str, str]:
        """The manifest digest of every installed cube, by name, readable by this principal or
        not: what the files under ``$MEMOS_HOME/cubes`` must keep."""
        from memos_client.runtime.cubes import installed_digests

        return installed_digests(self)

    def cubes(self) -> list[str]:
        """Every cube the principal may read."""
        return sorted(self.governor.readable_cubes(self.principal))
