"""One install command's state: its options, the registry through the cache, trust material.

:class:`Session` is what the workflows (:mod:`memos_client.install.workflow`) and a local bundle's
import (:mod:`memos_client.install.bundle_import`) share: both check signers against the same
pins, and remember first-use pins the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from memos_client.install.cache import Cache
from memos_client.install.fetch import CachedRegistry
from memos_client.install.installer import (
    ProgressFactory,
    VerifiedCube,
    authenticate_envelope,
    validate_manifest,
)
from memos_client.install.resolver import Candidate
from memos_client.install.target import RuntimeOpener
from memos_client.trust.store import NamespacePin, load_pins, save_pins, trusted_keys

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from memos_client.install.lockfile import LockLog
    from memos_client.trust.log_check import LogCheck
    from mip.key_statements import ServedKey
    from mip.keys import PublicKey
    from mip.registry_api import LogInfo


class Options(msgspec.Struct):
    """What every install command shares."""

    home: Path
    cache: Cache
    index_url: str
    #: Opens the runtime store to install into (``memos_client.runtime.MemOS``; install/target.py).
    open_runtime: RuntimeOpener
    offline: bool = False
    allow_unsigned: bool = False
    upgrade: bool = False
    #: Install or uninstall even when it breaks an installed cube's dependency (then say so).
    force: bool = False
    progress: ProgressFactory | None = None
    #: Like ``progress``, counting items (memories indexed) instead of bytes.
    counter: ProgressFactory | None = None
    #: ``--no-deps``: install the named cubes only, not their dependencies.
    no_deps: bool = False
    #: ``--force-reinstall``: reinstall cubes even when the same version is installed.
    force_reinstall: bool = False
    #: ``--dry-run``: resolve and report; nothing installed, removed or written (cache too).
    dry_run: bool = False
    #: A lockfile's trust, which narrows the pins (``memos sync``).
    lock_keys: dict[str, dict[str, PublicKey | None]] | None = None
    #: Install from a registry that has no transparency log (or, offline, without stored
    #: proofs), with a warning (spec/MIP-1-registry.md §12.6).
    allow_unlogged: bool = False
    #: Check the transparency log at all (off only for benchmarks' side-by-side runs).
    verify_log: bool = True
    #: Where warnings and notices go (a key rotated, a version is yanked, a log is missing;
    #: the CLI prints them to stderr); ``None``: dropped.
    warn: Callable[[str], None] | None = None


class Session(msgspec.Struct):
    """One command's state: the registry, trust material, and pins learned on first use."""

    options: Options
    registry: CachedRegistry
    trusted: dict[str, PublicKey]
    pins: dict[str, NamespacePin]
    new_pins: dict[str, NamespacePin] = msgspec.field(default_factory=dict)
    _served: dict[str, list[ServedKey]] = msgspec.field(default_factory=dict)
    log: LogCheck | None = None
    _log_pool: ThreadPoolExecutor | None = None
    _log_job: Future[None] | None = None
    _log_info_job: Future[LogInfo] | None = None
    _keys_jobs: dict[str, Future[list[ServedKey]]] = msgspec.field(default_factory=dict)

    def served_keys(self, namespace: str) -> list[ServedKey]:
        """The key set the registry serves for a namespace (fetched once per command)."""
        if namespace not in self._served:
            job = self._keys_jobs.pop(namespace, None)
            served = job.result() if job is not None else self.registry.served_keys(namespace)
            self._served[namespace] = served
            self._follow_rotation(namespace)
        return self._served[namespace]

    def registry_keys(self, namespace: str) -> Mapping[str, PublicKey]:
        """The registry's active (unrevoked) keys for a namespace: a first use pins them all."""
        return {
            item.key.key_id: item.key for item in self.served_keys(namespace) if not item.revoked
        }

    def revoked_keys(self, namespace: str) -> dict[str, tuple[str, str]]:
        """The namespace's revoked keys -> (when, reason): those the registry serves (online) and
        those the pin remembers."""
        revoked: dict[str, tuple[str, str]] = {}
        pin = self.pins.get(namespace)
        if pin is not None:
            revoked.update({k: (v[0], v[1]) for k, v in pin.revoked.items()})
        for item in self._served.get(namespace, []):
            if item.revoked:
                revoked[item.key.key_id] = (str(item.revoked_at), item.revocation_reason or "")
        return revoked

    def _follow_rotation(self, namespace: str) -> None:
        """Grow or shrink the namespace's pin by what the registry serves (MIP-1 §6.4): keys
        endorsed by a pinned key join, revoked keys leave; tell the user either way."""
        from mip.key_statements import grow_key_set

        pin = self.pins.get(namespace)
        if pin is None:
            return
        change = grow_key_set(namespace, pin.public_keys(), self._served[namespace])
        if not change.added and not change.revoked:
            return
        notify = self.options.warn or (lambda _message: None)
        for key_id, endorsers in change.added.items():
            notify(
                f"namespace {namespace!r} rotated keys: now trusting {key_id[:16]}, endorsed by "
                f"{', '.join(k[:16] for k in endorsers)} (a key you already trusted)"
            )
        for key_id, (when, reason) in change.revoked.items():
            notify(
                f"namespace {namespace!r}: key {key_id[:16]} was revoked by its publisher on "
                f"{when} (reason: {reason or 'none given'}); versions signed only by it are "
                "refused"
            )
        updated = NamespacePin(
            namespace,
            {key_id: key.to_pem().decode() for key_id, key in sorted(change.active.items())},
            "rotation" if change.added and pin.source == "first-use" else pin.source,
            pin.pinned_at,
            {**pin.revoked, **{k: [w, r] for k, (w, r) in change.revoked.items()}},
        )
        self.pins[namespace] = updated
        self.new_pins[namespace] = updated

    def authenticate(
        self, candidate: Candidate, envelope_bytes: bytes, source: str
    ) -> VerifiedCube:
        """Check an envelope's digest, signature (trust rules) and identity; remember a first-use
        pin. The manifest is not yet validated (:meth:`validate`)."""
        namespace = candidate.name.partition("/")[0]
        if not self.options.offline:
            self.served_keys(namespace)  # follows rotations and revocations before checking
        cube = authenticate_envelope(
            candidate,
            envelope_bytes,
            self.registry.cache,
            trusted=self.trusted,
            pins=self.pins,
            lock_keys=self.options.lock_keys,
            registry_keys=None if self.options.offline else self.registry_keys,
            allow_unsigned=self.options.allow_unsigned,
            source=source,
            revoked=self.revoked_keys(namespace),
        )
        if cube.new_pin is not None:
            # Later cubes of the same namespace in this command must match the same key.
            self.pins[cube.new_pin.namespace] = cube.new_pin
            self.new_pins[cube.new_pin.namespace] = cube.new_pin
        return cube

    def validate(self, cube: VerifiedCube) -> None:
        """Validate an authenticated cube's manifest against the MIP schema; cache its envelope."""
        validate_manifest(cube, self.registry.cache)

    def save_pins(self) -> list[NamespacePin]:
        """Persist first-use pins and pins a rotation or revocation changed (after the install
        succeeded); return the new ones (changes were told as they happened)."""
        created = []
        if self.new_pins:
            stored = load_pins(self.options.home)
            for namespace, pin in self.new_pins.items():
                if namespace not in stored:
                    created.append(pin)
                    stored[namespace] = pin
                elif pin.pinned_at == stored[namespace].pinned_at:
                    stored[namespace] = pin  # the pin this command grew or shrank
            save_pins(stored, self.options.home)
        return created

    def check_log(
        self,
        candidates: Sequence[Candidate],
        exact: Collection[str] = (),
        lock: LockLog | None = None,
    ) -> None:
        """Check that every candidate's version is in the registry's transparency log (online:
        a fresh inclusion proof in a checkpoint that extends what this home saw; offline: its
        stored proof, or the lockfile's). Nothing is stored until :meth:`save_log`."""
        if not self.options.verify_log or not candidates:
            return
        from memos_client.trust.log_check import CubeRef, LogCheck

        refs = [
            CubeRef(
                str(candidate.name),
                candidate.version_text,
                str(candidate.manifest_digest),
                candidate.yanked,
                str(candidate.name) in exact,
            )
            for candidate in candidates
        ]
        info = self._log_info_job
        log = LogCheck(
            self.options.home,
            self.registry.url,
            allow_unlogged=self.options.allow_unlogged,
            log_info=info.result if info is not None else None,
        )
        if self.options.offline:
            log.verify_offline(
                refs,
                lock.proofs if lock is not None else None,
                lock.verifier_key if lock is not None else None,
            )
        else:
            checkpoints = [lock.checkpoint] if lock is not None and lock.checkpoint else []
            log.verify_online(self.registry.client, refs, checkpoints)
        self.log = log
        if self.options.warn is not None:
            for warning in log.warnings:
                self.options.warn(warning)

    def start_log_check(
        self,
        candidates: Sequence[Candidate],
        exact: Collection[str] = (),
        lock: LockLog | None = None,
    ) -> None:
        """:meth:`check_log` on a worker thread, while envelopes and blobs download (it needs
        only what the resolver chose); :meth:`finish_log_check` waits for it."""
        self._log_job = self._log_workers().submit(self.check_log, candidates, exact, lock)

    def prefetch(self, namespaces: Iterable[str]) -> None:
        """Ask for ``GET /v1/log`` and the key sets of ``namespaces`` now, on worker threads (an
        online install calls this before it resolves, with its requirements' namespaces: the
        answers do not depend on what is resolved, and the keys are otherwise one more round
        trip between the envelope and the blobs)."""
        if self.options.offline:
            return
        if self.options.verify_log:
            self._log_info_job = self._log_workers().submit(lambda: self.registry.client.log_info())
        for namespace in set(namespaces) - self._served.keys() - self._keys_jobs.keys():
            self._keys_jobs[namespace] = self._log_workers().submit(
                self.registry.served_keys, namespace
            )

    def _log_workers(self) -> ThreadPoolExecutor:
        if self._log_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._log_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memos-log")
        return self._log_pool

    def finish_log_check(self) -> None:
        """Wait for :meth:`start_log_check`'s check; raise its error."""
        if self._log_job is not None:
            job, self._log_job = self._log_job, None
            job.result()

    def save_log(self) -> None:
        """Store the accepted checkpoint and proofs (after the command succeeded)."""
        if self.log is not None:
            self.log.save()

    def close(self) -> None:
        """Close network connections. A log check still queued is dropped; one already asking
        the registry is waited for (its requests have deadlines), so that no connection is
        handed back to the client after it was closed."""
        if self._log_pool is not None:
            self._log_pool.shutdown(wait=True, cancel_futures=True)
        self.registry.close()


def open_session(options: Options) -> Session:
    """A session for ``options`` (reads trusted keys and pins from ``MEMOS_HOME``)."""
    registry = CachedRegistry(
        options.index_url, options.cache, offline=options.offline, read_only=options.dry_run
    )
    return Session(options, registry, trusted_keys(options.home), load_pins(options.home))
