"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proof verification.

A log is a list of entries ``D[0:n]``. Its tree hash (RFC 9162 §2.1.1) is::

    MTH({})      = SHA-256()
    MTH({d0})    = SHA-256(0x00 || d0)                    leaf hash
    MTH(D[0:n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k: largest power of 2 < n

An inclusion proof (§2.1.3) is the audit path from a leaf to the root; a consistency proof (§2.1.4)
shows that a tree of size ``m`` is a prefix of a tree of size ``n``. Both are lists of 32-byte
hashes whose length is fixed by the index and the sizes; this module checks that length first, so
a proof of the wrong length (:class:`ProofLengthError`) is told apart from one that leads to
another root (:class:`LogRootMismatchError`, :class:`LogForkError`).

The verification loops are those of RFC 9162 §2.1.3.2 and §2.1.4.2, step by step; the walk up
the tree they share is :func:`_sibling_sides`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from mip.errors import InvalidProofError, LogForkError, LogRootMismatchError, ProofLengthError

#: Every hash of the tree is a SHA-256 digest.
HASH_SIZE = 32
#: The hash of the empty tree (RFC 9162 §2.1.1): SHA-256 of no bytes.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``: the hash of one log entry (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_of(entries: Sequence[bytes]) -> bytes:
    """The tree hash of ``entries``, computed from scratch (for tests and small trees)."""
    return _subtree_root([leaf_hash(entry) for entry in entries])


def _subtree_root(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    split = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(_subtree_root(hashes[:split]), _subtree_root(hashes[split:]))


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InvalidProofError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        _check_hash(value, f"proof hash #{position}")


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """``(inner, border)``: proof hashes below and above the point where the paths of ``index``
    and of the last leaf meet (the split of RFC 9162 §2.1.3.1)."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes the inclusion proof of leaf ``index`` in a tree of ``size`` has."""
    if not 0 <= index < size:
        raise InvalidProofError(f"leaf index {index} is not in a tree of size {size}")
    inner, border = _inclusion_shape(index, size)
    return inner + border


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """How many hashes the consistency proof from ``old_size`` to ``new_size`` has."""
    if not 0 < old_size <= new_size:
        raise InvalidProofError(
            f"no consistency proof exists from size {old_size} to size {new_size}"
        )
    if old_size == new_size:
        return 0
    shift = (old_size & -old_size).bit_length() - 1  # trailing zero bits of old_size
    fork_level, border = _inclusion_shape(old_size - 1, new_size)
    # The old root itself is not sent when the old tree is a complete subtree (a power of two).
    seed = 0 if old_size == 1 << shift else 1
    return seed + (fork_level - shift) + border


def _sibling_sides(fn: int, sn: int) -> Iterator[bool]:
    """For each hash of a proof in turn: is it the left sibling (``True``) or the right one?

    The walk both verification loops share (RFC 9162 §2.1.3.2 and §2.1.4.2): ``fn`` climbs from
    the proven node, ``sn`` from the last leaf; endless, the proof's length ends it.
    """
    while True:
        if fn & 1 or fn == sn:
            yield True
            # "If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0."
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            yield False
        fn >>= 1
        sn >>= 1


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` gives for leaf hash ``leaf`` at ``index`` (RFC 9162 §2.1.3.2).

    Raises :class:`InvalidProofError` for an index outside the tree or a hash that is not 32
    bytes, :class:`ProofLengthError` for a proof of the wrong length.
    """
    expected = inclusion_proof_length(index, size)
    _check_hash(leaf, "the leaf hash")
    _check_proof_hashes(proof)
    if len(proof) != expected:
        raise ProofLengthError(
            f"the inclusion proof of entry {index} in a tree of size {size} has {len(proof)} "
            f"hashes; RFC 9162 gives it exactly {expected}"
        )
    result = leaf
    for sibling, on_the_left in zip(proof, _sibling_sides(index, size - 1), strict=False):
        result = node_hash(sibling, result) if on_the_left else node_hash(result, sibling)
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash ``leaf`` is entry ``index`` of the tree of ``size`` with ``root``.

    Raises :class:`LogRootMismatchError` when the proof leads to another root (and the errors of
    :func:`root_from_inclusion_proof`).
    """
    _check_hash(root, "the root hash")
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:
        raise LogRootMismatchError(
            f"the inclusion proof of entry {index} leads to root {computed.hex()[:16]}..., not "
            f"to the checkpoint's root {root.hex()[:16]}... of size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree of ``old_size`` and ``old_root`` is a prefix of the tree of
    ``new_size`` and ``new_root`` (RFC 9162 §2.1.4.2).

    As in RFC 9162, a proof from the empty tree is meaningless and refused
    (:class:`InvalidProofError`): a client that has seen only the empty tree needs none.
    Raises :class:`ProofLengthError` for a proof of the wrong length and :class:`LogForkError`
    when the proof does not join the two roots.
    """
    _check_hash(old_root, "the old root hash")
    _check_hash(new_root, "the new root hash")
    _check_proof_hashes(proof)
    expected = consistency_proof_length(old_size, new_size)
    if len(proof) != expected:
        raise ProofLengthError(
            f"the consistency proof from size {old_size} to size {new_size} has {len(proof)} "
            f"hashes; RFC 9162 gives it exactly {expected}"
        )
    if old_size == new_size:
        if old_root != new_root:
            raise LogForkError(
                f"two different roots for the same tree size {old_size}: "
                f"{old_root.hex()[:16]}... and {new_root.hex()[:16]}..."
            )
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for value, on_the_left in zip(path[1:], _sibling_sides(fn, sn), strict=False):
        if on_the_left:
            first = node_hash(value, first)
            second = node_hash(value, second)
        else:
            second = node_hash(second, value)
    if first != old_root or second != new_root:
        which = "old" if first != old_root else "new"
        raise LogForkError(
            f"the consistency proof from size {old_size} to size {new_size} does not lead to "
            f"the {which} root: the two tree heads are not one history"
        )
