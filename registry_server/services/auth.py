"""Accounts, namespaces and API tokens: creation, authentication and scope checks (§2).

Tokens are ``mst_`` + 32 random bytes (URL-safe base64), shown once; the database keeps their
SHA-256 only. A plain hash is enough because the secret is high-entropy (no dictionary to guess
from), and it keeps authentication to one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mip.names import confusable_skeleton, validate_namespace
from registry_server.db.models import Account, ApiToken, Namespace, utcnow
from registry_server.db.session import write_session
from registry_server.errors import (
    BadRequestError,
    ForbiddenError,
    NameConflictError,
    NotFoundError,
    TokenExpiredError,
    UnauthorizedError,
)
from registry_server.services.audit import Actor, AuditActor, record_event

TOKEN_PREFIX = "mst_"  # noqa: S105  (a public marker that makes leaked tokens greppable)
#: The actor recorded in the audit log for admin command-line writes.
ADMIN_ACTOR = "admin"
#: What a token may be allowed to do.
ACTIONS = ("publish", "yank", "keys", "tokens")
#: A token scope naming every namespace its account owns.
ALL_NAMESPACES = "*"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an account acting through one token."""

    account_id: int
    account: str
    token_id: int
    token_prefix: str
    namespaces: tuple[str, ...]
    actions: tuple[str, ...]
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    """A new token as stored (scopes de-duplicated and normalized), its secret shown once."""

    secret: str
    namespaces: list[str]
    actions: list[str]
    expires_at: datetime


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def authenticate(session: Session, authorization: str | None) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or raise 401."""
    if not authorization:
        raise UnauthorizedError(
            "this request needs a token: send 'Authorization: Bearer mst_...' "
            "(create one with 'memos-registry admin create-token')"
        )
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX):
        raise UnauthorizedError("malformed Authorization header: expected 'Bearer mst_...'")
    row = session.exec(
        select(ApiToken, Account)
        .join(Account, Account.id == ApiToken.account_id)  # type: ignore[arg-type]
        .where(ApiToken.token_hash == hash_token(secret))
    ).first()
    if row is None or row[0].revoked:
        raise UnauthorizedError("unknown or revoked token: log in again with a valid token")
    token, account = row
    if token.expires_at <= utcnow():
        raise TokenExpiredError(
            f"token {token.display_prefix}... expired at {token.expires_at.isoformat()}: "
            "create a new one"
        )
    assert token.id is not None
    assert account.id is not None
    return Principal(
        account_id=account.id,
        account=account.name,
        token_id=token.id,
        token_prefix=token.display_prefix,
        namespaces=tuple(token.namespaces),
        actions=tuple(token.actions),
        expires_at=token.expires_at,
    )


def require(principal: Principal, action: str, namespace: Namespace) -> None:
    """Raise 403 unless the principal may do ``action`` in ``namespace``."""
    if namespace.account_id != principal.account_id or (
        ALL_NAMESPACES not in principal.namespaces
        and namespace.normalized_name not in principal.namespaces
    ):
        raise ForbiddenError(
            f"token {principal.token_prefix}... may not act on namespace {namespace.name!r}: "
            "use a token scoped to it"
        )
    if action not in principal.actions:
        raise ForbiddenError(
            f"token {principal.token_prefix}... lacks the {action!r} action: "
            f"it has {', '.join(principal.actions) or 'none'}"
        )


def require_action(principal: Principal, action: str) -> None:
    """Raise 403 unless the token carries ``action`` at all (namespace-free endpoints)."""
    if action not in principal.actions:
        raise ForbiddenError(f"token {principal.token_prefix}... lacks the {action!r} action")


def find_namespace(session: Session, name: str) -> Namespace:
    """The namespace whose normal form matches ``name``, or raise 404."""
    normalized = validate_namespace(name)
    namespace = session.exec(
        select(Namespace).where(Namespace.normalized_name == normalized)
    ).first()
    if namespace is None:
        raise NotFoundError(
            f"namespace {name!r} does not exist: ask the registry admin to create it",
            code="namespace_not_found",
        )
    return namespace


def _issue_token(
    session: Session,
    account: Account,
    namespaces: list[str],
    actions: list[str],
    expires_at: datetime,
    description: str,
) -> str:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert account.id is not None
    session.add(
        ApiToken(
            account_id=account.id,
            token_hash=hash_token(secret),
            display_prefix=secret[:12],
            namespaces=namespaces,
            actions=actions,
            expires_at=expires_at,
            description=description,
        )
    )
    return secret


def create_namespace(session: Session, account: Account, name: str) -> Namespace:
    """Create a namespace, refusing one that collides with an existing name (§8)."""
    normalized = validate_namespace(name)
    skeleton = confusable_skeleton(name)
    clash = session.exec(
        select(Namespace).where(
            (Namespace.normalized_name == normalized) | (Namespace.skeleton == skeleton)
        )
    ).first()
    if clash is not None:
        raise NameConflictError(
            f"namespace {name!r} is too close to the existing namespace {clash.name!r} "
            "(differs only by case, separators or look-alike characters): choose another name"
        )
    assert account.id is not None
    namespace = Namespace(
        name=name, normalized_name=normalized, skeleton=skeleton, account_id=account.id
    )
    session.add(namespace)
    session.flush()
    return namespace


def bootstrap_token(
    session: Session, namespace_name: str, account_name: str | None, days: int
) -> str:
    """Admin bootstrap: ensure account and namespace exist, return a new all-action token for it."""
    normalized = validate_namespace(namespace_name)
    account_name = account_name or normalized
    validate_namespace(account_name)
    account = session.exec(select(Account).where(Account.name == account_name)).first()
    if account is None:
        account = Account(name=account_name)
        session.add(account)
        session.flush()
    namespace = session.exec(
        select(Namespace).where(Namespace.normalized_name == normalized)
    ).first()
    if namespace is None:
        namespace = create_namespace(session, account, namespace_name)
        record_event(
            session,
            AuditActor(account.name, ADMIN_ACTOR),
            "namespace.create",
            namespace=normalized,
            subject=namespace_name,
        )
    elif namespace.account_id != account.id:
        raise ForbiddenError(
            f"namespace {namespace.name!r} belongs to another account: pass that --account"
        )
    secret = _issue_token(
        session, account, [normalized], list(ACTIONS), utcnow() + timedelta(days=days), "bootstrap"
    )
    record_event(
        session,
        AuditActor(account.name, ADMIN_ACTOR),
        "token.create",
        namespace=normalized,
        subject=secret[:12],
    )
    return secret


def commit_bootstrap_token(
    engine: Engine, namespace_name: str, account_name: str | None, days: int
) -> str:
    """:func:`bootstrap_token` in a transaction of its own (``memos-registry admin create-token``)."""
    with write_session(engine) as session:
        secret = bootstrap_token(session, namespace_name, account_name, days)
        session.commit()
    return secret


def create_token(
    session: Session,
    principal: Principal,
    namespaces: list[str],
    actions: list[str],
    days: int,
    description: str,
) -> IssuedToken:
    """A new token for the caller's account with scopes within the caller's; returns it once."""
    require_action(principal, "tokens")
    unknown = sorted(set(actions) - set(ACTIONS))
    if unknown or not actions:
        raise BadRequestError(
            f"unknown or missing actions {unknown}: choose from {', '.join(ACTIONS)}"
        )
    wider = sorted(set(actions) - set(principal.actions))
    if wider:
        raise ForbiddenError(f"a token cannot grant actions it lacks: {', '.join(wider)}")
    if not namespaces:
        raise BadRequestError("name at least one namespace (or '*')")
    normalized: list[str] = []
    for name in namespaces:
        if name == ALL_NAMESPACES:
            if ALL_NAMESPACES not in principal.namespaces:
                raise ForbiddenError("a token scoped to some namespaces cannot grant '*'")
            normalized.append(name)
            continue
        namespace = find_namespace(session, name)
        require(principal, actions[0], namespace)
        normalized.append(namespace.normalized_name)
    expires_at = min(utcnow() + timedelta(days=days), principal.expires_at)
    account = session.get(Account, principal.account_id)
    assert account is not None
    # A scope named twice (or spelled two ways of one normal form) is stored once, in order.
    normalized = list(dict.fromkeys(normalized))
    granted = sorted(set(actions))
    secret = _issue_token(session, account, normalized, granted, expires_at, description)
    record_event(
        session,
        principal,
        "token.create",
        subject=secret[:12],
        detail={"namespaces": normalized, "actions": granted},
    )
    return IssuedToken(secret, normalized, granted, expires_at)


def revoke_token(session: Session, principal: Principal) -> None:
    """Revoke the token the caller authenticated with (audited)."""
    token = session.get(ApiToken, principal.token_id)
    assert token is not None
    _revoke(session, token, principal)


def _revoke(session: Session, token: ApiToken, actor: Actor) -> None:
    if token.revoked:
        return  # revoking twice changes nothing and records nothing
    token.revoked = True
    session.add(token)
    record_event(
        session,
        actor,
        "token.revoke",
        subject=token.display_prefix,
    )


def _within_scope(principal: Principal, token: ApiToken) -> bool:
    """Whether ``token`` grants nothing outside the caller's namespaces (its own account's)."""
    if token.account_id != principal.account_id:
        return False
    if ALL_NAMESPACES in principal.namespaces:
        return True
    return ALL_NAMESPACES not in token.namespaces and set(token.namespaces) <= set(
        principal.namespaces
    )


def list_tokens(session: Session, principal: Principal) -> list[ApiToken]:
    """The caller's account's tokens that stay within the caller's namespaces, newest first.

    Needs the ``tokens`` action; a token scoped to some namespaces does not see tokens that
    reach further, as it could not have created them either.
    """
    require_action(principal, "tokens")
    statement = (
        select(ApiToken)
        .where(ApiToken.account_id == principal.account_id)
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    )
    return [token for token in session.exec(statement) if _within_scope(principal, token)]


#: Row ids are 32-bit signed integers on PostgreSQL (``INTEGER`` keys; SQLite's are 64-bit): a
#: larger one names no row, and must not reach the database (which refuses it as a data error).
MAX_ROW_ID = 2**31 - 1


def _token_by_id(session: Session, token_id: int) -> ApiToken | None:
    """The token with this id, or ``None`` (an id no database column can hold included)."""
    if not 1 <= token_id <= MAX_ROW_ID:
        return None
    return session.get(ApiToken, token_id)


def revoke_token_by_id(session: Session, principal: Principal, token_id: int) -> None:
    """Revoke one of the tokens :func:`list_tokens` shows the caller (idempotent, audited).

    A token outside the caller's reach -- another account's, a wider one, or none at all -- is
    "not found", so ids do not reveal what exists elsewhere.
    """
    require_action(principal, "tokens")
    token = _token_by_id(session, token_id)
    if token is None or not _within_scope(principal, token):
        raise NotFoundError(
            f"no token with id {token_id} among yours: `memos token list` shows their ids",
            code="token_not_found",
        )
    _revoke(session, token, principal)


def admin_list_tokens(
    session: Session, account_name: str | None = None
) -> list[tuple[str, ApiToken]]:
    """Every token (of one account, when named) with its account's name, newest first."""
    statement = (
        select(Account, ApiToken)
        .join(ApiToken, ApiToken.account_id == Account.id)  # type: ignore[arg-type]
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    )
    if account_name is not None:
        statement = statement.where(Account.name == account_name)
    return [(account.name, token) for account, token in session.exec(statement)]


def admin_revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke any token by id (the operator's way out when its owner lost every token)."""
    token = _token_by_id(session, token_id)
    if token is None:
        raise NotFoundError(
            f"no token with id {token_id}: `memos-registry admin list-tokens` shows the ids",
            code="token_not_found",
        )
    account = session.get(Account, token.account_id)
    assert account is not None
    _revoke(session, token, AuditActor(account.name, ADMIN_ACTOR))
    return token
