"""Ed25519 signing and public keys, and key ids (MIP-1 §6.1).

A key id is the lower-case hex SHA-256 of the raw 32-byte public key. Keys are stored as PEM:
PKCS#8 for private keys, SubjectPublicKeyInfo for public keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mip.errors import InvalidKeyError


def key_id_for(raw_public_key: bytes) -> str:
    """The key id of a raw Ed25519 public key (hex SHA-256 of its 32 bytes)."""
    return hashlib.sha256(raw_public_key).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key and its key id."""

    key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        """The 32 raw bytes of the key."""
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """The key id (MIP-1 §6.1)."""
        return key_id_for(self.raw)

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``message``."""
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        """Load a PEM public key; anything but Ed25519 raises :class:`InvalidKeyError`."""
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise InvalidKeyError(
                "not a PEM public key: expected '-----BEGIN PUBLIC KEY-----'"
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidKeyError("unsupported public key type: MIP v1 signatures use Ed25519")
        return cls(key)

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        """Load a raw 32-byte Ed25519 public key."""
        try:
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError as exc:
            raise InvalidKeyError("an Ed25519 public key is exactly 32 bytes") from exc


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key."""

    key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key for a 32-byte seed (test vectors use a published seed)."""
        try:
            return cls(Ed25519PrivateKey.from_private_bytes(seed))
        except ValueError as exc:
            raise InvalidKeyError("an Ed25519 seed is exactly 32 bytes") from exc

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """Load an unencrypted PKCS#8 PEM private key."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidKeyError(
                "not an unencrypted PEM private key: expected '-----BEGIN PRIVATE KEY-----'"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKeyError("unsupported private key type: MIP v1 signatures use Ed25519")
        return cls(key)

    def to_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM (the file holding it must be mode 0600)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(self.key.public_key())

    @property
    def key_id(self) -> str:
        """The key id of the public half."""
        return self.public_key.key_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.key.sign(message)
