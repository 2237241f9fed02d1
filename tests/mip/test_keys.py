"""Ed25519 keys as PEM: our writer and fast reader agree byte for byte with ``cryptography``."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

from mip.errors import InvalidKeyError
from mip.keys import PublicKey, SigningKey


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
