"""Operations routes: health check and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from registry_server.api.deps import StateDep
from registry_server.api.schemas import HealthBody
from registry_server.errors import RegistryError

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Health of the process, its database and its storage",
    responses={
        200: {"model": HealthBody},
        503: {"model": HealthBody, "description": "The database or the storage failed"},
    },
)
def healthz(state: StateDep) -> Response:
    """200 when database and storage answer, 503 otherwise."""
    database = storage = "ok"
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001  (any failure means unhealthy; the type is reported)
        database = f"error: {type(exc).__name__}"
    try:
        state.store.check()
    except (RegistryError, OSError) as exc:
        storage = f"error: {exc}"
    healthy = database == storage == "ok"
    body = HealthBody(status="ok" if healthy else "unavailable", database=database, storage=storage)
    return Response(
        body.model_dump_json(), status_code=200 if healthy else 503, media_type="application/json"
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """The process's metrics in the Prometheus text format."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
