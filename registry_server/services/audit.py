"""The audit log: every write records who did what to which namespace, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel import Session, col, select

from registry_server.db.models import AuditEvent


class Actor(Protocol):
    """Who made a write: an account, and the prefix of the token it acted through.

    An authenticated caller (``auth.Principal``) is one; :class:`AuditActor` names any other.
    """

    @property
    def account(self) -> str: ...

    @property
    def token_prefix(self) -> str: ...


@dataclass(frozen=True)
class AuditActor:
    """An actor that is not an API caller: the admin command line (``token_prefix="admin"``)."""

    account: str
    token_prefix: str


def record_event(
    session: Session,
    actor: Actor,
    action: str,
    *,
    namespace: str = "",
    subject: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the session (committed with the write it describes)."""
    session.add(
        AuditEvent(
            account=actor.account,
            token_prefix=actor.token_prefix,
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
