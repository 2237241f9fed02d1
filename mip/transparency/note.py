"""C2SP signed-note: text signed by one or more named keys (https://c2sp.org/signed-note).

A signed note is the text (ending in a newline), a blank line, then one line per signature::

    — <key name> base64(key id (4 bytes, big-endian) || signature)

An Ed25519 key (signature type ``0x01``) has key id ``SHA-256(name || "\\n" || 0x01 ||
public key)[:4]`` and is shared as a *verifier key* ``<name>+<hex key id>+base64(0x01 ||
public key)``. A verifier ignores signatures of keys it does not know, refuses a note in which a
known key's signature fails (:class:`LogSignatureError`), and one no known key signed
(:class:`LogKeyChangedError`: for a log client the known key is the pinned one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence

import msgspec

from mip.errors import (
    InvalidKeyError,
    InvalidVerifierKeyError,
    LogKeyChangedError,
    LogSignatureError,
    MalformedNoteError,
)
from mip.keys import PublicKey, SigningKey

#: Signature type of plain Ed25519 note signatures (C2SP signed-note).
ED25519_TYPE = 0x01
#: C2SP: verifiers MUST accept at least 16 signatures; more is a sign of abuse.
MAX_SIGNATURES = 100
#: A note this large is not a checkpoint: refuse before parsing.
MAX_NOTE_SIZE = 1 << 20
_SIGNATURE_PREFIX = "— "
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class NoteSignature(msgspec.Struct, frozen=True):
    """One signature line: key name, key id and the signature bytes (after the key id)."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        raw = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_SIGNATURE_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"


class Note(msgspec.Struct, frozen=True):
    """A parsed signed note: its text (final newline included) and every signature line."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> bytes:
        """The note as bytes: text, blank line, signature lines."""
        return (self.text + "\n" + "".join(sig.line() for sig in self.signatures)).encode()


def valid_key_name(name: str) -> bool:
    """C2SP: a key name is non-empty and has no Unicode space and no ``+``."""
    return bool(name) and "+" not in name and not any(char.isspace() for char in name)


def key_id_for(name: str, signature_type: int, public_key: bytes) -> int:
    """``SHA-256(name || "\\n" || type || public key)[:4]`` as a big-endian integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


class NoteVerifier(msgspec.Struct, frozen=True):
    """An Ed25519 note verifier: key name, key id and public key."""

    name: str
    key_id: int
    public_key: PublicKey

    @classmethod
    def for_key(cls, name: str, public_key: PublicKey) -> NoteVerifier:
        """The verifier of ``public_key`` under ``name``."""
        if not valid_key_name(name):
            raise InvalidVerifierKeyError(
                f"invalid key name {name[:80]!r}: it must be non-empty, without spaces or '+'"
            )
        return cls(name, key_id_for(name, ED25519_TYPE, public_key.raw), public_key)

    def verifier_key(self) -> str:
        """The verifier key ``name+hex(key id)+base64(0x01 || key)``."""
        material = base64.b64encode(bytes([ED25519_TYPE]) + self.public_key.raw).decode()
        return f"{self.name}+{self.key_id:08x}+{material}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        return self.public_key.verify(signature, message)


def parse_verifier_key(text: str) -> NoteVerifier:
    """The verifier a verifier key string names; any other text raises
    :class:`InvalidVerifierKeyError` (a wrong key id, an unknown type, a truncated key)."""
    parts = text.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise InvalidVerifierKeyError(
            "a log verifier key is NAME+KEYID+KEY (three parts separated by '+')"
        )
    name, key_id_hex, material_b64 = parts
    if not valid_key_name(name):
        raise InvalidVerifierKeyError(f"invalid key name in verifier key: {name[:80]!r}")
    if not re.fullmatch(r"[0-9a-f]{8}", key_id_hex):
        raise InvalidVerifierKeyError("the key id of a verifier key is 8 lower-case hex digits")
    material = _b64decode(material_b64)
    if material is None or not material:
        raise InvalidVerifierKeyError("the key of a verifier key is not base64")
    if key_id_for(name, material[0], material[1:]) != int(key_id_hex, 16):
        raise InvalidVerifierKeyError(
            f"verifier key {text[:80]!r} does not match its key id (mistyped or altered)"
        )
    if material[0] != ED25519_TYPE:
        raise InvalidVerifierKeyError(
            f"verifier key type 0x{material[0]:02x} is not Ed25519 (0x01)"
        )
    try:
        key = PublicKey.from_raw(material[1:])
    except InvalidKeyError as exc:
        raise InvalidVerifierKeyError(f"verifier key {name!r}: {exc}") from exc
    return NoteVerifier(name, int(key_id_hex, 16), key)


