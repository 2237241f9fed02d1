"""C2SP tlog-cosignature (Ed25519, type ``0x04``): witnesses that saw the same log head.

A witness that checked a checkpoint's consistency with every head it saw before adds one
signature line to the checkpoint's note. Its key id is ``SHA-256(name || "\\n" || 0x04 ||
public key)[:4]``; the signature is ``timestamp (8 bytes, big-endian) || Ed25519 signature`` of::

    cosignature/v1
    time <timestamp>
    <the checkpoint's body>

A client that requires ``k`` of its trusted witnesses (spec/MIP-1-registry.md §12.8) checks
:func:`verify_cosignatures` after the log's own signature.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from mip.errors import CosignatureError, InvalidVerifierKeyError
from mip.keys import PublicKey, SigningKey
from mip.transparency.note import Note, NoteSignature, key_id_for, valid_key_name

#: The signature type byte of timestamped Ed25519 cosignatures.
COSIGNATURE_TYPE = 0x04
_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = (1 << 63) - 1


class Witness(msgspec.Struct, frozen=True):
    """A witness a client trusts: its name and Ed25519 public key."""

    name: str
    public_key: PublicKey

    @property
    def key_id(self) -> int:
        """The key id of this witness's cosignatures."""
        return key_id_for(self.name, COSIGNATURE_TYPE, self.public_key.raw)


def cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    """The bytes a witness signs for ``checkpoint_body`` at POSIX time ``timestamp``."""
    return f"{_HEADER}time {timestamp}\n{checkpoint_body}".encode()


def cosign(checkpoint_body: str, name: str, key: SigningKey, timestamp: int) -> NoteSignature:
    """A witness's cosignature line for a checkpoint body (what a witness returns)."""
    if not valid_key_name(name):
        raise InvalidVerifierKeyError(f"invalid witness name {name[:80]!r}")
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise CosignatureError(f"a cosignature timestamp is 0 to {_MAX_TIMESTAMP}")
    signature = key.sign(cosigned_message(checkpoint_body, timestamp))
    key_id = key_id_for(name, COSIGNATURE_TYPE, key.public_key.raw)
    return NoteSignature(name, key_id, timestamp.to_bytes(8, "big") + signature)


def verify_cosignatures(note: Note, witnesses: Sequence[Witness], required: int) -> dict[str, int]:
    """Check the cosignatures of trusted ``witnesses`` on a checkpoint note; at least
    ``required`` distinct witnesses must have cosigned. Returns ``{witness name: timestamp}``.

    A cosignature of a trusted witness that fails to verify raises :class:`CosignatureError`
    (as a forged log signature would); lines of unknown keys are ignored (C2SP signed-note).
    """
    known = {(witness.name, witness.key_id): witness for witness in witnesses}
    seen: dict[str, int] = {}
    for line in note.signatures:
        witness = known.get((line.name, line.key_id))
        if witness is None or witness.name in seen:
            continue
        if len(line.signature) != 8 + 64:
            raise CosignatureError(
                f"the cosignature of witness {witness.name!r} is {len(line.signature)} bytes, "
                "not a timestamp and an Ed25519 signature (72)"
            )
        timestamp = int.from_bytes(line.signature[:8], "big")
        message = cosigned_message(note.text, timestamp)
        if timestamp > _MAX_TIMESTAMP or not witness.public_key.verify(line.signature[8:], message):
            raise CosignatureError(
                f"the cosignature of witness {witness.name!r} does not verify: the checkpoint "
                "was altered or the cosignature forged"
            )
        seen[witness.name] = timestamp
    if len(seen) < required:
        names = ", ".join(sorted(seen)) or "none"
        raise CosignatureError(
            f"{len(seen)} trusted witness(es) cosigned this checkpoint ({names}); "
            f"{required} are required"
        )
    return seen
