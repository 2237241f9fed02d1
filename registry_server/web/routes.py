"""The marketplace's HTML pages: home, search, cube, version diff, namespace.

Every page is rendered on the server and works without JavaScript; the one script (``copy.js``)
only adds a copy button. Query strings are parsed leniently: a page never answers a browser with
a JSON validation error, and unknown filter values simply match nothing. Each response carries a
``Server-Timing`` header with the time spent building it (the benchmark reads it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from mip.errors import MIPError
from registry_server.api.deps import AppState
from registry_server.errors import NotFoundError, RegistryError
from registry_server.services import catalog, derived, suggestions, version_diff
from registry_server.services.search import MAX_QUERY_CHARS
from registry_server.web.rendering import build_templates

router = APIRouter(include_in_schema=False)
templates = build_templates()

#: Applied to every page: no inline script or style, nothing loaded from elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
SEARCH_PAGE_SIZE = 20
NAMESPACE_PAGE_SIZE = 50


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.registry
    return state


def _int(value: str | None, default: int = 1) -> int:
    """A page number from a query string; anything else is the default."""
    if value is None or not value.strip().isdigit() or len(value) > 6:
        return default
    return int(value)


def _text(request: Request, key: str, limit: int = 500) -> str:
    return request.query_params.get(key, "").strip()[:limit]


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    started: float,
    status_code: int = 200,
) -> HTMLResponse:
    """A page from ``template`` with the security and timing headers."""
    response = templates.TemplateResponse(
        request, template, {"title": "", **context}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    elapsed = (time.perf_counter() - started) * 1000
    response.headers["server-timing"] = f"app;dur={elapsed:.2f}"
    return response


def error_page(
    request: Request,
    status_code: int,
    message: str,
    started: float,
    suggestions: list[str] | None = None,
) -> HTMLResponse:
    """The HTML error page (404 for unknown cubes, versions, namespaces and paths)."""
    heading = "Not found" if status_code == 404 else "Something went wrong"
    return render(
        request,
        "error.html",
        {
            "title": heading,
            "heading": heading,
            "message": message,
            "status": status_code,
            "suggestions": suggestions or [],
        },
        started,
        status_code,
    )


async def _page(
    request: Request,
    build: Callable[[], tuple[str, dict[str, Any]]],
    suggest: Callable[[], list[str]] | None = None,
) -> Response:
    """Run ``build`` (database and storage work) in a thread and render its template.

    Domain errors become HTML error pages with their HTTP status; an unknown cube's page lists
    the nearest names ``suggest`` finds.
    """
    started = time.perf_counter()
    try:
        template, context = await run_in_threadpool(build)
    except NotFoundError as exc:
        names: list[str] = []
        if suggest is not None and exc.code == "cube_not_found":
            try:
                names = await run_in_threadpool(suggest)
            except RegistryError:
                names = []  # suggestions are a courtesy: the 404 stands without them
        return error_page(request, 404, str(exc), started, names)
    except MIPError as exc:
        return error_page(request, 400, str(exc), started)
    except RegistryError as exc:
        return error_page(request, exc.status, str(exc), started)
    return render(request, template, context, started)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    """Recent and popular cubes, and the search box."""
    engine = _state(request).engine
    return await _page(
        request, lambda: ("home.html", {"title": "MemStore", "home": catalog.home_page(engine)})
    )


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request) -> Response:
    """Full-text search with part-kind, model and licence filters."""
    state = _state(request)
    engine = state.engine
    filters = catalog.SearchFilters(
        query=_text(request, "q", MAX_QUERY_CHARS),
        kind=_text(request, "kind", 64),
        model=_text(request, "model"),
        license=_text(request, "license", 200),
    )
    page = _int(request.query_params.get("page"))

    def build() -> tuple[str, dict[str, Any]]:
        results = catalog.search_cubes(engine, filters, page, SEARCH_PAGE_SIZE)
        base = {
            key: value
            for key, value in (
                ("q", filters.query),
                ("kind", filters.kind),
                ("model", filters.model),
                ("license", filters.license),
            )
            if value
        }
        return "search.html", {
            "title": f"Search: {filters.query}" if filters.query else "Search",
            "results": results,
            "filters": filters,
            "kinds": catalog.PART_KINDS,
            "choices": state.facet_choices.get(),
            "page_url": lambda number: "/search?" + urlencode({**base, "page": number}),
        }

    return await _page(request, build)


def _cube_page(
    state: AppState, namespace: str, name: str, version: str | None
) -> tuple[str, dict[str, Any]]:
    """The cube page's template and context: the catalog's data, the card, the preview."""
    page = catalog.cube_page(state.engine, namespace, name, version)
    assert page.version.id is not None
    install = f"memos install {page.cube.name}"
    if not page.is_latest:
        install += f"=={page.version.version}"
    preview, preview_problem = derived.version_preview(state.engine, state.store, page.manifest)
    return "cube.html", {
        "title": f"{page.cube.name} {page.version.version}",
        "page": page,
        "install_line": install,
        "card_html": derived.card_html(state.engine, page.version.id, page.manifest),
        "preview": preview,
        "preview_problem": preview_problem,
        "memory_count": sum(p.count or 0 for p in page.manifest.parts if p.kind == "plaintext"),
        "download_name": f"{page.cube.name.replace('/', '-')}-{page.version.version}.memcube",
    }


async def _cube_response(
    request: Request, namespace: str, name: str, version: str | None
) -> Response:
    """The cube page, or the nearest cubes' names when there is no such cube."""
    state = _state(request)
    return await _page(
        request,
        lambda: _cube_page(state, namespace, name, version),
        lambda: suggestions.nearest_cubes(state.engine, namespace, name),
    )


@router.get("/cubes/{namespace}/{name}", response_class=HTMLResponse)
async def cube(request: Request, namespace: str, name: str) -> Response:
    """A cube at its latest version."""
    return await _cube_response(request, namespace, name, None)


@router.get("/cubes/{namespace}/{name}/versions/{version}", response_class=HTMLResponse)
async def cube_version(request: Request, namespace: str, name: str, version: str) -> Response:
    """A cube at one version."""
    return await _cube_response(request, namespace, name, version)


@router.get("/cubes/{namespace}/{name}/diff", response_class=HTMLResponse)
async def diff(request: Request, namespace: str, name: str) -> Response:
    """Memories and parts changed between two versions (``?from=1.0.0&to=1.1.0``)."""
    state = _state(request)
    old = _text(request, "from", 128)
    new = _text(request, "to", 128)

    def build() -> tuple[str, dict[str, Any]]:
        nonlocal old, new
        if not new or not old:
            # Defaults: the latest version against the one before it.
            page = catalog.cube_page(state.engine, namespace, name, new or None)
            new = page.version.version
            old = old or page.previous_version or new
        result = version_diff.diff_versions(state.engine, state.store, namespace, name, old, new)
        return "diff.html", {
            "title": f"{result.cube}: {result.old_version} → {result.new_version}",
            "diff": result,
            "budget": version_diff.TEXT_BUDGET_BYTES,
        }

    return await _page(request, build)


@router.get("/namespaces/{namespace}", response_class=HTMLResponse)
async def namespace(request: Request, namespace: str) -> Response:
    """A namespace's cubes and signing keys."""
    engine = _state(request).engine
    page = _int(request.query_params.get("page"))

    def build() -> tuple[str, dict[str, Any]]:
        result = catalog.namespace_page(engine, namespace, page, NAMESPACE_PAGE_SIZE)
        return "namespace.html", {"title": result.namespace.name, "ns": result}

    return await _page(request, build)
