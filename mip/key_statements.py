"""Key endorsements: how a namespace's key set grows without the user re-trusting by hand (MIP-1 §6.4).

A namespace's signing keys form a *set*. A new key is endorsed by a DSSE envelope of payload type
:data:`ENDORSEMENT_PAYLOAD_TYPE` whose payload names the namespace and the new key, signed by one
or more keys already in the set. A client that pinned the set accepts the new key only when an
endorsement verifies under a key it already trusts for that namespace (:func:`grow_key_set`).

Revocations need no signature: they only ever narrow what a client accepts (MIP-1 §6.4).

Pure: no I/O, no clock (the caller passes the time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from mip.dsse import Envelope, parse_envelope, sign, verify
from mip.errors import EnvelopeError, InvalidKeyError, SignatureError
from mip.keys import PublicKey, SigningKey
from mip.names import validate_namespace

ENDORSEMENT_PAYLOAD_TYPE = "application/vnd.mip.key-endorsement.v1+json"
ENDORSEMENT_TYPE = "mip.key-endorsement/v1"


class ServedKey(msgspec.Struct, frozen=True):
    """A key as a registry serves it: the key, its endorsement (if any), its revocation (if any)."""

    key: PublicKey
    endorsement: bytes | None = None
    revoked_at: str | None = None
    revocation_reason: str | None = None
    #: When the registry registered the key (RFC 3339, UTC, the registry's clock).
    added_at: str = ""

    @property
    def revoked(self) -> bool:
        """Whether the publisher revoked this key."""
        return self.revoked_at is not None


def endorsement_payload(namespace: str, key: PublicKey, issued_at: str) -> bytes:
    """The payload of an endorsement of ``key`` for ``namespace`` (sorted-key JSON)."""
    document = {
        "_type": ENDORSEMENT_TYPE,
        "namespace": validate_namespace(namespace),
        "key_id": key.key_id,
        "public_key_pem": key.to_pem().decode(),
        "issued_at": issued_at,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign_endorsement(
    namespace: str, key: PublicKey, signers: Iterable[SigningKey], issued_at: str
) -> Envelope:
    """Endorse ``key`` for ``namespace`` with ``signers`` (keys already in the namespace's set)."""
    return sign(endorsement_payload(namespace, key, issued_at), signers, ENDORSEMENT_PAYLOAD_TYPE)


def check_endorsement(
    data: bytes, namespace: str, key: PublicKey, endorsers: Mapping[str, PublicKey]
) -> tuple[str, ...]:
    """The ids of the ``endorsers`` whose signatures endorse ``key`` for ``namespace``.

    Raises :class:`EnvelopeError` when ``data`` is not an endorsement of this key for this
    namespace, :class:`SignatureError` when no endorser signed it.
    """
    envelope = parse_envelope(data)
    if envelope.payload_type != ENDORSEMENT_PAYLOAD_TYPE:
        raise EnvelopeError(
            f"payloadType is {envelope.payload_type!r}, expected {ENDORSEMENT_PAYLOAD_TYPE!r}"
        )
    try:
        document: Any = json.loads(envelope.payload)
    except ValueError as exc:
        raise EnvelopeError(f"the endorsement payload is not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("_type") != ENDORSEMENT_TYPE:
        raise EnvelopeError(f"the payload is not a {ENDORSEMENT_TYPE} statement")
    if document.get("namespace") != validate_namespace(namespace):
        raise EnvelopeError(
            f"the endorsement is for namespace {document.get('namespace')!r}, not {namespace!r}"
        )
    if document.get("key_id") != key.key_id:
        raise EnvelopeError(f"the endorsement names key {document.get('key_id')!r}, not this key")
    try:
        endorsed = PublicKey.from_pem(str(document.get("public_key_pem", "")).encode())
    except InvalidKeyError as exc:
        raise EnvelopeError(f"the endorsed key is not a public key ({exc})") from exc
    if endorsed.key_id != key.key_id:
        raise EnvelopeError("the endorsed key's PEM does not match its key id")
    return tuple(verify(envelope, endorsers, ENDORSEMENT_PAYLOAD_TYPE))


class KeySetChange(msgspec.Struct, frozen=True):
    """What a client's view of a namespace's key set became (:func:`grow_key_set`)."""

    active: dict[str, PublicKey]
    #: key id -> (endorsing key ids), for keys newly accepted through an endorsement
    added: dict[str, tuple[str, ...]]
    #: key id -> served revocation (time, reason), for pinned keys the publisher revoked
    revoked: dict[str, tuple[str, str]]
    #: keys the registry serves that no trusted key endorses (not accepted)
    unendorsed: tuple[str, ...]


def grow_key_set(
    namespace: str, pinned: Mapping[str, PublicKey], served: Sequence[ServedKey]
) -> KeySetChange:
    """Apply a registry's served key set to the keys a client pinned for ``namespace``.

    - a served key already pinned stays, unless the registry serves it revoked: then it leaves;
    - a served, unrevoked key not pinned joins when its endorsement verifies under a key already
      in the (growing) set -- repeated until nothing changes, so a chain of rotations is followed.
      A key revoked *after* the new key was registered still counts as its endorser (the
      registry's order of events, which its transparency log makes auditable): a client that
      missed the rotation and sees the revocation first is not stranded;
    - everything else is left out (``unendorsed``): accepting it is the user's decision.
    """
    by_id = {item.key.key_id: item for item in served}
    revoked = {
        key_id: (str(item.revoked_at), item.revocation_reason or "")
        for key_id, item in by_id.items()
        if item.revoked and key_id in pinned
    }
    active = {key_id: key for key_id, key in pinned.items() if key_id not in revoked}
    added: dict[str, tuple[str, ...]] = {}
    changed = True
    while changed:
        changed = False
        for key_id, item in by_id.items():
            if key_id in active or item.revoked or item.endorsement is None or key_id in pinned:
                continue
            signers = dict(active)
            for old_id, (revoked_at, _reason) in revoked.items():
                if item.added_at and item.added_at < revoked_at:
                    signers.setdefault(old_id, pinned[old_id])
            try:
                endorsers = check_endorsement(item.endorsement, namespace, item.key, signers)
            except (EnvelopeError, SignatureError):
                continue
            active[key_id] = item.key
            added[key_id] = endorsers
            changed = True
    unendorsed = tuple(
        key_id for key_id, item in by_id.items() if key_id not in active and not item.revoked
    )
    return KeySetChange(active, added, revoked, unendorsed)
