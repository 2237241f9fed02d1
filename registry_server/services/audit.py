"""The audit log: every write records who did what to which namespace, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from registry_server.db.models import AuditEvent


def record_event(
    session: Session,
    *,
    account: str,
    token_prefix: str,
    action: str,
    namespace: str = "",
    subject: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the session (committed with the write it describes)."""
    session.add(
        AuditEvent(
            account=account,
            token_prefix=token_prefix,
            action=action,
            namespace=namespace,
            subject=subject,
            detail=detail or {},
        )
    )


def list_events(session: Session, namespace: str, limit: int = 100) -> list[AuditEvent]:
    """The newest ``limit`` events of a namespace (by normal form)."""
    statement = (
        select(AuditEvent)
        .where(AuditEvent.namespace == namespace)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement))
