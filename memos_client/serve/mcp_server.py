"""The memory tools as an MCP server (the official MCP Python SDK's ``MCPServer``).

One server object serves stdio (``memos mcp``) and streamable HTTP (``memos serve`` mounts it at
``/mcp``). Who is calling comes from ``principal_of``: over stdio, the principal the process
was started as; over HTTP, the principal of the request's bearer token (the app refused the
request before it got here if the token is unknown). A client error becomes a tool error whose
text starts with its stable code (``unknown_memory: ...``); anything else becomes the SDK's
generic tool error, with no traceback in the answer.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from memos_client.errors import MemosError
from memos_client.serve.tools import MAX_BUDGET, MAX_K, MemoryTools

INSTRUCTIONS = (
    "Long-term memory of this agent (MemStore's local MemOS runtime). Before answering a "
    "question that may depend on what you were told earlier, call plan_context with the "
    "question: it returns the memories to put in your prompt. Use search_memories to look "
    "things up, add_memory / add_messages to remember, and cite memory ids when you use them."
)

Cube = Annotated[
    str | None,
    Field(description="One cube (NAMESPACE/NAME) to search; leave out to search every cube."),
]
Cubes = Annotated[
    list[str] | None,
    Field(description="Several cubes to search (instead of cube)."),
]
Tags = Annotated[
    list[str] | None, Field(description="Only memories carrying every one of these tags.")
]
Metadata = Annotated[
    dict[str, str | int | float | bool] | None,
    Field(description="Only memories whose metadata fields equal these values."),
]
MemoryId = Annotated[str, Field(description="A memory id, as returned by search or add.")]


def _failure(error: MemosError) -> ToolError:
    return ToolError(f"{error.code}: {error}")


def build_mcp_server(
    tools: MemoryTools,
    principal_of: Callable[[Context], str],
    *,
    name: str = "memstore",
    inline: bool = False,
) -> MCPServer:
    """The MCP server exposing ``tools`` (names fixed: :data:`~memos_client.serve.tools.TOOL_NAMES`).

    ``inline`` runs each call on the event loop itself: right for stdio, where one client sends
    one request at a time (a worker-thread hop per call costs more than the search on a busy
    machine); over HTTP calls go to worker threads so that one slow call blocks no other.
    """
    server: MCPServer = MCPServer(name, instructions=INSTRUCTIONS, log_level="WARNING")

    async def call(
        method: Callable[..., dict[str, Any]], ctx: Context, **arguments: Any
    ) -> dict[str, Any]:
        principal = principal_of(ctx)
        try:
            if inline:
                return method(principal, **arguments)
            return await anyio.to_thread.run_sync(functools.partial(method, principal, **arguments))
        except MemosError as exc:
            raise _failure(exc) from exc

    @server.tool()
    async def search_memories(
        query: Annotated[str, Field(description="What to look for, in natural language.")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many results.")] = 10,
        cube: Cube = None,
        cubes: Cubes = None,
        tags: Tags = None,
        since: Annotated[
            str | None, Field(description="Only memories created at or after this RFC 3339 time.")
        ] = None,
        until: Annotated[
            str | None, Field(description="Only memories created at or before this RFC 3339 time.")
        ] = None,
        metadata: Metadata = None,
        min_score: Annotated[
            float | None,
            Field(description="Drop results scoring below this (calibrated score, 0-1)."),
        ] = None,
    ) -> dict[str, Any]:
        """Search the agent's memories (lexical + semantic, with filters); best first.

        Use it to look up facts, preferences or earlier conversation turns. Each result has the
        memory id, cube, text, tags, metadata, created time and score."""
        return await call(
            tools.search_memories, ctx, query=query, k=k, cube=cube, cubes=cubes, tags=tags,
            since=since, until=until, metadata=metadata, min_score=min_score,
        )  # fmt: skip

    @server.tool()
    async def add_memory(
        text: Annotated[str, Field(description="The memory, one self-contained statement.")],
        ctx: Context,
        cube: Annotated[
            str, Field(description="The cube to add to (NAMESPACE/NAME).")
        ] = "local/default",
        tags: Annotated[list[str] | None, Field(description="Tags for filtering later.")] = None,
        metadata: Annotated[
            dict[str, Any] | None, Field(description="Extra fields (speaker, source, ...).")
        ] = None,
    ) -> dict[str, Any]:
        """Remember one thing (a fact, a preference, a decision). Returns the new memory's id."""
        return await call(tools.add_memory, ctx, text=text, cube=cube, tags=tags, metadata=metadata)

    @server.tool()
    async def add_messages(
        messages: Annotated[
            list[dict[str, Any]],
            Field(description="Chat turns: {role, content, name?, timestamp?, id?}, in order."),
        ],
        ctx: Context,
        cube: Annotated[str, Field(description="The cube to add to.")] = "local/default",
        session: Annotated[
            str | None, Field(description="The conversation's id (default: a new one).")
        ] = None,
    ) -> dict[str, Any]:
        """Remember a conversation: one memory per turn, with speaker, session, turn and time."""
        return await call(tools.add_messages, ctx, messages=messages, cube=cube, session=session)

    @server.tool()
    async def get_memory(id: MemoryId, ctx: Context) -> dict[str, Any]:
        """Read one memory by id (text, tags, metadata, state, version, times)."""
        return await call(tools.get_memory, ctx, id=id)

    @server.tool()
    async def update_memory(
        id: MemoryId,
        ctx: Context,
        text: Annotated[str | None, Field(description="The new text.")] = None,
        tags: Annotated[
            list[str] | None, Field(description="The new tags (replace the old).")
        ] = None,
        metadata: Annotated[
            dict[str, Any] | None, Field(description="The new metadata (replaces the old).")
        ] = None,
    ) -> dict[str, Any]:
        """Correct a memory: a new version (the old one stays in the cube's history)."""
        return await call(tools.update_memory, ctx, id=id, text=text, tags=tags, metadata=metadata)

    @server.tool()
    async def delete_memory(id: MemoryId, ctx: Context) -> dict[str, Any]:
        """Forget a memory (a tombstone version: rollback_cube can bring it back)."""
        return await call(tools.delete_memory, ctx, id=id)

    @server.tool()
    async def plan_context(
        query: Annotated[str, Field(description="The user's question or the task at hand.")],
        ctx: Context,
        budget_tokens: Annotated[
            int, Field(ge=1, le=MAX_BUDGET, description="Prompt tokens the memories may use.")
        ] = 1024,
        cube: Cube = None,
        cubes: Cubes = None,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="Candidates to consider.")] = 20,
        min_score: Annotated[
            float | None,
            Field(
                description="Leave out memories scoring below this (calibrated, 0-1; default 0.1)."
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Call this before answering: the memories to put in the prompt for this query,
        within a token budget. Returns `context` (ready-to-paste lines, best first), the chosen
        memories with their scores and reasons, and what was skipped and why."""
        return await call(
            tools.plan_context, ctx, query=query, budget_tokens=budget_tokens, cube=cube,
            cubes=cubes, k=k, min_score=min_score,
        )  # fmt: skip

    @server.tool()
    async def list_cubes(ctx: Context) -> dict[str, Any]:
        """The memory cubes you may read: name, origin, installed version, memory counts."""
        return await call(tools.list_cubes, ctx)

    @server.tool()
    async def cube_history(
        cube: Annotated[str, Field(description="A cube (NAMESPACE/NAME) or a memory id.")],
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=1000, description="Newest versions to return.")] = 100,
    ) -> dict[str, Any]:
        """What changed in a cube (or one memory), newest first: every version with its change
        number (seq), operation, text and who made it."""
        return await call(tools.cube_history, ctx, cube=cube, limit=limit)

    @server.tool()
    async def rollback_cube(
        cube: Annotated[str, Field(description="The cube (NAMESPACE/NAME).")],
        to: Annotated[
            int | str,
            Field(
                description="A change number (seq from cube_history), an RFC 3339 time, or an installed version."
            ),
        ],
        ctx: Context,
    ) -> dict[str, Any]:
        """Bring a cube back to an earlier point; history is kept, so it can be undone."""
        return await call(tools.rollback_cube, ctx, cube=cube, to=to)

    @server.tool()
    async def install_cube(
        requirement: Annotated[
            str, Field(description="A cube requirement, e.g. 'acme/cooking>=1.2'.")
        ],
        ctx: Context,
    ) -> dict[str, Any]:
        """Install a memory cube from the registry, verified exactly as `memos install` does.
        Refused unless the server was started with --allow-install."""
        return await call(tools.install_cube, ctx, requirement=requirement)

    @server.resource(
        "memos://cubes/{namespace}/{name}",
        mime_type="application/json",
        description="A cube: its card, installed version, parts and memory counts.",
    )
    def cube_resource(namespace: str, name: str, ctx: Context) -> str:
        try:
            info: Mapping[str, Any] = tools.cube_info(principal_of(ctx), f"{namespace}/{name}")
        except MemosError as exc:
            raise ResourceError(f"{exc.code}: {exc}") from exc
        return json.dumps(info, ensure_ascii=False)

    return server
