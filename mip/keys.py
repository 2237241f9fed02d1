"""Ed25519 signing and public keys, and key ids (MIP-1 §6.1).

A key id is the lower-case hex SHA-256 of the raw 32-byte public key. Keys are stored as PEM:
PKCS#8 for private keys, SubjectPublicKeyInfo for public keys.
"""

from __future__ import annotations

import base64
import hashlib
import re

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mip.errors import InvalidKeyError

#: The DER prefix of every Ed25519 SubjectPublicKeyInfo (RFC 8410 §4); the 32 key bytes follow.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
#: An Ed25519 public key PEM exactly as :meth:`PublicKey.to_pem` writes it (44 DER bytes are
#: 60 base64 characters: one line). Other PEMs go to ``cryptography``'s full parser.
_CANONICAL_PEM = re.compile(
    rb"-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/]{59}=)\n-----END PUBLIC KEY-----\n?"
)


def key_id_for(raw_public_key: bytes) -> str:
    """The key id of a raw Ed25519 public key (hex SHA-256 of its 32 bytes)."""
    return hashlib.sha256(raw_public_key).hexdigest()


class PublicKey(msgspec.Struct, frozen=True):
    """An Ed25519 public key and its key id."""

    key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        """The 32 raw bytes of the key."""
        return self.key.public_bytes_raw()

    @property
    def key_id(self) -> str:
        """The key id (MIP-1 §6.1)."""
        return key_id_for(self.raw)

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM.

        Written from RFC 8410's fixed encoding -- the very bytes ``cryptography`` writes (a test
        checks it) -- because importing its ``serialization`` package costs about 7 ms, which
        every install (first-use pins, stored pins) would pay.
        """
        body = base64.b64encode(_ED25519_SPKI_PREFIX + self.raw)
        return b"-----BEGIN PUBLIC KEY-----\n" + body + b"\n-----END PUBLIC KEY-----\n"

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
        canonical = _CANONICAL_PEM.fullmatch(data)
        if canonical is not None:
            der = base64.b64decode(canonical.group(1), validate=True)
            if der.startswith(_ED25519_SPKI_PREFIX):
                return cls.from_raw(der[len(_ED25519_SPKI_PREFIX) :])
        from cryptography.hazmat.primitives import serialization

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


class SigningKey(msgspec.Struct, frozen=True):
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
        from cryptography.hazmat.primitives import serialization

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
        from cryptography.hazmat.primitives import serialization

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
