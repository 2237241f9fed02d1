"""The REST API of ``memos serve`` under ``/v1``: the tools as JSON endpoints.

Request bodies are pydantic models that refuse unknown fields; every answer to a failure is the
registry's error body ``{"error": {"code", "message"}}`` (spec/MIP-1-registry.md §1) with a
stable code (:mod:`memos_client.serve.app` installs the handlers).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from memos_client.serve.tools import MAX_BUDGET, MAX_HISTORY, MAX_K, MemoryTools


class Body(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class SearchRequest(Body):
    query: str = Field(description="What to look for.")
    k: int = Field(10, ge=1, le=MAX_K)
    cube: str | None = None
    cubes: list[str] | None = None
    tags: list[str] | None = None
    since: str | None = Field(None, description="RFC 3339 time.")
    until: str | None = Field(None, description="RFC 3339 time.")
    metadata: dict[str, str | int | float | bool] | None = None
    min_score: float | None = None


class AddMemoryRequest(Body):
    text: str
    cube: str = "local/default"
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None


class AddMessagesRequest(Body):
    messages: list[dict[str, Any]] = Field(description="{role, content, name?, timestamp?, id?}")
    cube: str = "local/default"
    session: str | None = None


class UpdateMemoryRequest(Body):
    text: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None


class PlanRequest(Body):
    query: str
    budget_tokens: int = Field(1024, ge=1, le=MAX_BUDGET)
    cube: str | None = None
    cubes: list[str] | None = None
    k: int = Field(20, ge=1, le=MAX_K)
    min_score: float | None = Field(None, description="Calibrated score floor, 0-1 (default 0.1).")


class RollbackRequest(Body):
    to: int | str = Field(description="A change number, an RFC 3339 time or an installed version.")


class InstallRequest(Body):
    requirement: str = Field(description="A cube requirement, e.g. 'acme/cooking>=1.2'.")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


def principal(request: Request) -> str:
    """The caller's principal, set by the bearer-token middleware."""
    return str(request.scope["memos.principal"])


def memory_tools(request: Request) -> MemoryTools:
    """The tools of the app's warm runtime."""
    tools: MemoryTools = request.app.state.tools
    return tools


Principal = Annotated[str, Depends(principal)]
Tools = Annotated[MemoryTools, Depends(memory_tools)]
#: Any JSON object: results are documented by the MCP tools' descriptions and docs/agents.md.
Result = dict[str, Any]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 413, 422)
}


#: The ``/v1`` routes (the tools come from ``app.state.tools``).
router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/health", tags=["server"])
def health() -> Result:
    """Liveness (no token needed)."""
    return {"status": "ok"}


@router.post("/search", tags=["memories"])
def search(body: SearchRequest, who: Principal, tools: Tools) -> Result:
    """Hybrid search over the cubes the caller may read."""
    return tools.search_memories(who, **body.model_dump())


@router.post("/memories", status_code=201, tags=["memories"])
def add_memory(body: AddMemoryRequest, who: Principal, tools: Tools) -> Result:
    """Add one memory."""
    return tools.add_memory(who, **body.model_dump())


@router.post("/messages", status_code=201, tags=["memories"])
def add_messages(body: AddMessagesRequest, who: Principal, tools: Tools) -> Result:
    """Add chat messages, one memory per turn."""
    return tools.add_messages(who, **body.model_dump())


@router.get("/memories/{memory_id}", tags=["memories"])
def get_memory(memory_id: str, who: Principal, tools: Tools) -> Result:
    """One memory by id."""
    return tools.get_memory(who, memory_id)


@router.patch("/memories/{memory_id}", tags=["memories"])
def update_memory(
    memory_id: str, body: UpdateMemoryRequest, who: Principal, tools: Tools
) -> Result:
    """Change a memory's text, tags or metadata (a new version)."""
    return tools.update_memory(who, memory_id, **body.model_dump())


@router.delete("/memories/{memory_id}", tags=["memories"])
def delete_memory(memory_id: str, who: Principal, tools: Tools) -> Result:
    """Delete a memory (a tombstone version)."""
    return tools.delete_memory(who, memory_id)


@router.post("/plan", tags=["memories"])
def plan_context(body: PlanRequest, who: Principal, tools: Tools) -> Result:
    """The prompt context for a query within a token budget, with the plan's reasons."""
    return tools.plan_context(who, **body.model_dump())


@router.get("/cubes", tags=["cubes"])
def list_cubes(who: Principal, tools: Tools) -> Result:
    """The cubes the caller may read."""
    return tools.list_cubes(who)


@router.get("/cubes/{namespace}/{name}", tags=["cubes"])
def get_cube(namespace: str, name: str, who: Principal, tools: Tools) -> Result:
    """A cube's card, installed version, parts and counts."""
    return tools.cube_info(who, f"{namespace}/{name}")


@router.get("/cubes/{namespace}/{name}/history", tags=["cubes"])
def cube_history(
    namespace: str,
    name: str,
    who: Principal,
    tools: Tools,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY)] = 100,
) -> Result:
    """The cube's versions, newest first."""
    return tools.cube_history(who, f"{namespace}/{name}", limit)


@router.post("/cubes/{namespace}/{name}/rollback", tags=["cubes"])
def rollback_cube(
    namespace: str, name: str, body: RollbackRequest, who: Principal, tools: Tools
) -> Result:
    """Bring the cube back to an earlier point (new versions; history is kept)."""
    return tools.rollback_cube(who, f"{namespace}/{name}", body.to)


@router.post("/install", tags=["cubes"])
def install_cube(body: InstallRequest, who: Principal, tools: Tools) -> Result:
    """Install a cube from the registry (only on a server started with --allow-install)."""
    return tools.install_cube(who, body.requirement)
