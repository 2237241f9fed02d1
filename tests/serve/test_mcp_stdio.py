"""`memos mcp` as a real subprocess, driven by the MCP SDK's stdio client: every tool, the cube
resources, and bad input answered with tool errors (never a crash)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from memos_client.runtime import MemOS
from memos_client.serve.tools import TOOL_NAMES
from tests.serve.conftest import memos_env


def _params(home: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "memos_client", "mcp", *args], env=memos_env(home)
    )


def _run(home: Path, body: Callable[[Client], Awaitable[None]], *args: str) -> None:
    async def main() -> None:
        async with Client(_params(home, *args), read_timeout_seconds=60) as client:
            await body(client)

    asyncio.run(main())


async def _ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def _error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    text = " ".join(getattr(part, "text", "") for part in result.content)
    assert "Traceback" not in text
    return text


def test_every_tool_over_stdio(home: Path) -> None:
    async def body(client: Client) -> None:
        listed = await client.list_tools()
        assert {tool.name for tool in listed.tools} == set(TOOL_NAMES)
        for tool in listed.tools:
            assert len(tool.description or "") > 40, tool.name
            assert tool.input_schema["type"] == "object"
        search = next(tool for tool in listed.tools if tool.name == "search_memories")
        assert search.input_schema["properties"]["k"]["maximum"] == 1000

        added = await _ok(
            client,
            "add_memory",
            {"text": "Luna the cat sleeps on the windowsill.", "cube": "me/pets", "tags": ["pets"]},
        )
        memory_id = added["id"]
        found = await _ok(client, "search_memories", {"query": "where does the cat sleep", "k": 3})
        assert found["results"][0]["id"] == memory_id
        tagged = await _ok(client, "search_memories", {"query": "cat", "tags": ["nope"]})
        assert tagged["count"] == 0
        several = await _ok(
            client, "search_memories", {"query": "standup cat", "cubes": ["me/pets", "team/notes"]}
        )
        assert {hit["cube"] for hit in several["results"]} == {"me/pets", "team/notes"}
        later = await _ok(
            client, "search_memories", {"query": "cat", "since": "2999-01-01T00:00:00Z"}
        )
        assert later["count"] == 0

        turns = await _ok(
            client,
            "add_messages",
            {
                "messages": [
                    {"role": "user", "name": "Ann", "content": "I moved to Lisbon in May."},
                    {"role": "assistant", "content": "Lisbon is lovely in spring."},
                ],
                "cube": "me/chat",
                "session": "s1",
            },
        )
        assert turns["count"] == 2
        first = await _ok(client, "get_memory", {"id": turns["ids"][0]})
        assert first["metadata"]["session"] == "s1"
        assert first["metadata"]["turn"] == 0

        updated = await _ok(
            client, "update_memory", {"id": memory_id, "text": "Luna the cat sleeps on the sofa."}
        )
        assert updated["version"] == 2

        plan = await _ok(client, "plan_context", {"query": "where does Luna the cat sleep"})
        assert "sofa" in plan["context"]
        assert plan["memories"][0]["id"] == memory_id
        loose = await _ok(client, "plan_context", {"query": "where Luna sleeps", "min_score": 0.0})
        assert "sofa" in loose["context"]
        assert plan["memories"][0]["id"] == memory_id
        assert plan["memories"][0]["reason"]

        cubes = await _ok(client, "list_cubes", {})
        names = {cube["name"] for cube in cubes["cubes"]}
        assert {"me/pets", "me/chat", "team/notes"} <= names
        assert "bob/private" not in names  # read: bob only, not even the owner

        history = await _ok(client, "cube_history", {"cube": "me/pets"})
        assert [v["version"] for v in history["versions"]] == [2, 1]
        seq = history["versions"][-1]["seq"]
        rolled = await _ok(client, "rollback_cube", {"cube": "me/pets", "to": seq})
        assert memory_id in rolled["restored"]
        assert "windowsill" in (await _ok(client, "get_memory", {"id": memory_id}))["text"]

        deleted = await _ok(client, "delete_memory", {"id": memory_id})
        assert deleted == {"id": memory_id, "deleted": True}
        assert "unknown_memory" in await _error(client, "get_memory", {"id": memory_id})

        refused = await _error(client, "install_cube", {"requirement": "acme/cooking>=1"})
        assert "install_not_allowed" in refused
        assert "--allow-install" in refused

        resource = await client.read_resource("memos://cubes/team/notes")
        info = json.loads(resource.contents[0].text)  # type: ignore[union-attr]
        assert info["name"] == "team/notes"
        assert info["memories"] == 1
        templates = await client.list_resource_templates()
        assert [t.uri_template for t in templates.resource_templates] == [
            "memos://cubes/{namespace}/{name}"
        ]

    _run(home, body)
    with MemOS(home, embedder="hashing") as mem:  # the store is consistent after the session
        assert mem.search("Lisbon", k=1)[0].item.cube == "me/chat"


def test_bad_input_gets_tool_errors_and_the_server_keeps_serving(home: Path) -> None:
    async def body(client: Client) -> None:
        assert "1000" in await _error(client, "search_memories", {"query": "x", "k": 10**9})
        assert "query" in await _error(client, "search_memories", {"k": 3})
        assert "k" in await _error(client, "search_memories", {"query": "x", "k": "many"})
        assert "usage" in await _error(client, "search_memories", {"query": "   "})
        assert "unknown_memory" in await _error(client, "get_memory", {"id": "no-such-id"})
        assert "unknown_memory" in await _error(client, "delete_memory", {"id": "no-such-id"})
        assert "not_found" in await _error(client, "cube_history", {"cube": "no/such"})
        assert "since" in await _error(
            client, "search_memories", {"query": "x", "since": "yesterday"}
        )
        assert "cube or cubes" in await _error(
            client, "search_memories", {"query": "x", "cube": "a/b", "cubes": ["a/b"]}
        )
        assert "usage" in await _error(client, "add_memory", {"text": "x" * 200_001})
        assert "usage" in await _error(client, "add_memory", {"text": "ok", "cube": "not a cube"})
        assert "usage" in await _error(client, "add_messages", {"messages": []})
        assert "nothing to update" in await _error(client, "update_memory", {"id": "x"})
        assert "access_denied" in await _error(client, "search_memories", {"query": "x", "cube": "bob/private"})  # fmt: skip
        # Still serving, and nothing half-written.
        found = await _ok(client, "search_memories", {"query": "standup"})
        assert found["results"][0]["cube"] == "team/notes"
        cubes = {cube["name"] for cube in (await _ok(client, "list_cubes", {}))["cubes"]}
        assert cubes == {"team/notes", "alice/prefs"}

    _run(home, body, "--as", "alice")


def test_a_principal_reads_only_what_the_policy_allows(home: Path) -> None:
    async def body(client: Client) -> None:
        found = await _ok(client, "search_memories", {"query": "locker code", "k": 10})
        assert all(hit["cube"] != "bob/private" for hit in found["results"])
        cubes = {cube["name"] for cube in (await _ok(client, "list_cubes", {}))["cubes"]}
        assert "bob/private" not in cubes
        assert "alice/prefs" in cubes
        with pytest.raises(MCPError, match="access_denied"):
            await client.read_resource("memos://cubes/bob/private")
        with pytest.raises(MCPError, match="unknown_cube"):
            await client.read_resource("memos://cubes/no/such")

    _run(home, body, "--as", "alice")


def test_a_client_that_goes_away_mid_call_leaves_the_store_consistent(home: Path) -> None:
    async def body(client: Client) -> None:
        await _ok(client, "add_memory", {"text": "kept before the cut", "cube": "me/cut"})
        call = asyncio.ensure_future(
            client.call_tool(
                "add_messages",
                {"messages": [{"role": "user", "content": f"turn {i}"} for i in range(500)],
                 "cube": "me/cut"},
            )
        )  # fmt: skip
        await asyncio.sleep(0.05)
        call.cancel()

    _run(home, body)  # leaving the block closes stdin and stops the server
    with MemOS(home, embedder="hashing") as mem:
        texts = [item.text for item in mem.memories("me/cut")]
        assert texts[0] == "kept before the cut"
        assert len(texts) in (1, 501)  # the batch is all in or all out
        assert mem.search("kept before the cut", k=1)[0].item.text == "kept before the cut"


def test_mcp_without_real_stdio_is_one_error_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from memos_client.cli.main import run

    monkeypatch.setenv("MEMOS_HOME", str(home))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run(["mcp"]) == 2
    assert capsys.readouterr().err.startswith("error: memos mcp speaks MCP on stdin/stdout")
