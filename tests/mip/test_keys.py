"""Ed25519 keys as PEM: our writer and fast reader agree byte for byte with ``cryptography``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

from mip.errors import InvalidKeyError
from mip.keys import PublicKey, SigningKey, is_small_order, signature_problem


def _library_pem(key: PublicKey) -> bytes:
    return key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("seed", [bytes(32), bytes(range(32)), b"\xff" * 32])
def test_to_pem_writes_what_cryptography_writes(seed: bytes) -> None:
    key = SigningKey.from_seed(seed).public_key
    assert key.to_pem() == _library_pem(key)


def test_to_pem_matches_cryptography_for_random_keys() -> None:
    for _ in range(50):
        key = SigningKey.generate().public_key
        assert key.to_pem() == _library_pem(key)
        assert key.raw == key.key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


def test_a_pem_round_trips_with_its_key_id() -> None:
    key = SigningKey.generate().public_key
    loaded = PublicKey.from_pem(key.to_pem())
    assert loaded.raw == key.raw
    assert loaded.key_id == key.key_id


@pytest.mark.parametrize(
    "reshape",
    [
        lambda pem: pem.replace(b"\n", b"\r\n"),  # CRLF line ends
        lambda pem: pem.rstrip(b"\n"),  # no final newline (still the fast form)
        lambda pem: b"a comment before the key\n" + pem,
        lambda pem: pem + b"\n\n",
    ],
)
def test_other_layouts_of_the_same_key_still_load(reshape: Callable[[bytes], bytes]) -> None:
    key = SigningKey.generate().public_key
    assert PublicKey.from_pem(reshape(key.to_pem())).raw == key.raw


def _spki_pem(der: bytes) -> bytes:
    return b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der) + b"\n-----END PUBLIC KEY-----\n"


def test_a_key_of_another_type_in_the_same_layout_is_refused() -> None:
    """An X25519 key has a SubjectPublicKeyInfo of the same length as Ed25519's."""
    other = x25519.X25519PrivateKey.generate().public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert len(pem) == len(SigningKey.generate().public_key.to_pem())
    with pytest.raises(InvalidKeyError, match="MIP v1 signatures use Ed25519"):
        PublicKey.from_pem(pem)


def test_an_rsa_key_is_refused() -> None:
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidKeyError, match="MIP v1 signatures use Ed25519"):
        PublicKey.from_pem(pem)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key",
        _spki_pem(bytes(44)),  # the canonical shape, but not a SubjectPublicKeyInfo
        _spki_pem(bytes.fromhex("302a300506032b6570032100")[:-1] + b"\x01" + bytes(32)),
    ],
)
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        PublicKey.from_pem(data)


def test_private_keys_still_round_trip() -> None:
    key = SigningKey.generate()
    loaded = SigningKey.from_pem(key.to_pem())
    assert loaded.key_id == key.key_id
    assert isinstance(loaded.key, ed25519.Ed25519PrivateKey)


# --- small-order keys and signatures (MIP-1 §6.1), from spec/vectors/small-order.json ---------

_SMALL_ORDER = json.loads(
    (Path(__file__).resolve().parents[2] / "spec/vectors/small-order.json").read_text()
)


@pytest.mark.parametrize(
    "vector", _SMALL_ORDER["public_keys"], ids=lambda v: f"{v['hex'][:6]}..{v['hex'][-2:]}"
)
def test_small_order_and_non_canonical_public_keys_are_refused(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    with pytest.raises(InvalidKeyError) as raw_error:
        PublicKey.from_raw(raw)
    assert raw_error.value.code == vector["error"]
    # The PEM paths (ours and cryptography's, for a PEM laid out otherwise) refuse it too.
    with pytest.raises(InvalidKeyError):
        PublicKey.from_pem(_spki_pem(bytes.fromhex("302a300506032b6570032100") + raw))
    with pytest.raises(InvalidKeyError):
        PublicKey.from_pem(
            b"comment\n" + _spki_pem(bytes.fromhex("302a300506032b6570032100") + raw)
        )
    if vector["canonical"]:
        # cryptography loads it: building PublicKey from its object is refused all the same.
        with pytest.raises(InvalidKeyError):
            PublicKey(ed25519.Ed25519PublicKey.from_public_bytes(raw))


def test_the_universal_forgery_verifies_under_openssl_but_not_here() -> None:
    """The identity key and ``01 00..00 || 00..00`` verify every message in plain OpenSSL."""
    forged = bytes.fromhex(_SMALL_ORDER["signatures"][0]["signature_hex"])
    identity = bytes.fromhex(_SMALL_ORDER["signatures"][0]["public_key_hex"])
    ed25519.Ed25519PublicKey.from_public_bytes(identity).verify(forged, b"anything at all")
    with pytest.raises(InvalidKeyError, match="small-order"):
        PublicKey.from_raw(identity)


@pytest.mark.parametrize("vector", _SMALL_ORDER["signatures"][1:], ids=lambda v: v["what"])
def test_signature_vectors(vector: dict[str, Any]) -> None:
    key = PublicKey.from_raw(bytes.fromhex(vector["public_key_hex"]))
    signature = bytes.fromhex(vector["signature_hex"])
    message = _SMALL_ORDER["message_utf8"].encode()
    assert key.verify(signature, message) is vector["valid"]
    assert (signature_problem(signature) is None) is vector["valid"]


def test_small_order_detection_ignores_the_sign_bit_and_only_the_sign_bit() -> None:
    for vector in _SMALL_ORDER["public_keys"][:-1]:
        assert is_small_order(bytes.fromhex(vector["hex"]))
    for _ in range(100):
        assert not is_small_order(SigningKey.generate().public_key.raw)
