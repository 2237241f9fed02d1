"""Signing keys registered per namespace (spec §2): list and add (audited).

The first key of a namespace may also be registered by its first publish
(:mod:`registry_server.services.publish`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mip.keys import PublicKey
from registry_server.db.models import SigningKeyRecord, utcnow
from registry_server.db.session import write_session
from registry_server.services.audit import record_event
from registry_server.services.auth import Principal, find_namespace, require
from registry_server.services.transparency import log_key_registered


def add_key(
    engine: Engine, principal: Principal, namespace: str, public_key_pem: str
) -> tuple[dict[str, Any], bool]:
    """Register a signing key for a namespace; ``(key, created)``."""
    key = PublicKey.from_pem(public_key_pem.encode())
    with write_session(engine) as session:
        namespace_row = find_namespace(session, namespace)
        require(principal, "keys", namespace_row)
        existing = session.exec(
            select(SigningKeyRecord).where(
                SigningKeyRecord.namespace_id == namespace_row.id,
                SigningKeyRecord.key_id == key.key_id,
            )
        ).first()
        if existing is not None:
            return key_object(existing), False
        assert namespace_row.id is not None
        record = SigningKeyRecord(
            namespace_id=namespace_row.id, key_id=key.key_id, public_key_pem=key.to_pem().decode()
        )
        session.add(record)
        record_event(
            session,
            account=principal.account,
            token_prefix=principal.token_prefix,
            action="key.add",
            namespace=namespace_row.normalized_name,
            subject=key.key_id,
        )
        log_key_registered(session, namespace_row.normalized_name, key.key_id, utcnow())
        session.commit()
        return key_object(record), True


def key_object(record: SigningKeyRecord) -> dict[str, Any]:
    """The JSON form of a registered key."""
    return {
        "key_id": record.key_id,
        "public_key_pem": record.public_key_pem,
        "added_at": record.added_at.isoformat().replace("+00:00", "Z"),
    }


def list_keys(session: Session, namespace: str) -> list[dict[str, Any]]:
    """The keys registered for a namespace."""
    namespace_row = find_namespace(session, namespace)
    records = session.exec(
        select(SigningKeyRecord)
        .where(SigningKeyRecord.namespace_id == namespace_row.id)
        .order_by(col(SigningKeyRecord.id))
    )
    return [key_object(record) for record in records]
