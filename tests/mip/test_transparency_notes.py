"""C2SP signed-note, tlog-checkpoint and tlog-cosignature: Go's and C2SP's vectors, and every
way a note is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip.errors import (
    CosignatureError,
    InvalidVerifierKeyError,
    LogKeyChangedError,
    LogSignatureError,
    MalformedCheckpointError,
    MalformedNoteError,
)
from mip.keys import SigningKey
from mip.transparency.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
)
from mip.transparency.cosignature import Witness, cosign, verify_cosignatures
from mip.transparency.merkle import leaf_hash
from mip.transparency.note import NoteVerifier, open_note, parse_note, parse_verifier_key, sign_note

VECTORS = Path(__file__).resolve().parents[2] / "spec/vectors/transparency"
GO = json.loads((VECTORS / "go-sumdb.json").read_text())
NOTE = GO["note"]


def peter_key() -> SigningKey:
    """Go's PeterNeumann signer key: ``PRIVATE+KEY+name+hash+base64(0x01 || seed)``."""
    encoded = NOTE["peter_signer_key"].split("+", 4)[4]
    return SigningKey.from_seed(base64.b64decode(encoded)[1:])


def test_go_sign_reproduces_the_signed_note_byte_for_byte() -> None:
    verifier = parse_verifier_key(NOTE["peter_verifier_key"])
    assert verifier.public_key.raw == peter_key().public_key.raw
    assert verifier.verifier_key() == NOTE["peter_verifier_key"]
    signed = sign_note(NOTE["text"], "PeterNeumann", peter_key()).encode()
    assert signed.decode() == NOTE["signed"]
    note, verified = open_note(signed, [verifier])
    assert note.text == NOTE["text"]
    assert verified == [verifier]


def test_go_open_with_known_and_unknown_keys() -> None:
    peter = parse_verifier_key(NOTE["peter_verifier_key"])
    enoch = parse_verifier_key(NOTE["enoch_verifier_key"])
    both = (
        NOTE["text"] + "\n" + NOTE["peter_signature_line"] + NOTE["enoch_signature_line"]
    ).encode()
    assert open_note(both, [peter])[1] == [peter]
    assert open_note(both, [peter, enoch])[1] == [peter, enoch]
    assert open_note(both, [enoch])[1] == [enoch]
    with pytest.raises(LogKeyChangedError, match="no trusted key"):
        open_note(both, [])
    with pytest.raises(LogSignatureError):
        open_note(NOTE["invalid_signature"].encode(), [peter])
    # A signature of an unknown key that collides in name only, or id only, is ignored.
    doubled = (NOTE["signed"] + NOTE["peter_signature_line"]).encode()
    assert open_note(doubled, [peter])[1] == [peter]


