"""C2SP tlog-checkpoint: the signed head of a log (https://c2sp.org/tlog-checkpoint).

The body of the note is at least three lines::

    <origin>             the log's identity, e.g. registry.example.com/v1/log
    <tree size>          ASCII decimal, no leading zeros
    <root hash>          base64 of the RFC 9162 root of that many entries
    [extension lines]    optional, non-empty, opaque

A MemStore registry signs it with its log key under the key name ``<origin>``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

import msgspec

from mip.errors import LogKeyChangedError, MalformedCheckpointError
from mip.keys import SigningKey
from mip.transparency.merkle import HASH_SIZE
from mip.transparency.note import (
    Note,
    NoteSignature,
    NoteVerifier,
    open_note,
    sign_note,
    valid_key_name,
)

_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,18}")
_HASH_RE = re.compile(r"[A-Za-z0-9+/]{43}=")


class Checkpoint(msgspec.Struct, frozen=True):
    """A tree head: the log's origin, its size and the root hash of that many entries."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text of this checkpoint (C2SP tlog-checkpoint)."""
        root = base64.b64encode(self.root_hash).decode()
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """The checkpoint a note text holds; raises :class:`MalformedCheckpointError`."""
    if not text.endswith("\n"):
        raise MalformedCheckpointError("a checkpoint body ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpointError(
            "a checkpoint has at least three lines: origin, tree size, root hash"
        )
    origin, size, root, *extensions = lines
    if not origin:
        # C2SP: non-empty; a URL without spaces is only a SHOULD (Go's is "go.sum database tree").
        raise MalformedCheckpointError("a checkpoint's first line, its origin, is never empty")
    if not _SIZE_RE.fullmatch(size) or int(size) >= 1 << 63:
        raise MalformedCheckpointError(
            f"invalid checkpoint tree size {size[:40]!r}: a decimal number without leading zeros"
        )
    if not _HASH_RE.fullmatch(root):
        raise MalformedCheckpointError(
            f"invalid checkpoint root hash {root[:60]!r}: base64 of {HASH_SIZE} bytes"
        )
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the pattern admits only valid base64
        raise MalformedCheckpointError("invalid checkpoint root hash") from exc
    if any(not line for line in extensions):
        raise MalformedCheckpointError("a checkpoint extension line is never empty")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(
    checkpoint: Checkpoint, key: SigningKey, keep: Sequence[NoteSignature] = ()
) -> bytes:
    """The signed note of ``checkpoint``, signed by ``key`` under the origin as key name."""
    if not valid_key_name(checkpoint.origin):
        raise MalformedCheckpointError(
            f"origin {checkpoint.origin[:80]!r} cannot name a key: no spaces or '+'"
        )
    if len(checkpoint.root_hash) != HASH_SIZE:
        raise MalformedCheckpointError(f"a root hash is {HASH_SIZE} bytes")
    return sign_note(checkpoint.body(), checkpoint.origin, key, keep).encode()


def open_checkpoint(data: bytes, log: NoteVerifier) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint against the log's key and return it with its note.

    Raises :class:`~mip.errors.MalformedNoteError` / :class:`MalformedCheckpointError` for bad
    syntax, :class:`~mip.errors.LogSignatureError` when the log key's signature fails,
    :class:`LogKeyChangedError` when the log key did not sign it or it names another origin.
    """
    note, _ = open_note(data, [log])
    checkpoint = parse_checkpoint_body(note.text)
    if checkpoint.origin != log.name:
        raise LogKeyChangedError(
            f"the checkpoint is for log {checkpoint.origin[:80]!r}, the pinned log is {log.name!r}"
        )
    return checkpoint, note
