"""The transparency log checks of one install command (spec/MIP-1-registry.md §12.6, §12.7).

Online, for the versions a command is about to install (:meth:`LogCheck.verify_online`):

1. ``GET /v1/log``: the log's verifier key, pinned on first use (a changed one is
   ``log_key_changed``), and its signed checkpoint, verified against the pinned key;
2. consistency: the checkpoint extends the last one this home accepted (and any a lockfile
   recorded): ``log_tree_shrank``, ``log_fork``, ``log_proof_length``;
3. the entries appended since that checkpoint, read from tiles proven against the new root
   (``log_tile_mismatch``): every yank and unyank among them is remembered, so a registry that
   later serves a yanked version as not yanked is caught (``log_yank_omitted``);
4. per version, the inclusion proof of its ``publish`` entry (and of its ``yank`` when the
   registry says it is yanked) in that same tree, and the entry names exactly the cube, version
   and manifest digest installed (``log_root_mismatch``, ``log_entry_mismatch``).

Offline (:meth:`LogCheck.verify_offline`), each version's stored C2SP tlog-proof (from an earlier
install, or a lockfile) is re-checked against the pinned key. :meth:`LogCheck.save` stores the new
checkpoint, proofs and events only after the command succeeded. A registry without a log (404 on
``/v1/log``) is ``log_unavailable`` unless the user allowed it (``--allow-unlogged``): then the
command goes on with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from memos_client.errors import LogVerificationError, RegistryNotFoundError
from memos_client.trust.log_state import (
    LogStates,
    RegistryLog,
    VersionEvent,
    load_log_states,
    save_log_states,
    version_key,
)
from mip.errors import LogForkError, LogKeyChangedError, MIPError

if TYPE_CHECKING:
    from memos_client.trust.log_scan import LogClient
    from mip.registry_api import LogInclusion, LogInfo
    from mip.transparency.checkpoint import Checkpoint
    from mip.transparency.note import NoteVerifier

#: The most entries one command reads to learn of yanks (a home that has not been used for a
#: long time on a busy registry reads only the newest ones, and says so).
MAX_SCAN_ENTRIES = 50_000

#: What each failure means for the user, by code (added to the check's own message).
_ADVICE = {
    "log_fork": "the registry shows this home a history other than the one it showed before "
    "(a fork or a rewrite of its log)",
    "log_tree_shrank": "the registry's log lost entries this home has seen (a rewrite, or a "
    "restored backup)",
    "log_key_changed": "the registry's log is signed by another key than the one this home "
    "pinned (a new log, or an impostor); if the operator announced a new log key, remove the "
    "registry from $MEMOS_HOME/trust/log.json",
    "log_bad_signature": "a checkpoint carries a forged signature of the pinned log key",
    "log_root_mismatch": "the version's inclusion proof does not lead to the signed root",
    "log_proof_length": "a proof of the wrong length",
    "log_tile_mismatch": "a tile or entry bundle does not match the signed tree",
    "log_entry_mismatch": "the logged entry is for another version or manifest",
}


class CubeRef(msgspec.Struct, frozen=True):
    """A version to check: what is installed, whether the registry says it is yanked, and
    whether it was pinned exactly (then a yanked version may be installed, PEP 592)."""

    name: str
    version: str
    manifest_digest: str
    yanked: bool = False
    exact: bool = False

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Verified(msgspec.Struct, frozen=True):
    """A version proven to be in the log: its publish entry's index, and its tlog-proof."""

    cube: CubeRef
    index: int
    tree_size: int
    proof: str


def _failed(exc: MIPError, what: str) -> LogVerificationError:
    code = str(getattr(exc, "code", "log_error"))
    advice = _ADVICE.get(code)
    text = f"{what}: {exc}" + (f"; {advice}" if advice else "")
    return LogVerificationError(f"{text}: nothing was installed ({code})", code=code)


