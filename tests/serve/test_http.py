"""`memos serve` on a free port: REST with httpx and MCP with the SDK's streamable-HTTP client;
tokens map to principals, bad input gets a 4xx with a stable code, the store survives a kill."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from memos_client.runtime import MemOS
from memos_client.serve.tools import TOOL_NAMES
from tests.serve.conftest import HASHING, start_serve, token
from tests.support import ServerProcess, run_memos, wait_until


def _client(server: ServerProcess, bearer: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return str(body["error"]["message"])


def test_every_endpoint_over_rest(home: Path, server: ServerProcess) -> None:
    with _client(server, token(home, "local")) as http:
        added = http.post("/v1/memories", json={"text": "Luna the cat naps.", "cube": "me/pets"})
        assert added.status_code == 201, added.text
        memory_id = added.json()["id"]
        hits = http.post("/v1/search", json={"query": "cat naps", "k": 3}).json()
        assert hits["results"][0]["id"] == memory_id
        turns = http.post(
            "/v1/messages",
            json={"messages": [{"role": "user", "content": "I live in Porto."}], "cube": "me/chat"},
        )
        assert turns.status_code == 201
        assert turns.json()["count"] == 1
        assert http.get(f"/v1/memories/{memory_id}").json()["text"] == "Luna the cat naps."
        changed = http.patch(f"/v1/memories/{memory_id}", json={"tags": ["pets"]})
        assert changed.json()["tags"] == ["pets"]
        plan = http.post("/v1/plan", json={"query": "what does Luna do", "budget_tokens": 64})
        assert "Luna" in plan.json()["context"]
        names = {cube["name"] for cube in http.get("/v1/cubes").json()["cubes"]}
        assert {"me/pets", "me/chat", "team/notes"} <= names
        assert http.get("/v1/cubes/me/pets").json()["memories"] == 1
        history = http.get("/v1/cubes/me/pets/history", params={"limit": 5}).json()
        first = min(version["seq"] for version in history["versions"])
        rolled = http.post("/v1/cubes/me/pets/rollback", json={"to": first}).json()
        assert rolled["cube"] == "me/pets"
        assert http.delete(f"/v1/memories/{memory_id}").json()["deleted"] is True
        _error(http.get(f"/v1/memories/{memory_id}"), 404, "unknown_memory")
        message = _error(
            http.post("/v1/install", json={"requirement": "a/b"}), 403, "install_not_allowed"
        )
        assert "--allow-install" in message


def test_tokens_map_to_principals_over_rest_and_mcp(home: Path, server: ServerProcess) -> None:
    alice, bob = token(home, "alice"), token(home, "bob")
    with _client(server, None) as anonymous:
        assert anonymous.get("/v1/health").json() == {"status": "ok"}
        _error(anonymous.post("/v1/search", json={"query": "x"}), 401, "unauthorized")
        _error(anonymous.post("/mcp", json={}), 401, "unauthorized")
    with _client(server, "memos_not-a-token") as forged:
        _error(forged.get("/v1/cubes"), 401, "unauthorized")
    with _client(server, bob) as http:
        bobs = http.post("/v1/search", json={"query": "locker code", "cube": "bob/private"})
        secret_id = bobs.json()["results"][0]["id"]
    with _client(server, alice) as http:
        _error(
            http.post("/v1/search", json={"query": "locker", "cube": "bob/private"}),
            403,
            "access_denied",
        )
        _error(http.get(f"/v1/memories/{secret_id}"), 403, "access_denied")
        _error(http.delete(f"/v1/memories/{secret_id}"), 403, "access_denied")
        _error(http.get("/v1/cubes/bob/private"), 403, "access_denied")
        everything = http.post("/v1/search", json={"query": "locker code 4471", "k": 50}).json()
        assert all(hit["cube"] != "bob/private" for hit in everything["results"])

    async def over_mcp(bearer: str) -> tuple[set[str], str, str]:
        headers = {"Authorization": f"Bearer {bearer}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as transport,
            Client(streamable_http_client(server.url + "/mcp", http_client=transport), cache=None) as client,
        ):  # fmt: skip
            tools = {tool.name for tool in (await client.list_tools()).tools}
            found = await client.call_tool("search_memories", {"query": "locker", "cube": "bob/private"})  # fmt: skip
            own = await client.call_tool("search_memories", {"query": "tea", "cube": "alice/prefs"})
            return (
                tools,
                " ".join(getattr(part, "text", "") for part in found.content),
                " ".join(getattr(part, "text", "") for part in own.content),
            )

    tools, refused, own = asyncio.run(over_mcp(alice))
    assert tools == set(TOOL_NAMES)
    assert "access_denied" in refused
    assert "tea" in own
    _, allowed, _ = asyncio.run(over_mcp(bob))
    assert "4471" in allowed


def test_every_mcp_tool_over_streamable_http(home: Path, server: ServerProcess) -> None:
    bearer = token(home, "local")

    async def session() -> None:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=60) as transport,
            Client(streamable_http_client(server.url + "/mcp", http_client=transport), cache=None) as client,
        ):  # fmt: skip

            async def ok(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result.content
                assert isinstance(result.structured_content, dict)
                return result.structured_content

            added = await ok("add_memory", {"text": "The boiler is serviced in October.", "cube": "me/home"})  # fmt: skip
            await ok("add_messages", {"messages": [{"role": "user", "content": "hi"}], "cube": "me/chat"})  # fmt: skip
            assert (await ok("search_memories", {"query": "boiler service"}))["results"][0]["id"] == added["id"]  # fmt: skip
            await ok("get_memory", {"id": added["id"]})
            await ok("update_memory", {"id": added["id"], "text": "The boiler is serviced in November."})  # fmt: skip
            assert "November" in (await ok("plan_context", {"query": "when is the boiler serviced"}))["context"]  # fmt: skip
            await ok("list_cubes", {})
            history = await ok("cube_history", {"cube": "me/home"})
            await ok("rollback_cube", {"cube": "me/home", "to": history["versions"][-1]["seq"]})
            await ok("delete_memory", {"id": added["id"]})
            refused = await client.call_tool("install_cube", {"requirement": "a/b"})
            assert refused.is_error
            resource = await client.read_resource("memos://cubes/me/home")
            assert '"me/home"' in resource.contents[0].text  # type: ignore[union-attr]

    asyncio.run(session())


def test_bad_input_gets_a_4xx_with_a_stable_code(home: Path, server: ServerProcess) -> None:
    with _client(server, token(home, "local")) as http:
        message = _error(http.post("/v1/search", json={"query": "x", "k": 10**9}), 422, "invalid_request")  # fmt: skip
        assert "k" in message
        _error(http.post("/v1/search", json={"k": "many"}), 422, "invalid_request")
        _error(http.post("/v1/search", json={"query": "x", "colour": "red"}), 422, "invalid_request")  # fmt: skip
        _error(http.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}), 422, "invalid_request")  # fmt: skip
        _error(http.post("/v1/search", json={"query": "  "}), 422, "usage")
        _error(http.post("/v1/memories", json={"text": "x", "cube": "Not A Cube!"}), 422, "usage")
        _error(http.post("/v1/memories", json={"text": "x" * 100_001}), 422, "usage")
        _error(http.post("/v1/messages", json={"messages": []}), 422, "usage")
        _error(http.get("/v1/memories/no-such-id"), 404, "unknown_memory")
        _error(http.get("/v1/cubes/no/such"), 404, "unknown_cube")
        _error(http.get("/v1/nowhere"), 404, "not_found")
        _error(http.put("/v1/search", json={}), 405, "method_not_allowed")
        big = b'{"text": "' + b"a" * (50 * 1024 * 1024) + b'"}'
        _error(
            http.post("/v1/memories", content=big, headers={"content-type": "application/json"}),
            413,
            "request_too_large",
        )

        def chunks() -> Any:
            yield b'{"text": "'
            for _ in range(50):
                yield b"a" * (1024 * 1024)
            yield b'"}'

        _error(http.post("/v1/memories", content=chunks()), 413, "request_too_large")
        # Nothing of it was written, and the server still answers.
        assert http.get("/v1/cubes").json()["cubes"][0]["name"] == "team/notes"


def test_a_client_that_disconnects_mid_call_does_not_hurt_the_server(
    home: Path, server: ServerProcess
) -> None:
    bearer = token(home, "local")
    where = urlsplit(server.url)
    for _ in range(5):
        with socket.create_connection((where.hostname, where.port)) as raw:
            raw.sendall(
                b"POST /v1/memories HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {bearer}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                + b'{"text": "half a'
            )
    with socket.create_connection(
        (where.hostname, where.port)
    ) as raw:  # one that waits for nothing
        raw.sendall(
            b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {bearer}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 17\r\n\r\n{"query": "stand'
        )
    with _client(server, bearer) as http:
        assert http.post("/v1/search", json={"query": "standup"}).json()["count"] >= 1
        assert {cube["name"] for cube in http.get("/v1/cubes").json()["cubes"]} == {"team/notes"}


def test_the_server_killed_mid_write_recovers_on_the_next_start(home: Path) -> None:
    server = start_serve(home)
    bearer = token(home, "local")
    written: list[str] = []

    def writer() -> None:
        with _client(server, bearer) as http:
            for i in range(10_000):
                try:
                    answer = http.post("/v1/memories", json={"text": f"note {i} about kites", "cube": "me/kites"})  # fmt: skip
                except httpx.HTTPError:
                    return
                written.append(answer.json()["id"])

    thread = threading.Thread(target=writer)
    thread.start()
    while len(written) < 20:
        assert thread.is_alive()
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    thread.join()
    again = start_serve(home)
    try:
        with _client(again, bearer) as http:
            hits = http.post("/v1/search", json={"query": "kites", "cube": "me/kites", "k": 1000})
            found = {hit["id"] for hit in hits.json()["results"]}
            assert set(written) <= found  # every acknowledged add survived, and is searchable
            assert http.post("/v1/memories", json={"text": "after", "cube": "me/kites"}).status_code == 201  # fmt: skip
    finally:
        again.stop()
    with MemOS(home, embedder="hashing", warm=False) as mem:
        live = len(mem.memories("me/kites"))
        assert live in (len(found) + 1, len(found) + 2)  # + "after", + at most one unacknowledged
        assert len(mem.search("kites", cube="me/kites", k=1000)) == live


def test_token_file_is_private_and_rotates(home: Path, server: ServerProcess) -> None:
    path = home / "serve" / "tokens.json"
    old = token(home, "local")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    rotated = run_memos(home, "serve", "token", "--rotate", env=HASHING)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new != old
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with _client(server, old) as http:
        _error(http.get("/v1/cubes"), 401, "unauthorized")
    with _client(server, new) as http:
        assert http.get("/v1/cubes").status_code == 200
    path.chmod(0o644)
    refused = run_memos(home, "serve", "token", env=HASHING)
    assert refused.returncode == 2
    assert "chmod 600" in refused.stderr
    unknown = run_memos(home, "serve", "token", "--principal", "mallory", env=HASHING)
    assert unknown.returncode == 4
    assert "mallory" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # The refusal itself is what is tested: nothing binds to all interfaces.
        (["--host", "0.0.0.0", "--no-token"], "refusing to serve 0.0.0.0 without tokens"),  # noqa: S104
        (["--port", "0"], "--port must be from 1 to 65535"),
        (["--tick-interval", "-1"], "--tick-interval"),
        (["--rotate"], "go with `memos serve token`"),
    ],
)
def test_serve_refuses_bad_options(home: Path, args: list[str], expected: str) -> None:
    done = run_memos(home, "serve", *args, env=HASHING)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ")
    assert expected in done.stderr


def test_a_port_in_use_is_one_error_line(home: Path, server: ServerProcess) -> None:
    port = str(urlsplit(server.url).port)
    done = run_memos(home, "serve", "--port", port, env=HASHING)
    assert done.returncode == 2
    assert "cannot listen on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_server_runs_the_lifecycle_tick_on_a_schedule(home: Path) -> None:
    server = start_serve(home, "--tick-interval", "0.5")
    try:
        with _client(server, token(home, "local")) as http:
            added = http.post(
                "/v1/memories",
                json={
                    "text": "a short-lived note",
                    "cube": "me/ttl",
                    "metadata": {"ttl_seconds": 1},
                },
            ).json()

            def expired() -> bool:
                versions = http.get("/v1/cubes/me/ttl/history").json()["versions"]
                return any(
                    v["item_id"] == added["id"]
                    and v["state"] == "expired"
                    and v["principal"] == "local"
                    for v in versions
                )

            wait_until(expired, 30, "the scheduled tick to expire the memory")
    finally:
        server.stop()