@pytest.mark.parametrize(
    "data",
    [
        *(message.encode() for message in NOTE["malformed"]),
        *(bytes.fromhex(message) for message in NOTE["malformed_bytes_hex"]),
    ],
)
def test_go_malformed_notes(data: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(data, [parse_verifier_key(NOTE["peter_verifier_key"])])


def test_too_many_signatures() -> None:
    data = (NOTE["text"] + "\n" + NOTE["peter_signature_line"] * 101).encode()
    with pytest.raises(MalformedNoteError, match="more than 100"):
        parse_note(data)


def test_c2sp_signed_note_example() -> None:
    example = GO["c2sp_signed_note"]
    verifier = parse_verifier_key(example["verifier_key"])
    note, _ = open_note(example["signed"].encode(), [verifier])
    assert note.text == "This is an example message.\n"


def test_go_verifier_key_manglings_are_refused() -> None:
    good = NOTE["peter_verifier_key"]
    for bad in GO["note"]["bad_verifier_keys"]:
        with pytest.raises(InvalidVerifierKeyError):
            parse_verifier_key(bad)
    for i in range(len(good)):
        for j in range(i + 1, len(good) + 1):
            if (i, j) != (0, len(good)):
                with pytest.raises(InvalidVerifierKeyError):
                    parse_verifier_key(good[i:j])
    for i in range(len(good)):
        mangled = good[:i] + chr(ord(good[i]) + 1) + good[i + 1 :]
        with pytest.raises(InvalidVerifierKeyError):
            parse_verifier_key(mangled)


def test_go_tree_note_body() -> None:
    tree = GO["tree_note"]
    checkpoint = parse_checkpoint_body(tree["text"])
    assert checkpoint.size == tree["size"]
    assert checkpoint.root_hash == leaf_hash(tree["root_is_record_hash_of"].encode())
    assert checkpoint.body() == tree["text"]
    for bad in tree["malformed"]:
        with pytest.raises(MalformedCheckpointError):
            parse_checkpoint_body(bad)
    extended = parse_checkpoint_body(tree["text"] + "JOE\n")
    assert extended.extensions == ("JOE",)
    assert extended.body() == tree["text"] + "JOE\n"


@pytest.mark.parametrize(
    "body",
    [
        "origin\n1\n",
        "\n1\n" + "A" * 43 + "=\n",
        "origin\n01\n" + "A" * 43 + "=\n",
        "origin\n-1\n" + "A" * 43 + "=\n",
        "origin\n1\n" + "A" * 42 + "==\n",
        "origin\n1\n" + "A" * 43 + "=\n\n",
        "origin\n1\n" + "A" * 43 + "=",
        "origin\n99999999999999999999\n" + "A" * 43 + "=\n",
    ],
)
def test_malformed_checkpoint_bodies(body: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        parse_checkpoint_body(body)


@given(st.integers(0, (1 << 63) - 1), st.binary(min_size=32, max_size=32))
def test_checkpoints_round_trip(size: int, root: bytes) -> None:
    key = SigningKey.from_seed(b"\x07" * 32)
    checkpoint = Checkpoint("example.com/log", size, root)
    note = sign_checkpoint(checkpoint, key)
    verifier = NoteVerifier.for_key("example.com/log", key.public_key)
    assert open_checkpoint(note, verifier)[0] == checkpoint


def test_checkpoint_from_another_log_or_key() -> None:
    key, other = SigningKey.from_seed(b"\x01" * 32), SigningKey.from_seed(b"\x02" * 32)
    note = sign_checkpoint(Checkpoint("a.example/log", 3, b"\0" * 32), key)
    with pytest.raises(LogKeyChangedError):
        open_checkpoint(note, NoteVerifier.for_key("a.example/log", other.public_key))
    with pytest.raises(LogKeyChangedError):
        open_checkpoint(note, NoteVerifier.for_key("b.example/log", key.public_key))
    tampered = note.replace(b"\n3\n", b"\n4\n")
    with pytest.raises(LogSignatureError):
        open_checkpoint(tampered, NoteVerifier.for_key("a.example/log", key.public_key))


def test_cosignatures() -> None:
    log_key = SigningKey.from_seed(b"\x01" * 32)
    witnesses = [SigningKey.from_seed(bytes([9 + n]) * 32) for n in range(3)]
    trusted = [Witness(f"w{n}.example", key.public_key) for n, key in enumerate(witnesses)]
    head = Checkpoint("a.example/log", 5, b"\1" * 32)
    lines = [
        cosign(head.body(), f"w{n}.example", key, 1700000000 + n)
        for n, key in enumerate(witnesses[:2])
    ]
    note = parse_note(sign_checkpoint(head, log_key, lines))
    assert verify_cosignatures(note, trusted, 2) == {
        "w0.example": 1700000000,
        "w1.example": 1700000001,
    }
    with pytest.raises(CosignatureError, match="3 are required"):
        verify_cosignatures(note, trusted, 3)
    # A cosignature over another head does not verify for this one.
    other = Checkpoint("a.example/log", 6, b"\1" * 32)
    forged = [cosign(other.body(), "w0.example", witnesses[0], 1700000000)]
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignatures(parse_note(sign_checkpoint(head, log_key, forged)), trusted, 1)
    # A cosignature is not a log signature: type 0x04 has its own key id.
    verifier = NoteVerifier.for_key("w0.example", witnesses[0].public_key)
    assert verifier.key_id != trusted[0].key_id