class LogCheck:
    """One command's log checks against the registry at ``url``, with this home's state."""

    def __init__(
        self,
        home: Path,
        url: str,
        *,
        allow_unlogged: bool = False,
        log_info: Callable[[], LogInfo] | None = None,
    ) -> None:
        """``log_info``: where ``GET /v1/log``'s answer comes from when it was requested ahead
        (an install asks for it while it resolves); default: the client, when needed."""
        self.home = home
        self._log_info = log_info
        self.url = url
        self.allow_unlogged = allow_unlogged
        self.states: LogStates = load_log_states(home)
        self.state: RegistryLog | None = self.states.registries.get(url)
        self.warnings: list[str] = []
        self.verified: list[Verified] = []
        self.checkpoint_note: str | None = None
        self.checkpoint: Checkpoint | None = None
        self._new_state: RegistryLog | None = None
        self._events: dict[str, VersionEvent] = {}
        #: Manifest digests of checked versions whose latest logged event is a yank.
        self.verified_yanked: set[str] = set()

    def _go_on_unlogged(
        self, message: str, advice: str, code: str, cause: BaseException | None = None
    ) -> None:
        """What cannot be checked against the log (``message``): under --allow-unlogged, a
        warning and the install goes on unverified; else the error (``advice`` says what to
        do), raised from ``cause``."""
        if not self.allow_unlogged:
            raise LogVerificationError(
                f"{message}{advice}; nothing was installed ({code})", code=code
            ) from cause
        self.warnings.append(message + "; installing unverified (--allow-unlogged)")

    # -- online ----------------------------------------------------------------------------------

    def _pin(self, client: LogClient) -> tuple[NoteVerifier, str] | None:
        """The pinned key (pinning on first use) and the current checkpoint note; ``None`` for
        an allowed registry without a log."""
        from mip.transparency.note import parse_verifier_key

        try:
            info = self._log_info() if self._log_info is not None else client.log_info()
        except RegistryNotFoundError as exc:
            message = (
                f"the registry at {self.url} has no transparency log (GET /v1/log: {exc.code}); "
                "what it serves cannot be checked against the history others see"
            )
            advice = ": pass --allow-unlogged to install from it anyway"
            self._go_on_unlogged(message, advice, "log_unavailable", cause=exc)
            return None
        if self.state is None:
            try:
                verifier = parse_verifier_key(info.verifier_key)
            except MIPError as exc:
                raise _failed(exc, f"the log key of {self.url}") from exc
            self._new_state = RegistryLog(verifier_key=info.verifier_key)
            return verifier, info.checkpoint
        if info.verifier_key != self.state.verifier_key:
            raise _failed(
                LogKeyChangedError(
                    f"the registry now names log key {info.verifier_key[:120]!r}; this home "
                    f"pinned {self.state.verifier_key!r} on {self.state.pinned_at}"
                ),
                f"the transparency log of {self.url}",
            )
        self._new_state = msgspec.structs.replace(self.state)
        return self.state.verifier(), info.checkpoint

    def _stored_checkpoint(self, verifier: NoteVerifier) -> Checkpoint | None:
        from mip.transparency.client import verify_checkpoint

        if self.state is None or self.state.checkpoint is None:
            return None
        try:
            return verify_checkpoint(self.state.checkpoint.encode(), verifier)
        except MIPError as exc:
            raise _failed(exc, "the checkpoint stored in $MEMOS_HOME/trust/log.json") from exc

    def _extend(
        self,
        client: LogClient,
        verifier: NoteVerifier,
        previous: Checkpoint,
        current: Checkpoint,
        seen: str,
    ) -> None:
        """Check that ``current`` extends ``previous`` (``seen`` says where it was seen)."""
        from mip.transparency.client import verify_checkpoint, verify_extends

        proof: list[bytes] = []
        if previous.size and current.size > previous.size:
            answer = client.log_consistency(previous.size, current.size)
            other = verify_checkpoint(answer.checkpoint.encode(), verifier)
            if other.size != current.size or other.root_hash != current.root_hash:
                raise LogForkError(
                    f"the registry signed two different trees of {current.size} entries"
                )
            proof = _hashes(answer.proof)
        try:
            verify_extends(previous, current, proof)
        except MIPError as exc:
            raise _failed(
                exc,
                f"the log of {self.url} at {current.size} entries does not extend the tree of "
                f"{previous.size} entries {seen}",
            ) from exc

    def _scan(self, client: LogClient, start: int, current: Checkpoint) -> None:
        """Remember every yank and unyank appended since ``start``."""
        from memos_client.trust.log_scan import read_proven_entries
        from mip.transparency.entries import decode_entry

        if current.size - start > MAX_SCAN_ENTRIES:
            self.warnings.append(
                f"{current.size - start} entries were appended to the log of {self.url} since "
                f"this home last read it; yanks are checked in the newest {MAX_SCAN_ENTRIES} "
                "only (`memos log watch` reads them all)"
            )
            start = current.size - MAX_SCAN_ENTRIES
        entries = read_proven_entries(client, current, start, current.size)
        for offset, data in enumerate(entries):
            entry = decode_entry(data)
            if entry.event in ("yank", "unyank") and entry.name and entry.version:
                key = version_key(entry.name, entry.version)
                self._events[key] = VersionEvent(entry.event, start + offset)

    def verify_online(
        self, client: LogClient, cubes: Sequence[CubeRef], lock_checkpoints: Sequence[str] = ()
    ) -> list[Verified]:
        """Steps 1-4 of the module docstring for ``cubes``; raises
        :class:`LogVerificationError` naming what was seen.

        After ``GET /v1/log``, the consistency proofs, the tiles of the new entries and the
        inclusion proofs are independent reads of one tree: they run at once (8 at a time), so
        a command waits about two round trips whatever the number of cubes.
        """
        from concurrent.futures import Future, ThreadPoolExecutor

        from mip.transparency.client import verify_checkpoint

        pinned = self._pin(client)
        if pinned is None:
            return []
        verifier, note = pinned
        try:
            current = verify_checkpoint(note.encode(), verifier)
            previous = self._stored_checkpoint(verifier)
            locked = [verify_checkpoint(text.encode(), verifier) for text in lock_checkpoints]
        except MIPError as exc:
            raise _failed(exc, f"the checkpoint of {self.url}") from exc
        extends: list[tuple[Checkpoint, str]] = [(c, "the lockfile was made at") for c in locked]
        if previous is not None:
            extends.insert(0, (previous, "that this home accepted"))
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="memos-log") as pool:
            checks: list[Future[None]] = [
                pool.submit(self._extend, client, verifier, old, current, seen)
                for old, seen in extends
            ]
            if previous is not None:
                checks.append(pool.submit(self._scan, client, previous.size, current))
            proofs = [
                pool.submit(self._include, client, verifier, note, current, cube) for cube in cubes
            ]
            try:
                for job in checks:
                    job.result()
            except MIPError as exc:
                raise _failed(exc, f"the transparency log of {self.url}") from exc
            verified = [job.result() for job in proofs]
        for item in verified:
            self._check_not_hidden(item)
        self.checkpoint, self.checkpoint_note = current, note
        self.verified = verified
        return verified

    def _fetch_inclusion(
        self, client: LogClient, cube: CubeRef, event: str, size: int
    ) -> LogInclusion:
        try:
            return client.log_inclusion(cube.name, cube.version, event, size)
        except RegistryNotFoundError as exc:
            raise LogVerificationError(
                f"{cube}: the registry's log has no {event} entry for this version "
                f"({exc.code}): it serves a version it never logged; nothing was installed "
                "(log_entry_missing)",
                code="log_entry_missing",
            ) from exc

    def _include(
        self,
        client: LogClient,
        verifier: NoteVerifier,
        note: str,
        current: Checkpoint,
        cube: CubeRef,
    ) -> Verified:
        """Step 4 for one version: its publish (and yank, when the registry says it is yanked)
        is in the tree of ``current`` and names exactly this version and manifest."""
        from mip.transparency.client import verify_checkpoint, verify_logged
        from mip.transparency.proof_bundle import make_proof_bundle

        events = ["publish", "yank"] if cube.yanked else ["publish"]
        found: list[tuple[int, list[bytes], bytes]] = []
        for event in events:
            answer = self._fetch_inclusion(client, cube, event, current.size)
            try:
                signed = verify_checkpoint(answer.checkpoint.encode(), verifier)
                if signed.size != current.size or signed.root_hash != current.root_hash:
                    raise LogForkError(
                        f"the registry signed two different trees of {current.size} entries"
                    )
                entry = answer.entry.encode("ascii", "replace")
                proof = _hashes(answer.proof)
                verify_logged(
                    entry,
                    answer.index,
                    proof,
                    current,
                    event,  # type: ignore[arg-type]  # one of the version events
                    cube.name,
                    cube.version,
                    cube.manifest_digest,
                )
            except MIPError as exc:
                raise _failed(exc, f"{cube}: its {event} in the log of {self.url}") from exc
            found.append((answer.index, proof, entry))
        index, proof, entry = found[0]
        bundle = make_proof_bundle(index, proof, note.encode(), entry)
        return Verified(cube, index, current.size, bundle.encode().decode())

    def _check_not_hidden(self, item: Verified) -> None:
        """A version the log says is yanked, served as not yanked, and not pinned exactly:
        the registry hides a yank it logged (``log_yank_omitted``)."""
        cube = item.cube
        key = version_key(cube.name, cube.version)
        seen = self._events.get(key)
        if seen is None and self.state is not None:
            seen = self.state.version_events.get(key)
        if seen is None or seen.event != "yank":
            return
        if cube.yanked or cube.exact:
            self.verified_yanked.add(cube.manifest_digest)
            return
        raise LogVerificationError(
            f"{cube}: the log records its yank (entry {seen.index}), but the registry serves "
            "it as not yanked: it hides a yank it logged; nothing was installed "
            "(log_yank_omitted)",
            code="log_yank_omitted",
        )

    # -- offline ---------------------------------------------------------------------------------

    def verify_offline(
        self,
        cubes: Sequence[CubeRef],
        stored: Mapping[str, str] | None = None,
        lock_key: str | None = None,
    ) -> list[Verified]:
        """Re-check each version's stored tlog-proof (``stored`` by manifest digest, e.g. a
        lockfile's; else this home's) against the pinned key (else ``lock_key``)."""
        from mip.transparency.client import verify_proof_bundle
        from mip.transparency.note import parse_verifier_key

        key = self.state.verifier_key if self.state is not None else lock_key
        if key is None:
            message = (
                f"this home has not pinned the log key of {self.url} and no lockfile records "
                "it, so stored proofs cannot be checked offline"
            )
            advice = ": run the command once online, or pass --allow-unlogged"
            self._go_on_unlogged(message, advice, "log_unavailable")
            return []
        try:
            verifier = parse_verifier_key(key)
            known = self._stored_checkpoint(verifier)
        except MIPError as exc:
            raise _failed(exc, "the pinned log key") from exc
        self._new_state = (
            RegistryLog(verifier_key=key)
            if self.state is None
            else msgspec.structs.replace(self.state)
        )
        proofs = dict(self.state.proofs if self.state is not None else {})
        proofs.update(stored or {})
        results = []
        for cube in cubes:
            text = proofs.get(cube.manifest_digest)
            if text is None:
                message = f"{cube}: no stored log proof for manifest {cube.manifest_digest}"
                advice = (
                    ", and --offline forbids asking the registry: install it once online or "
                    "from a lockfile made by `memos lock`"
                )
                self._go_on_unlogged(message, advice, "log_proof_missing")
                continue
            try:
                checkpoint, _, bundle = verify_proof_bundle(
                    text.encode(),
                    verifier,
                    "publish",
                    cube.name,
                    cube.version,
                    cube.manifest_digest,
                )
                if (
                    known is not None
                    and checkpoint.size == known.size
                    and checkpoint.root_hash != known.root_hash
                ):
                    raise LogForkError(
                        f"the stored proof's tree of {known.size} entries has another root "
                        "than the checkpoint this home accepted"
                    )
            except MIPError as exc:
                raise _failed(exc, f"{cube}: its stored log proof") from exc
            results.append(Verified(cube, bundle.index, checkpoint.size, text))
        self.verified = results
        return results

    def lock_record(self) -> tuple[str, str, dict[str, str]] | None:
        """``(verifier key, checkpoint, proofs by manifest digest)`` for a lockfile's ``[log]``
        table; ``None`` when nothing was checked (a registry without a log, allowed)."""
        state = self._new_state
        if state is None:
            return None
        checkpoint = self.checkpoint_note or state.checkpoint or ""
        proofs = {v.cube.manifest_digest: v.proof for v in self.verified}
        return state.verifier_key, checkpoint, proofs

    # -- state -----------------------------------------------------------------------------------

    def save(self) -> None:
        """Store the new checkpoint, proofs and events (call after the command succeeded)."""
        state = self._new_state
        if state is None:
            return
        if self.checkpoint_note is not None:
            state.checkpoint = self.checkpoint_note
        state.version_events = {**state.version_events, **self._events}
        state.proofs = {**state.proofs, **{v.cube.manifest_digest: v.proof for v in self.verified}}
        states = load_log_states(self.home)  # another command may have written meanwhile
        states.registries[self.url] = state
        save_log_states(states, self.home)


def _hashes(values: Sequence[str]) -> list[bytes]:
    """Base64 proof hashes; a value that is not base64 is an invalid proof."""
    import base64
    import binascii

    from mip.errors import InvalidProofError

    try:
        return [base64.b64decode(value, validate=True) for value in values]
    except (binascii.Error, ValueError) as exc:
        raise InvalidProofError("a proof hash is not base64") from exc
