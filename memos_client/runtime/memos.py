"""``MemOS``: the local runtime's Python API (store, retrieval, scheduler, lifecycle, time machine).

Every public method acts as one principal (``MemOS(principal=...)`` or :meth:`MemOS.acting_as`)
and checks the access policy of the cube it touches first; reads and writes are audit-logged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.errors import UsageError
from memos_client.install.target import InstalledCube
from memos_client.runtime import reads, timemachine, writes
from memos_client.runtime.context import RuntimeContext, cube_name
from memos_client.runtime.governance import OWNER, Governor, validate_principal_name
from memos_client.runtime.lifecycle import Lifecycle
from memos_client.runtime.memory_types import Hit, MemoryItem, State, VersionRecord
from memos_client.runtime.prompt_tokens import TokenCounter, estimate_tokens, tokenizer_counter
from memos_client.runtime.retrieval.engines import Engines
from memos_client.runtime.scheduler import PLAN_MIN_SCORE, MemoryPlan, PlanningModel
from memos_client.runtime.store.database import Store
from memos_client.runtime.transitions import set_state

if TYPE_CHECKING:
    from datetime import datetime

    from memos_client.runtime.cost import TTFTCalibration
    from memos_client.runtime.embedding.minilm import Embedder
    from memos_client.runtime.purge import PurgeReport
    from memos_client.runtime.retrieval.filters import Filters
    from memos_client.runtime.retrieval.hybrid import RetrievalSettings, Retriever
    from memos_client.runtime.retrieval.vector_index import EmbeddingCache, VectorIndex
    from memos_client.runtime.upsert import UpsertReport

DEFAULT_CUBE = "local/default"


class MemOS:
    """A local MemOS runtime rooted at ``home`` (default ``$MEMOS_HOME``).

    The agent's entry point::

        from memos_client.runtime import MemOS

        with MemOS() as mem:                      # $MEMOS_HOME, acting as 'local'
            mem.install("acme/cooking>=1")        # exactly `memos install`
            mem.add("Ann is vegetarian.", cube="me/notes")
            plan = mem.plan("What can I cook for Ann?", budget=512)
            prompt = plan.prompt_context() + "\n\nQuestion: What can I cook for Ann?"

    The facade over the runtime's modules: each method checks arguments, then hands the
    :class:`~memos_client.runtime.context.RuntimeContext` (store, governor, engines, principal)
    to the module doing the work.
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
        store = Store(root / "runtime" / "memos.db")
        governor = Governor(store)
        engines = Engines(
            store,
            # MEMOS_EMBEDDER=hashing: every command indexes and searches without loading MiniLM.
            embedder if embedder is not None else os.environ.get("MEMOS_EMBEDDER") or None,
            settings,
            ann_threshold,
            lexical_threshold,
            root / "runtime" / "ann",
            warm,
        )
        if tokenizer is None or callable(tokenizer):
            count_tokens: TokenCounter = tokenizer or estimate_tokens
        else:
            count_tokens = tokenizer_counter(tokenizer)
        name = principal or os.environ.get("MEMOS_PRINCIPAL") or OWNER
        validate_principal_name(name)
        governor.check_principal(name)
        self._use(RuntimeContext(store, governor, engines, name, count_tokens))

    def _use(self, context: RuntimeContext) -> None:
        self._context = context
        self.store = context.store
        self.governor = context.governor
        self.principal = context.principal
        self.count_tokens = context.count_tokens
        self.lifecycle = Lifecycle(context)

    @property
    def embedder(self) -> Embedder:
        """The embedder (loaded on first use; the MiniLM weights only when text is embedded)."""
        return self._context.engines.embedder

    @property
    def cache(self) -> EmbeddingCache:
        """The embedding cache (built on first use)."""
        return self._context.engines.cache

    @property
    def index(self) -> VectorIndex:
        """The vector index (built on first use)."""
        return self._context.engines.index

    @property
    def retriever(self) -> Retriever:
        """Hybrid retrieval (built on first use)."""
        return self._context.engines.retriever

    def acting_as(self, principal: str) -> MemOS:
        """The same runtime (store, indexes, model) acting as another known principal."""
        validate_principal_name(principal)
        self.governor.check_principal(principal)
        other = object.__new__(MemOS)
        other.home = self.home
        other._use(self._context.acting_as(principal))
        return other

    def close(self) -> None:
        """Save the vector graph if it changed, then close the store."""
        # The graph is a cache, rebuilt from the store when missing: failing to save is harmless.
        with contextlib.suppress(OSError):
            self._context.engines.save()
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
        self,
        cube: str,
        *,
        read: list[str] | None = None,
        write: list[str] | None = None,
        admin: list[str] | None = None,
    ) -> dict[str, Any]:
        """Set which principals may read and write a cube (``"*"``: anyone) and which may
        change this policy (``admin``); needs the admin right (write is not grant)."""
        return self.governor.set_access(self.principal, cube_name(cube), read, write, admin)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest audit entries, newest first (only the owner may read the log)."""
        return self.audit(limit=limit)

    def audit(
        self, cube: str | None = None, *, since: datetime | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Audit entries, newest first: every read, write and refusal, of one cube or all,
        since a time. The owner reads the whole log; a cube's admins read that cube's."""
        from memos_client.runtime.audit_log import read_audit

        return read_audit(self._context, cube, since=since, limit=limit)

    # -- writes --------------------------------------------------------------------------------

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
        ids = writes.add_many(self._context, records, cube)
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

        return upsert_records(
            self._context, records, cube=cube, scope=scope, op=op, dry_run=dry_run
        )

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
        import uuid

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

    def update(
        self,
        item_id: str,
        *,
        text: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MemoryItem:
        """Change a memory's text, tags or metadata (a new version); returns the new item."""
        writes.update(self._context, item_id, text=text, tags=tags, metadata=metadata)
        return reads.get(self._context, item_id, touch=False, audit=False)

    def delete(self, item_id: str) -> None:
        """Delete a memory: a Deleted tombstone version; it leaves every index."""
        set_state(self._context, item_id, State.DELETED, "delete", None)

    def purge(self, item_id: str | None = None, *, cube: str | None = None) -> PurgeReport:
        """Erase a memory's (or every memory of ``cube``'s) text from every version and every
        index, for good: no rollback brings it back; a tombstone records who purged what when.
        Needs the cube's admin right. See :mod:`memos_client.runtime.purge`."""
        from memos_client.runtime.purge import purge

        return purge(self._context, item_id, cube=cube)

    # -- reads ---------------------------------------------------------------------------------

    def memories(self, cube: str, *, include_deleted: bool = False) -> list[MemoryItem]:
        """Every memory of a cube, oldest first (deleted ones too with ``include_deleted``);
        needs read access and is audit-logged (``memos export`` reads a cube this way)."""
        return reads.memories(self._context, cube, include_deleted=include_deleted)

    def get(self, item_id: str, *, touch: bool = True) -> MemoryItem:
        """A memory by id (deleted and expired memories are not returned: see :meth:`history`);
        audit-logged, and counted as an access unless ``touch=False``."""
        return reads.get(self._context, item_id, touch=touch)

    def search(
        self,
        query: str,
        k: int = 10,
        cube: str | Sequence[str] | None = None,
        filters: Filters | Mapping[str, Any] | None = None,
        *,
        include_archived: bool = False,
        touch: bool = True,
        min_score: float = 0.0,
    ) -> list[Hit]:
        """Hybrid search of one cube, several (a list) or, with ``cube=None``, every cube the
        principal may read; ``filters``: see :class:`~memos_client.runtime.retrieval.filters.Filters`.

        Scores are calibrated (0..1, scaled by the best absolute cosine similarity): hits
        scored below ``min_score`` are not returned.
        """
        return reads.search(
            self._context,
            query,
            k,
            cube,
            filters,
            include_archived=include_archived,
            touch=touch,
            min_score=min_score,
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
        model: PlanningModel | None = None,
        min_score: float = PLAN_MIN_SCORE,
        use_adapters: bool = True,
        exclude: Mapping[str, str] | None = None,
        count_access: bool = True,
        costs: TTFTCalibration | None = None,
        widen: bool = True,
    ) -> MemoryPlan:
        """A memory plan for ``query`` within ``budget`` tokens: injected snapshot tokens plus
        prefilled tokens, counted with ``model``'s tokenizer when given (see ``scheduler``).

        Memories scored below ``min_score`` never take budget. Only the memories the plan
        places before the question count as accessed (``count_access=False``: none yet, see
        :meth:`count_placed`); ``exclude`` maps parts (``cube:name``) to leave out to why;
        ``costs`` (``activation.calibration``) chooses inject or prefill by estimated TTFT.
        Budget left once every relevant memory is placed goes to the neighbours of the chosen
        document chunks (``widen=False``: not).
        """
        from memos_client.runtime.planning import make_plan

        plan = make_plan(
            self._context,
            query,
            budget,
            cube=cube,
            filters=filters,
            k=k,
            model_digest=model_digest,
            model=model,
            min_score=min_score,
            use_adapters=use_adapters,
            exclude=exclude,
            costs=costs,
            widen=widen,
        )
        if count_access:
            self.count_placed(plan, cube, "plan")
        return plan

    def count_placed(self, plan: MemoryPlan, cube: str | Sequence[str] | None, action: str) -> None:
        """Count one access of each memory ``plan`` places before the question (audited as
        ``action``): what ``generate`` calls once the plan is final."""
        from memos_client.runtime.planning import record_placed

        record_placed(self._context, plan, cube, action)

    # -- time machine --------------------------------------------------------------------------

    def history(self, target: str) -> list[VersionRecord]:
        """Every version of a memory (by id) or of every memory of a cube (by name)."""
        return timemachine.history_of(self._context, target)

    def rollback(self, cube: str, to: timemachine.Point) -> timemachine.RollbackReport:
        """Bring a cube back to how it was at ``to`` (change number, datetime or installed
        version), as new versions: history is kept, so a rollback can be rolled back."""
        return timemachine.rollback_cube(self._context, cube, to)

    def diff(
        self, cube: str, before: timemachine.Point, after: timemachine.Point = "now"
    ) -> list[timemachine.DiffEntry]:
        """What changed in a cube between two points."""
        return timemachine.diff_cube(self._context, cube, before, after)

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
        # `memos install`'s own workflow (the layer below), opening this home's store as it does.
        from memos_client.install.workflow import install_requirement_texts

        results = install_requirement_texts(
            requirements, MemOS, home=self.home, index_url=index_url, offline=offline
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
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replace a cube's installed content atomically; returns its memory count.

        ``progress(n)`` is called as memories are indexed (n more done)."""
        from memos_client.runtime.cubes import install_cube

        return install_cube(
            self._context, name, version, manifest_digest, records, governance, parts, progress
        )

    def uninstall_cube(self, name: str) -> int:
        """Remove an installed cube: its memories become Deleted tombstones; returns how many."""
        from memos_client.runtime.cubes import uninstall_cube

        return uninstall_cube(self._context, name)

    def installed_cubes(self) -> list[InstalledCube]:
        """Every installed cube, by name."""
        from memos_client.runtime.cubes import installed_cubes

        return installed_cubes(self._context)

    def installed_digests(self) -> dict[str, str]:
        """The manifest digest of every installed cube, by name, readable by this principal or
        not: what the files under ``$MEMOS_HOME/cubes`` must keep."""
        from memos_client.runtime.cubes import installed_digests

        return installed_digests(self._context)

    def cubes(self) -> list[str]:
        """Every cube the principal may read."""
        return sorted(self.governor.cubes_allowing(self.principal, "read"))