def _b64decode(text: str) -> bytes | None:
    if not _BASE64_RE.fullmatch(text) or len(text) % 4:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def sign_note(text: str, name: str, key: SigningKey, keep: Sequence[NoteSignature] = ()) -> Note:
    """``text`` signed by ``key`` under ``name``; ``keep`` are earlier signatures (cosignatures)
    kept before the new one, except any by the same name and key id."""
    if not text.endswith("\n"):
        raise MalformedNoteError("a note text ends with a newline")
    _check_text(text.encode())
    verifier = NoteVerifier.for_key(name, key.public_key)
    signature = NoteSignature(name, verifier.key_id, key.sign(text.encode()))
    kept = [sig for sig in keep if (sig.name, sig.key_id) != (name, verifier.key_id)]
    return Note(text, (*kept, signature))


def _check_text(data: bytes) -> None:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError("a signed note is not UTF-8") from exc
    if any(ord(char) < 0x20 and char != "\n" for char in decoded):
        raise MalformedNoteError("a signed note contains a control character other than newline")


def parse_note(data: bytes) -> Note:
    """The text and signature lines of a signed note, unverified; malformed bytes raise
    :class:`MalformedNoteError`."""
    if len(data) > MAX_NOTE_SIZE:
        raise MalformedNoteError(f"a signed note of {len(data)} bytes is over {MAX_NOTE_SIZE}")
    _check_text(data)
    split = data.rfind(b"\n\n")
    if split < 0:
        raise MalformedNoteError("a signed note has no blank line before its signatures")
    text, block = data[: split + 1].decode(), data[split + 2 :].decode()
    if not block.endswith("\n"):
        raise MalformedNoteError("a signed note ends with a signature line and a newline")
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise MalformedNoteError("a signature line starts with an em dash and a space")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        raw = _b64decode(encoded)
        if not valid_key_name(name) or raw is None or len(raw) < 5:
            raise MalformedNoteError(f"malformed signature line {line[:80]!r}")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
        if len(signatures) > MAX_SIGNATURES:
            raise MalformedNoteError(f"a signed note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(signatures))


def open_note(data: bytes, verifiers: Sequence[NoteVerifier]) -> tuple[Note, list[NoteVerifier]]:
    """Parse a signed note and verify it: returns the note and the verifiers whose signatures
    verified (at least one).

    A signature whose name and key id match a known verifier MUST verify, or the whole note is
    refused (:class:`LogSignatureError`); signatures of unknown keys are ignored. A note no known
    key signed raises :class:`LogKeyChangedError`.
    """
    note = parse_note(data)
    known = {(verifier.name, verifier.key_id): verifier for verifier in verifiers}
    verified: list[NoteVerifier] = []
    message = note.text.encode()
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None or verifier in verified:
            continue
        if not verifier.verify(message, signature.signature):
            raise LogSignatureError(
                f"the signature of {signature.name}+{signature.key_id:08x} on this note does "
                "not verify: the note was altered or forged"
            )
        verified.append(verifier)
    if not verified:
        seen = ", ".join(f"{sig.name}+{sig.key_id:08x}" for sig in note.signatures)
        expected = ", ".join(f"{v.name}+{v.key_id:08x}" for v in verifiers) or "none"
        raise LogKeyChangedError(
            f"no trusted key signed this note: it is signed by {seen}, the trusted key is "
            f"{expected}"
        )
    return note, verified
