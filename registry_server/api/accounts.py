"""Account routes (spec §2, §7): whoami, tokens, signing keys, audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from registry_server.api.deps import CurrentPrincipal, StateDep
from registry_server.api.responses import READ, WRITE, created_answer, created_or_existing, errors
from registry_server.api.schemas import (
    AuditBody,
    AuditEventBody,
    KeyBody,
    KeyCreate,
    KeyListBody,
    KeyRevoke,
    TokenCreate,
    TokenCreatedBody,
    TokenInfo,
    TokenListBody,
    WhoAmIBody,
)
from registry_server.db.session import read_session, write_session
from registry_server.errors import ForbiddenError
from registry_server.services import audit, auth, keys

router = APIRouter(tags=["accounts"])


@router.get("/v1/whoami", summary="The caller's token", responses=errors(401, 503))
def whoami(principal: CurrentPrincipal) -> WhoAmIBody:
    """Account, scopes and expiry of the token."""
    return WhoAmIBody(
        account=principal.account,
        token_prefix=principal.token_prefix,
        namespaces=list(principal.namespaces),
        actions=list(principal.actions),
        expires_at=principal.expires_at,
    )


@router.post(
    "/v1/tokens",
    status_code=201,
    summary="Create a token (shown once)",
    responses=errors(*WRITE, 404),
)
def create_token(
    body: TokenCreate, state: StateDep, principal: CurrentPrincipal
) -> TokenCreatedBody:
    """A token for the caller's account, scoped within the caller's own scopes."""
    with write_session(state.engine) as session:
        issued = auth.create_token(
            session,
            principal,
            body.namespaces,
            body.actions,
            body.expires_in_days,
            body.description,
        )
        session.commit()
    return TokenCreatedBody(
        token=issued.secret,
        namespaces=issued.namespaces,
        actions=issued.actions,
        expires_at=issued.expires_at,
    )


@router.get("/v1/tokens", summary="List the account's tokens", responses=errors(401, 403, 503))
def list_tokens(state: StateDep, principal: CurrentPrincipal) -> TokenListBody:
    """Tokens of the caller's account that stay within the caller's namespaces (no secrets)."""
    with read_session(state.engine) as session:
        tokens = auth.list_tokens(session, principal)
        return TokenListBody(
            tokens=[
                TokenInfo(
                    id=token.id,
                    prefix=token.display_prefix,
                    description=token.description,
                    namespaces=token.namespaces,
                    actions=token.actions,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    revoked=token.revoked,
                    current=token.id == principal.token_id,
                )
                for token in tokens
                if token.id is not None
            ]
        )


@router.delete(
    "/v1/tokens/current",
    status_code=204,
    summary="Revoke the caller's token",
    responses=errors(*WRITE),
)
def revoke_current_token(state: StateDep, principal: CurrentPrincipal) -> Response:
    """The token stops working at once (a leaked token's owner can kill it with itself)."""
    with write_session(state.engine) as session:
        auth.revoke_token(session, principal)
        session.commit()
    return Response(status_code=204)


@router.delete(
    "/v1/tokens/{token_id}",
    status_code=204,
    summary="Revoke one of the tokens",
    responses=errors(*WRITE, 404),
)
def revoke_token(token_id: int, state: StateDep, principal: CurrentPrincipal) -> Response:
    """Revoke a token listed by ``GET /v1/tokens`` (one whose secret may be lost or leaked)."""
    with write_session(state.engine) as session:
        auth.revoke_token_by_id(session, principal, token_id)
        session.commit()
    return Response(status_code=204)


@router.get(
    "/v1/namespaces/{namespace}/keys",
    summary="A namespace's signing keys",
    responses=errors(*READ, 404),
)
def list_keys(namespace: str, state: StateDep) -> KeyListBody:
    """Public keys allowed to sign versions in the namespace."""
    with read_session(state.engine) as session:
        found = keys.list_keys(session, namespace)
    return KeyListBody(namespace=namespace, keys=[KeyBody(**key) for key in found])


@router.post(
    "/v1/namespaces/{namespace}/keys",
    summary="Register a signing key",
    responses=created_or_existing(KeyBody, *WRITE, 404, 409),
)
def add_key(
    namespace: str, body: KeyCreate, state: StateDep, principal: CurrentPrincipal
) -> Response:
    """Add a key, or an endorsement to a key (idempotent: 200 when nothing changed)."""
    key, created = keys.add_key(
        state.engine, principal, namespace, body.public_key_pem, body.endorsement
    )
    return created_answer(KeyBody(**key), created=created)


@router.post(
    "/v1/namespaces/{namespace}/keys/{key_id}/revoke",
    summary="Revoke a signing key",
    responses=errors(*WRITE, 404),
)
def revoke_key(
    namespace: str, key_id: str, body: KeyRevoke, state: StateDep, principal: CurrentPrincipal
) -> KeyBody:
    """Revoke a key: publishing with it is refused, and clients refuse versions signed only by
    it (idempotent: the first revocation's time and reason stay)."""
    key = keys.revoke_key(state.engine, principal, namespace, key_id, body.reason)
    return KeyBody(**key)


@router.get(
    "/v1/namespaces/{namespace}/audit",
    summary="Audit log of a namespace",
    responses=errors(*READ, 401, 403, 404),
)
def list_audit(
    namespace: str,
    state: StateDep,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditBody:
    """Writes in the namespace, newest first (needs ``publish`` or ``keys`` on it)."""
    with read_session(state.engine) as session:
        namespace_row = auth.find_namespace(session, namespace)
        try:
            auth.require(principal, "publish", namespace_row)
        except ForbiddenError:
            auth.require(principal, "keys", namespace_row)
        events = audit.list_events(session, namespace_row.normalized_name, limit)
        return AuditBody(
            namespace=namespace_row.name,
            events=[AuditEventBody.model_validate(event, from_attributes=True) for event in events],
        )
