"""FastAPI dependencies: the application state and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from registry_server.api.request_bodies import PRINCIPAL_SCOPE_KEY
from registry_server.db.hot_reader import HotReader
from registry_server.db.session import read_session
from registry_server.metrics import Metrics
from registry_server.services.auth import Principal, authenticate
from registry_server.services.catalog.choices import FacetChoicesCache
from registry_server.services.downloads import DownloadCounter
from registry_server.services.log_key import LogSigner
from registry_server.services.storage import BlobStore
from registry_server.settings import Settings


@dataclass
class AppState:
    """What every request needs; built once per process by the app's lifespan."""

    settings: Settings
    engine: Engine
    reader: HotReader
    store: BlobStore
    downloads: DownloadCounter
    metrics: Metrics
    #: The transparency log's key and origin (signs checkpoints).
    log: LogSigner
    #: The search form's suggestions, cached for this application only.
    facet_choices: FacetChoicesCache


def get_state(request: Request) -> AppState:
    """The process's :class:`AppState`."""
    state: AppState = request.app.state.registry
    return state


StateDep = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `mst_...`")


def current_principal(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    """The caller of a write endpoint (401 without a valid token).

    For a request with a body the guard (``api/request_bodies.py``) already authenticated it,
    before reading the body; its principal is reused.
    """
    found: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if found is not None:
        return found
    header = f"Bearer {credentials.credentials}" if credentials else None
    with read_session(state.engine) as session:
        return authenticate(session, header)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
