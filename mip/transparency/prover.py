"""Where a log stores its hashes, and the tree hashes and proofs built from them.

The layout is that of Go's checksum database (golang.org/x/mod/sumdb/tlog, after Crosby and
Wallach, "Efficient Data Structures for Tamper-Evident Logging", §3.3): every complete subtree's
hash is stored once, in a dense linear order. Appending entry ``n`` stores its leaf hash and the
hash of every subtree it completes -- one hash plus one per trailing 1 bit of ``n``, under two on
average -- at :func:`stored_hash_index` ``(0, n)`` onwards. Nothing is ever recomputed: a tree
hash reads at most ``1 + log2(n)`` stored hashes, an inclusion or consistency proof about
``2 log2(n)``, each in one call to the :class:`HashReader`.

A registry implements :class:`HashReader` over its database; the algorithms here never touch I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mip.errors import InvalidProofError
from mip.transparency.merkle import EMPTY_ROOT, HASH_SIZE, node_hash


class HashReader(Protocol):
    """Reads stored hashes by their :func:`stored_hash_index`."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The hashes at ``indexes`` (sorted ascending), in that order, one per index."""


def stored_hash_index(level: int, n: int) -> int:
    """Where the hash of the ``n``-th subtree of height ``level`` is stored."""
    # Level L's n-th hash is written right after level L+1's (2n+1)-th: walk down to level 0.
    for _ in range(level):
        n = 2 * n + 1
    # Level 0's n-th hash is written at n + n/2 + n/4 + ... (until n/2^i is zero).
    index = 0
    while n > 0:
        index += n
        n >>= 1
    return index + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The ``(level, n)`` whose hash :func:`stored_hash_index` puts at ``index``."""
    # stored_hash_index(0, n) < 2n, so the leaf written before ``index`` is in [index/2, ...].
    n = index // 2
    start = stored_hash_index(0, n)
    while True:
        # Entry n stores 1 + (trailing 1 bits of n) hashes.
        following = start + 1 + ((n + 1) & -(n + 1)).bit_length() - 1
        if following > index:
            break
        n += 1
        start = following
    level = index - start
    return level, n >> level


def stored_hash_count(size: int) -> int:
    """How many hashes a log of ``size`` entries has stored."""
    if size == 0:
        return 0
    count = stored_hash_index(0, size - 1) + 1
    last = size - 1
    while last & 1:
        count += 1
        last >>= 1
    return count


def hashes_to_store(n: int, leaf: bytes, reader: HashReader) -> list[bytes]:
    """The hashes appending entry ``n`` (leaf hash ``leaf``) stores from
    ``stored_hash_index(0, n)`` on: the leaf, then each subtree it completes.

    Reads the left siblings of those subtrees (one per trailing 1 bit of ``n``) from ``reader``.
    """
    completed = ((n + 1) & -(n + 1)).bit_length() - 1
    indexes = [stored_hash_index(level, (n >> level) - 1) for level in reversed(range(completed))]
    siblings = _read(reader, indexes)
    hashes = [leaf]
    current = leaf
    for level in range(completed):
        current = node_hash(siblings[completed - 1 - level], current)
        hashes.append(current)
    return hashes


def frontier_indexes(size: int) -> list[int]:
    """The stored indexes of the complete subtrees that make up the tree of ``size`` entries,
    left to right (its *frontier*, at most 64): everything an append reads."""
    parts: list[int] = []
    _subtree_indexes(0, size, parts)
    return parts


class _Known:
    """A hash reader over hashes already in memory."""

    def __init__(self, hashes: dict[int, bytes]) -> None:
        self.hashes = hashes

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return [self.hashes[index] for index in indexes]


def append_to_frontier(
    n: int, leaf: bytes, frontier: Sequence[bytes]
) -> tuple[dict[int, bytes], bytes, list[bytes]]:
    """Append entry ``n`` (leaf hash ``leaf``) to the tree of ``n`` entries whose frontier is
    ``frontier``: the hashes to store (by stored hash index), the new root and the new frontier.
    A log that keeps its frontier beside its size appends without reading any stored hash."""
    indexes = frontier_indexes(n)
    if len(frontier) != len(indexes) or any(len(value) != HASH_SIZE for value in frontier):
        raise InvalidProofError(
            f"a tree of {n} entries has a frontier of {len(indexes)} hashes, not {len(frontier)}"
        )
    known = dict(zip(indexes, frontier, strict=True))
    pending, root = append_leaf(n, leaf, _Known(known))
    known.update(pending)
    return pending, root, [known[index] for index in frontier_indexes(n + 1)]


class _Overlay:
    """Hashes being written first, then a reader."""

    def __init__(self, pending: dict[int, bytes], reader: HashReader) -> None:
        self.pending = pending
        self.reader = reader

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        missing = [index for index in indexes if index not in self.pending]
        found = dict(zip(missing, _read(self.reader, missing), strict=True))
        return [self.pending[index] if index in self.pending else found[index] for index in indexes]


def append_leaf(n: int, leaf: bytes, reader: HashReader) -> tuple[dict[int, bytes], bytes]:
    """Append entry ``n`` with leaf hash ``leaf``: the hashes to store (by stored hash index)
    and the root of the ``n + 1`` entries. Reads only hashes of the frontier of ``n``."""
    new_hashes = hashes_to_store(n, leaf, reader)
    start = stored_hash_index(0, n)
    pending = {start + offset: value for offset, value in enumerate(new_hashes)}
    return pending, tree_hash(n + 1, _Overlay(pending, reader))


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes) or any(len(value) != HASH_SIZE for value in hashes):
        raise InvalidProofError(
            f"the hash store returned {len(hashes)} hashes for {len(indexes)} indexes"
        )
    return hashes


def _largest_power_below(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_indexes(lo: int, hi: int, need: list[int]) -> None:
    """Append the stored indexes whose hashes make up the subtree of entries ``[lo, hi)``."""
    while lo < hi:
        # The largest complete subtree starting at lo that fits: its hash is stored.
        level = (hi - lo).bit_length() - 1
        need.append(stored_hash_index(level, lo >> level))
        lo += 1 << level


def _subtree_hash(lo: int, hi: int, hashes: list[bytes], at: int) -> tuple[bytes, int]:
    """The hash of subtree ``[lo, hi)`` from ``hashes[at:]`` (laid out by
    :func:`_subtree_indexes`); returns it and the position after what it used."""
    parts = 0
    while lo < hi:
        lo += 1 << ((hi - lo).bit_length() - 1)
        parts += 1
    result = hashes[at + parts - 1]
    for position in range(at + parts - 2, at - 1, -1):
        result = node_hash(hashes[position], result)
    return result, at + parts


def tree_hash(size: int, reader: HashReader) -> bytes:
    """The root of the first ``size`` entries, from at most ``1 + log2(size)`` stored hashes."""
    if size == 0:
        return EMPTY_ROOT
    return _subtree_hashes([(0, size)], reader)[0]


def _inclusion_subtrees(lo: int, hi: int, n: int) -> list[tuple[int, int]]:
    """The subtrees ``[lo, hi)`` whose hashes prove entry ``n`` (RFC 9162 §2.1.3.1 PATH), in
    proof order."""
    if lo + 1 == hi:
        return []
    split = _largest_power_below(hi - lo)
    if n < lo + split:
        return [*_inclusion_subtrees(lo, lo + split, n), (lo + split, hi)]
    return [*_inclusion_subtrees(lo + split, hi, n), (lo, lo + split)]


def _subtree_hashes(subtrees: list[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """The hashes of ``subtrees`` (disjoint), in their order, from one read of stored hashes."""
    in_tree_order = sorted(subtrees)
    indexes: list[int] = []
    for lo, hi in in_tree_order:
        _subtree_indexes(lo, hi, indexes)
    hashes = _read(reader, indexes)
    found: dict[tuple[int, int], bytes] = {}
    at = 0
    for lo, hi in in_tree_order:
        found[lo, hi], at = _subtree_hash(lo, hi, hashes, at)
    return [found[subtree] for subtree in subtrees]


def inclusion_proof(size: int, index: int, reader: HashReader) -> list[bytes]:
    """The RFC 9162 inclusion proof of entry ``index`` in the tree of the first ``size``."""
    if not 0 <= index < size:
        raise InvalidProofError(f"entry {index} is not in a tree of size {size}")
    return _subtree_hashes(_inclusion_subtrees(0, size, index), reader)


def _consistency_subtrees(lo: int, hi: int, n: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes prove the first ``n`` entries a prefix of ``[lo, hi)`` (RFC 9162
    §2.1.4.1 SUBPROOF), in proof order."""
    if n == hi:
        # At lo == 0 this subtree is the old tree: the verifier knows its hash.
        return [] if lo == 0 else [(lo, hi)]
    split = _largest_power_below(hi - lo)
    if n <= lo + split:
        return [*_consistency_subtrees(lo, lo + split, n), (lo + split, hi)]
    return [*_consistency_subtrees(lo + split, hi, n), (lo, lo + split)]


def consistency_proof(new_size: int, old_size: int, reader: HashReader) -> list[bytes]:
    """The RFC 9162 consistency proof that the first ``old_size`` entries are a prefix of the
    first ``new_size`` (empty when the sizes are equal)."""
    if not 0 < old_size <= new_size:
        raise InvalidProofError(
            f"no consistency proof exists from size {old_size} to size {new_size}"
        )
    return _subtree_hashes(_consistency_subtrees(0, new_size, old_size), reader)
