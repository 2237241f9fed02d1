"""C2SP tlog-proof: one entry's inclusion proof and checkpoint, verifiable offline.

::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry's bytes>        (MemStore always sends the entry here)
    index <entry index>
    <base64 proof hash>                        zero or more, leaf's sibling first
    <blank line>
    <the signed checkpoint, verbatim>

The ``extra`` line is not trusted by itself: its bytes are the leaf, so the inclusion proof
authenticates them. A lockfile keeps one of these per locked version (spec §12.7), so an offline
install re-checks exactly what the online one checked.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

import msgspec

from mip.errors import InvalidProofError
from mip.transparency.merkle import HASH_SIZE

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX_RE = re.compile(r"index (0|[1-9][0-9]{0,18})")
_HASH_RE = re.compile(r"[A-Za-z0-9+/]{43}=")


class ProofBundle(msgspec.Struct, frozen=True):
    """An entry index, its inclusion proof, the signed checkpoint, and the extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def encode(self) -> bytes:
        """The tlog-proof text."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(value).decode() for value in self.proof)
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint


def parse_proof_bundle(data: bytes) -> ProofBundle:
    """The parts of a tlog-proof; malformed text raises :class:`InvalidProofError`."""
    head, separator, checkpoint = data.partition(b"\n\n")
    if not separator or not head.isascii():
        raise InvalidProofError("not a tlog-proof: no blank line before the checkpoint")
    lines = head.decode("ascii").split("\n")
    if lines[0] != HEADER:
        raise InvalidProofError(f"not a tlog-proof: it starts with {HEADER!r}")
    position = 1
    extra = None
    if len(lines) > 1 and lines[1].startswith("extra "):
        try:
            extra = base64.b64decode(lines[1][len("extra ") :], validate=True)
        except binascii.Error as exc:
            raise InvalidProofError("the tlog-proof's extra line is not base64") from exc
        position = 2
    if len(lines) <= position or not _INDEX_RE.fullmatch(lines[position]):
        raise InvalidProofError("the tlog-proof has no 'index N' line")
    index = int(lines[position].split(" ")[1])
    hashes: list[bytes] = []
    for line in lines[position + 1 :]:
        if not _HASH_RE.fullmatch(line):
            raise InvalidProofError(f"the tlog-proof line {line[:60]!r} is not a base64 hash")
        hashes.append(base64.b64decode(line))
    return ProofBundle(index, tuple(hashes), checkpoint, extra)


def make_proof_bundle(
    index: int, proof: Sequence[bytes], checkpoint: bytes, entry: bytes
) -> ProofBundle:
    """The bundle of one entry (its bytes in ``extra``)."""
    if any(len(value) != HASH_SIZE for value in proof):
        raise InvalidProofError(f"proof hashes are {HASH_SIZE} bytes")
    return ProofBundle(index, tuple(proof), checkpoint, entry)
