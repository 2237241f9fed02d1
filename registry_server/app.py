"""The FastAPI application: built by :func:`create_app` from injected settings.

One exception handler turns every domain error into ``{"error": {"code", "message"}}``;
protocol errors keep their ``mip`` codes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute

from mip.errors import MIPError
from registry_server.api import accounts, blobs, bundles, log, ops, search, versions
from registry_server.api.deps import AppState, current_principal
from registry_server.api.hot_reads import HotReadMiddleware
from registry_server.api.request_bodies import BodyLimits, RequestBodyGuard
from registry_server.api.responses import without_default_validation_errors
from registry_server.db.hot_reader import HotReader
from registry_server.db.session import create_db_engine, init_schema
from registry_server.errors import RegistryError, StorageUnavailableError, error_document
from registry_server.metrics import Metrics, MetricsMiddleware
from registry_server.services.catalog.choices import FacetChoicesCache
from registry_server.services.catalog.views import backfill_views
from registry_server.services.downloads import DownloadCounter
from registry_server.services.facets import prepare_catalog
from registry_server.services.log_key import load_log_signer
from registry_server.services.storage import BlobStore, open_blob_store
from registry_server.services.transparency import ensure_log
from registry_server.settings import Settings, load_settings
from registry_server.web import mount_web

logger = logging.getLogger("registry_server")
#: Where the API documentation pages' scripts and styles are served.
DOCS_STATIC_URL = "/static/api-docs"

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "blob_too_large",
    415: "unsupported_media_type",
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_document(code, message), status_code=status)


def _missing_body(request: Request) -> str:
    """What to say when a route's JSON body is absent: the fields it needs, when known."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", {})
    required = [name for name, field in fields.items() if field.is_required()]
    if required:
        return f"the JSON body is missing: send an object with {', '.join(required)}"
    return "the JSON body is missing"


def _describe_validation(error: RequestValidationError, request: Request) -> str:
    problems = []
    for item in error.errors():
        location = tuple(item.get("loc", ()))
        if location == ("body",) and item.get("type") == "missing":
            problems.append(_missing_body(request))
            continue
        where = ".".join(str(part) for part in location if part != "body") or "request"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> list[str]:
    """Every method some API route serves at ``path`` (each method has its own route object)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, APIRoute) and route.path_regex.fullmatch(path):
            methods |= route.methods or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI, api_routes: Sequence[BaseRoute] = ()) -> None:
    """The one place errors become responses (spec §9)."""

    @app.exception_handler(RegistryError)
    async def _registry_error(_: Request, exc: RegistryError) -> JSONResponse:
        if exc.status >= 500:
            logger.warning("%s: %s", exc.code, exc)
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(MIPError)
    async def _protocol_error(_: Request, exc: MIPError) -> JSONResponse:
        return _error(400, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalid_request", _describe_validation(exc, request))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        response = _error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # RFC 9110 §15.5.6: Allow lists every method of the resource. Starlette names only
            # those of the first route matching the path, and each method is its own route.
            methods = allowed_methods(api_routes, request.url.path)
            if methods:
                response.headers["allow"] = ", ".join(methods)
        return response

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # Only reached when a retried write kept colliding with concurrent writers.
        return _error(409, "conflict", "a concurrent request changed the same data: retry")

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # The client hung up (or the body guard cut it off): nothing half-written is kept (each
        # upload aborts its writer), and there is no one left to answer. Not a server fault.
        logger.info(
            "client went away during %s %s; nothing was stored", request.method, request.url.path
        )
        return _error(400, "client_disconnected", "the client closed the request before its end")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=exc)
        return _error(500, "internal_error", "internal error: the registry logged the details")


def _flush_loop(counter: DownloadCounter, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            counter.flush()
        except RegistryError as exc:
            logger.warning("download counts not flushed yet: %s", exc)


def _sweep_abandoned_writes(store: BlobStore, older_than_seconds: float) -> None:
    """Drop what uploads killed mid-way left behind (temp files, multipart uploads)."""
    try:
        swept = store.sweep_abandoned_writes(older_than_seconds)
    except StorageUnavailableError as exc:  # the storage may come up after the server
        logger.warning("abandoned uploads not swept yet: %s", exc)
        return
    if swept:
        logger.info(
            "swept %d abandoned upload(s), %d bytes", len(swept), sum(size for _, size in swept)
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The registry application for ``settings`` (environment-derived when omitted)."""
    settings = settings or load_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_db_engine(settings.resolved_database_url(), settings.database_pool_size)
        init_schema(engine)
        prepare_catalog(engine)
        signer = load_log_signer(settings)
        ensure_log(engine, signer.origin, signer.verifier.verifier_key())
        backfill_views(engine)
        counter = DownloadCounter(engine)
        reader = HotReader(engine)
        store = open_blob_store(settings)
        _sweep_abandoned_writes(store, settings.abandoned_write_seconds)
        app.state.registry = AppState(
            settings=settings,
            engine=engine,
            reader=reader,
            store=store,
            downloads=counter,
            metrics=metrics,
            log=signer,
            facet_choices=FacetChoicesCache(engine),
        )
        stop = threading.Event()
        flusher = threading.Thread(
            target=_flush_loop,
            args=(counter, stop, settings.download_flush_seconds),
            name="download-flush",
            daemon=True,
        )
        flusher.start()
        try:
            yield
        finally:
            stop.set()
            flusher.join()
            try:
                counter.flush()
            finally:
                await reader.aclose()
                engine.dispose()

    # The HTTP API pages (/docs: Swagger UI, /redoc) with their scripts and styles served from the
    # fastapi-offline package, not a CDN: they work offline and load nothing from another host.
    # Swagger UI's validator badge would fetch an image from validator.swagger.io: off.
    app = FastAPIOffline(
        title="MemStore registry",
        version="1",
        summary="Publish, resolve and serve signed MemCubes (spec/MIP-1-registry.md).",
        lifespan=lifespan,
        static_url=DOCS_STATIC_URL,
        swagger_ui_parameters={"validatorUrl": None},
    )
    api_routers = [
        module.router for module in (blobs, versions, bundles, accounts, search, log, ops)
    ]
    api_routes = [route for router in api_routers for route in router.routes]
    install_error_handlers(app, api_routes)
    for router in api_routers:
        app.include_router(router)
    mount_web(app)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        return without_default_validation_errors(generate_openapi())

    app.openapi = openapi  # type: ignore[method-assign]
    # Added last = outermost: hot reads skip routing, yet are still timed by the metrics.
    app.add_middleware(
        RequestBodyGuard,
        limits=BodyLimits(
            max_bytes=settings.max_request_body_bytes,
            min_rate=settings.body_min_rate,
            grace_seconds=settings.body_grace_seconds,
            idle_seconds=settings.body_idle_seconds,
            max_unauthenticated=settings.max_unauthenticated_bodies,
        ),
        engine=lambda: app.state.registry.engine,
        # The API's own routes (included without a prefix): the ones that may take a body.
        routes=api_routes,
        token_dependency=current_principal,
    )
    app.add_middleware(HotReadMiddleware, state=lambda: app.state.registry)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from ``MEMSTORE_*`` variables."""
    return create_app(load_settings())
