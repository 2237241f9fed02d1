"""What a client checks before it trusts a version the registry serves (spec §12.6).

Pure functions over bytes the client fetched and state it kept; each failure is its own
:class:`~mip.errors.TransparencyError` with its own code:

1. :func:`verify_checkpoint` -- the checkpoint is signed by the log key pinned for this registry
   (``log_bad_signature``, ``log_key_changed``), optionally cosigned by enough witnesses
   (``log_cosignature``);
2. :func:`verify_extends` -- it extends the last checkpoint this home saw: the same log, not
   smaller (``log_tree_shrank``), joined by a consistency proof (``log_proof_length``,
   ``log_fork``);
3. :func:`verify_logged` -- the version's entry is in that tree (``log_proof_length``,
   ``log_root_mismatch``) and records exactly the event, cube, version and manifest being
   installed (``log_entry_mismatch``);
4. :func:`verify_proof_bundle` -- 3 (and 1) offline, from a lockfile's stored tlog-proof.

The caller stores the newer checkpoint only after all of them passed.
"""

from __future__ import annotations

from collections.abc import Sequence

from mip.errors import InvalidProofError, LogForkError, LogKeyChangedError, TreeShrankError
from mip.transparency.checkpoint import Checkpoint, open_checkpoint
from mip.transparency.cosignature import Witness, verify_cosignatures
from mip.transparency.entries import EventKind, LogEntry, check_entry_is, decode_entry
from mip.transparency.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from mip.transparency.note import NoteVerifier
from mip.transparency.proof_bundle import ProofBundle, parse_proof_bundle


def verify_checkpoint(
    note: bytes,
    log: NoteVerifier,
    witnesses: Sequence[Witness] = (),
    required_witnesses: int = 0,
) -> Checkpoint:
    """The checkpoint in ``note``, once it verifies against the pinned ``log`` key (and at least
    ``required_witnesses`` of ``witnesses`` cosigned it)."""
    checkpoint, parsed = open_checkpoint(note, log)
    if required_witnesses:
        verify_cosignatures(parsed, witnesses, required_witnesses)
    return checkpoint


def verify_extends(
    previous: Checkpoint | None, current: Checkpoint, consistency_proof: Sequence[bytes]
) -> None:
    """Check that ``current`` extends ``previous`` (the last checkpoint this home stored;
    ``None`` on first use, when there is nothing to be consistent with)."""
    if previous is None:
        return
    if previous.origin != current.origin:
        raise LogKeyChangedError(
            f"the registry's log is now {current.origin!r}; this home has seen {previous.origin!r}"
        )
    if current.size < previous.size:
        raise TreeShrankError(
            f"the registry's log has {current.size} entries; this home has already seen "
            f"{previous.size}: an append-only log never shrinks"
        )
    if previous.size == 0:
        # Every tree extends the empty one; RFC 9162 has no proof for it.
        if consistency_proof:
            raise InvalidProofError("a consistency proof from the empty tree has no hashes")
        if previous.root_hash != EMPTY_ROOT:
            raise LogForkError("the stored checkpoint of size 0 has a root other than the empty")
        return
    verify_consistency(
        previous.size, current.size, consistency_proof, previous.root_hash, current.root_hash
    )


def verify_logged(
    entry: bytes,
    index: int,
    inclusion_proof: Sequence[bytes],
    checkpoint: Checkpoint,
    event: EventKind,
    name: str,
    version: str,
    manifest_digest: str,
) -> LogEntry:
    """Check that ``entry`` is entry ``index`` of the tree ``checkpoint`` signs and records
    ``event`` of ``name`` ``version`` with ``manifest_digest``; returns the decoded entry."""
    verify_inclusion(
        index, checkpoint.size, leaf_hash(entry), inclusion_proof, checkpoint.root_hash
    )
    decoded = decode_entry(entry)
    check_entry_is(decoded, event, name, version, manifest_digest)
    return decoded


def verify_proof_bundle(
    data: bytes,
    log: NoteVerifier,
    event: EventKind,
    name: str,
    version: str,
    manifest_digest: str,
) -> tuple[Checkpoint, LogEntry, ProofBundle]:
    """Verify a stored tlog-proof offline: its checkpoint against ``log``, its entry (the
    ``extra`` bytes) against the checkpoint and against the version it is kept for."""
    bundle = parse_proof_bundle(data)
    if bundle.extra is None:
        raise InvalidProofError("the tlog-proof carries no entry (its extra line)")
    checkpoint = verify_checkpoint(bundle.checkpoint, log)
    entry = verify_logged(
        bundle.extra,
        bundle.index,
        bundle.proof,
        checkpoint,
        event,
        name,
        version,
        manifest_digest,
    )
    return checkpoint, entry, bundle
