"""The marketplace: server-rendered pages to browse, search and inspect cubes (issue #7).

:func:`mount_web` adds the pages, the static files (served locally: no CDN) and an HTML 404 page
for browsers to an application built by ``registry_server.app.create_app``.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from registry_server.web.rendering import STATIC_DIR
from registry_server.web.routes import error_page, router

#: Paths of the JSON API and operations: their errors stay JSON whatever the client accepts.
API_PREFIXES = ("/v1/", "/metrics", "/healthz", "/openapi.json", "/docs", "/redoc")


def wants_html(request: Request) -> bool:
    """True for a browser asking for a page (not the JSON API)."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def mount_web(app: FastAPI) -> None:
    """Add the marketplace pages and static files; unknown pages answer browsers in HTML."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    json_handler = app.exception_handlers[HTTPException]

    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404 and wants_html(request):
            return error_page(
                request, 404, f"There is no page at {request.url.path}.", time.perf_counter()
            )
        response: Response = await json_handler(request, exc)  # type: ignore[misc]
        return response

    app.add_exception_handler(HTTPException, _http_error)
