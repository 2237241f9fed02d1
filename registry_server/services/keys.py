"""Signing keys registered per namespace (spec §2): list, add, endorse, revoke (audited, logged).

The first key of a namespace may also be registered by its first publish
(:mod:`registry_server.services.publish`). A later key may carry an endorsement: a DSSE statement
signed by a key already in the set (MIP-1 §6.4), which is what lets clients that pinned the set
accept it. A revoked key signs nothing any more: publishing with it is refused, and clients
refuse versions signed only by it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mip.digests import digest_bytes
from mip.key_statements import check_endorsement
from mip.keys import PublicKey
from registry_server.db.models import (
    KeyEndorsementRecord,
    KeyRevocationRecord,
    Namespace,
    SigningKeyRecord,
    utcnow,
)
from registry_server.db.session import write_session
from registry_server.errors import ConflictError, NotFoundError
from registry_server.services.audit import record_event
from registry_server.services.auth import Principal, find_namespace, require
from registry_server.services.transparency import log_key_event, log_key_registered

#: The longest revocation reason kept (it is shown to every user who meets the key).
MAX_REASON = 500


def _records(session: Session, namespace_id: int | None) -> list[SigningKeyRecord]:
    return list(
        session.exec(
            select(SigningKeyRecord)
            .where(SigningKeyRecord.namespace_id == namespace_id)
            .order_by(col(SigningKeyRecord.id))
        )
    )


def revocations(session: Session, namespace_id: int | None) -> dict[str, KeyRevocationRecord]:
    """The namespace's revoked keys, by key id."""
    rows = session.exec(
        select(KeyRevocationRecord).where(KeyRevocationRecord.namespace_id == namespace_id)
    )
    return {row.key_id: row for row in rows}


def active_keys(session: Session, namespace_id: int | None) -> dict[str, PublicKey]:
    """The namespace's registered keys that are not revoked, by key id."""
    from registry_server.services.catalog.views import registered_keys

    revoked = revocations(session, namespace_id)
    return registered_keys(r for r in _records(session, namespace_id) if r.key_id not in revoked)


def _endorsements(session: Session, namespace_id: int | None) -> dict[str, str]:
    rows = session.exec(
        select(KeyEndorsementRecord).where(KeyEndorsementRecord.namespace_id == namespace_id)
    )
    return {row.key_id: row.envelope for row in rows}


def _audit(session: Session, principal: Principal, action: str, row: Namespace, key: str) -> None:
    record_event(
        session,
        principal,
        action,
        namespace=row.normalized_name,
        subject=key,
    )


def add_key(
    engine: Engine,
    principal: Principal,
    namespace: str,
    public_key_pem: str,
    endorsement: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Register a signing key for a namespace; ``(key, created)``.

    An ``endorsement`` must endorse this key for this namespace and be signed by one of its active
    keys (``invalid_envelope`` / ``bad_signature`` otherwise); it may be added to a key registered
    without one. A revoked key cannot be registered again (``conflict``).
    """
    key = PublicKey.from_pem(public_key_pem.encode())
    with write_session(engine) as session:
        namespace_row = find_namespace(session, namespace)
        require(principal, "keys", namespace_row)
        assert namespace_row.id is not None
        if key.key_id in revocations(session, namespace_row.id):
            raise ConflictError(
                f"key {key.key_id[:16]} was revoked in namespace {namespace_row.name!r} and cannot "
                "be registered again: generate a new key (memos keygen --name NEW)"
            )
        endorsed_by: tuple[str, ...] = ()
        if endorsement is not None:
            others = {
                k: v for k, v in active_keys(session, namespace_row.id).items() if k != key.key_id
            }
            endorsed_by = check_endorsement(
                endorsement.encode(), namespace_row.normalized_name, key, others
            )
        existing = session.exec(
            select(SigningKeyRecord).where(
                SigningKeyRecord.namespace_id == namespace_row.id,
                SigningKeyRecord.key_id == key.key_id,
            )
        ).first()
        created = existing is None
        record = existing or SigningKeyRecord(
            namespace_id=namespace_row.id, key_id=key.key_id, public_key_pem=key.to_pem().decode()
        )
        stored = _endorsements(session, namespace_row.id).get(key.key_id)
        if created:
            session.add(record)
            _audit(session, principal, "key.add", namespace_row, key.key_id)
            if endorsement is None:
                log_key_registered(session, namespace_row.normalized_name, key.key_id, utcnow())
        if endorsement is not None and stored is None:
            session.add(
                KeyEndorsementRecord(
                    namespace_id=namespace_row.id, key_id=key.key_id, envelope=endorsement
                )
            )
            _audit(session, principal, "key.endorse", namespace_row, key.key_id)
            log_key_event(
                session,
                "key-rotate",
                namespace_row.normalized_name,
                [key.key_id, *endorsed_by],
                utcnow(),
                str(digest_bytes(endorsement.encode())),
            )
            created = True
        session.commit()
        return _key_object(session, record), created


def revoke_key(
    engine: Engine, principal: Principal, namespace: str, key_id: str, reason: str
) -> dict[str, Any]:
    """Revoke a registered key (idempotent: the first revocation's time and reason stay)."""
    with write_session(engine) as session:
        namespace_row = find_namespace(session, namespace)
        require(principal, "keys", namespace_row)
        assert namespace_row.id is not None
        record = session.exec(
            select(SigningKeyRecord).where(
                SigningKeyRecord.namespace_id == namespace_row.id,
                SigningKeyRecord.key_id == key_id,
            )
        ).first()
        if record is None:
            raise NotFoundError(
                f"namespace {namespace_row.name!r} has no key {key_id[:16]}: "
                "`memos key list` shows its keys"
            )
        if key_id not in revocations(session, namespace_row.id):
            session.add(
                KeyRevocationRecord(
                    namespace_id=namespace_row.id, key_id=key_id, reason=reason[:MAX_REASON]
                )
            )
            _audit(session, principal, "key.revoke", namespace_row, key_id)
            log_key_event(session, "key-revoke", namespace_row.normalized_name, [key_id], utcnow())
            session.commit()
        return _key_object(session, record)


def _when(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def _key_object(session: Session, record: SigningKeyRecord) -> dict[str, Any]:
    revoked = revocations(session, record.namespace_id).get(record.key_id)
    endorsement = _endorsements(session, record.namespace_id).get(record.key_id)
    return key_object(record, endorsement, revoked)


def key_object(
    record: SigningKeyRecord,
    endorsement: str | None = None,
    revocation: KeyRevocationRecord | None = None,
) -> dict[str, Any]:
    """The JSON form of a registered key (MIP-1-registry §2)."""
    return {
        "key_id": record.key_id,
        "public_key_pem": record.public_key_pem,
        "added_at": _when(record.added_at),
        "endorsement": endorsement,
        "revoked_at": None if revocation is None else _when(revocation.revoked_at),
        "revocation_reason": None if revocation is None else revocation.reason,
    }


def list_keys(session: Session, namespace: str) -> list[dict[str, Any]]:
    """The keys registered for a namespace, with their endorsements and revocations."""
    namespace_row = find_namespace(session, namespace)
    revoked = revocations(session, namespace_row.id)
    endorsements = _endorsements(session, namespace_row.id)
    return [
        key_object(record, endorsements.get(record.key_id), revoked.get(record.key_id))
        for record in _records(session, namespace_row.id)
    ]
