"""DSSE envelopes: sign and verify manifest bytes (MIP-1 §6).

Implements the Dead Simple Signing Envelope protocol v1: signatures are over
``PAE(payloadType, payload)``; the envelope carries the exact payload bytes, so no
canonicalisation is ever needed. Several signatures may be attached (author, registry).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping

import msgspec

from mip.errors import EnvelopeError, SignatureError
from mip.keys import PublicKey, SigningKey
from mip.limits import DEFAULT_LIMITS, Limits
from mip.strict_json import load_json

#: The payloadType of a MemCube manifest (MIP-1 §6.2).
MANIFEST_PAYLOAD_TYPE = "application/vnd.memcube.manifest.v1+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding, exactly as the DSSE protocol defines it."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


class Signature(msgspec.Struct, frozen=True):
    """One signature of an envelope: the signer's key id and the raw signature bytes."""

    keyid: str
    sig: bytes


class Envelope(msgspec.Struct, frozen=True):
    """A DSSE envelope with its decoded payload."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = ()

    def to_json(self) -> bytes:
        """The envelope as JSON (base64 with padding, as the DSSE JSON envelope defines)."""
        document = {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                for s in self.signatures
            ],
        }
        return json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    @property
    def key_ids(self) -> list[str]:
        """The key ids named by the signatures, in order."""
        return [s.keyid for s in self.signatures]

    def with_signature(self, key: SigningKey) -> Envelope:
        """A copy with one more signature (a registry countersignature, say)."""
        signature = Signature(key.key_id, key.sign(pae(self.payload_type, self.payload)))
        return Envelope(self.payload_type, self.payload, (*self.signatures, signature))


def sign(
    payload: bytes, keys: Iterable[SigningKey], payload_type: str = MANIFEST_PAYLOAD_TYPE
) -> Envelope:
    """An envelope over ``payload`` signed by each key (none gives an unsigned envelope)."""
    envelope = Envelope(payload_type, payload)
    for key in keys:
        envelope = envelope.with_signature(key)
    return envelope


def _b64decode(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise EnvelopeError(f"malformed envelope: {what} must be a base64 string")
    try:
        # DSSE accepts standard or URL-safe base64, with or without padding.
        normalized = text.replace("-", "+").replace("_", "/")
        return base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"malformed envelope: {what} is not valid base64") from exc


def parse_envelope(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Parse envelope JSON; raise :class:`EnvelopeError` naming the first problem."""
    if len(data) > limits.max_envelope_bytes:
        raise EnvelopeError(
            f"envelope is {len(data)} bytes, over the {limits.max_envelope_bytes}-byte limit"
        )
    document = load_json(data, EnvelopeError, "malformed envelope", "duplicate JSON keys")
    if not isinstance(document, dict):
        raise EnvelopeError("malformed envelope: expected a JSON object")
    payload_type = document.get("payloadType")
    if not isinstance(payload_type, str):
        raise EnvelopeError("malformed envelope: 'payloadType' must be a string")
    payload = _b64decode(document.get("payload"), "'payload'")
    raw_signatures = document.get("signatures")
    if not isinstance(raw_signatures, list):
        raise EnvelopeError("malformed envelope: 'signatures' must be a list")
    if len(raw_signatures) > limits.max_signatures:
        raise EnvelopeError(
            f"malformed envelope: {len(raw_signatures)} signatures, limit {limits.max_signatures}"
        )
    signatures = []
    for index, item in enumerate(raw_signatures):
        if not isinstance(item, dict) or not isinstance(item.get("keyid", ""), str):
            raise EnvelopeError(f"malformed envelope: signature {index} must be an object")
        signatures.append(Signature(item.get("keyid", ""), _b64decode(item.get("sig"), "'sig'")))
    return Envelope(payload_type, payload, tuple(signatures))


def verify(
    envelope: Envelope,
    trusted: Mapping[str, PublicKey],
    payload_type: str = MANIFEST_PAYLOAD_TYPE,
) -> list[str]:
    """Check the envelope against trusted keys (key id -> key); return the verified key ids.

    Raises :class:`SignatureError` when the payload type is wrong, the envelope is unsigned, or
    no signature verifies with a trusted key.
    """
    if envelope.payload_type != payload_type:
        raise SignatureError(
            f"envelope payloadType is {envelope.payload_type!r}, expected {payload_type!r}"
        )
    if not envelope.signatures:
        raise SignatureError("the bundle is unsigned: its envelope carries no signature")
    message = pae(envelope.payload_type, envelope.payload)
    verified = []
    for signature in envelope.signatures:
        # DSSE: the keyid is a hint; try it first, but a signature verifies under any trusted key.
        candidates = [trusted[signature.keyid]] if signature.keyid in trusted else []
        candidates += [key for key_id, key in trusted.items() if key_id != signature.keyid]
        for key in candidates:
            if key.verify(signature.sig, message):
                verified.append(key.key_id)
                break
    if not verified:
        signers = ", ".join(key_id[:16] for key_id in envelope.key_ids) or "none"
        raise SignatureError(
            f"no signature verifies with a trusted key (signed by key ids: {signers}); "
            "check the signer's public key"
        )
    return verified
