"""Installing from an agent's side: ``MemOS.install`` and the ``install_cube`` tool of
``memos mcp --allow-install`` go through `memos install`'s own workflow (verified, pinned)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from memos_client.errors import AccessDeniedError, ResolutionError
from memos_client.runtime import MemOS
from tests.install.conftest import Publisher, python_env


def test_memos_install_from_python(
    tmp_path: Path, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = publisher.namespace
    publisher.publish("base", "1.0.0", memories=["the oven runs hot"])
    publisher.publish("base", "2.0.0", memories=["the oven runs hot", "bake at 180"])
    monkeypatch.setenv("MEMOS_INDEX_URL", publisher.registry.url)
    monkeypatch.setenv("MEMOS_CACHE_DIR", str(tmp_path / "cache"))
    with MemOS(tmp_path / "home", embedder="hashing") as mem:
        installed = mem.install(f"{ns}/base>=1,<2")
        assert [(c["name"], c["version"]) for c in installed] == [(f"{ns}/base", "1.0.0")]
        assert mem.search("oven", k=1)[0].item.cube == f"{ns}/base"
        with pytest.raises(ResolutionError):
            mem.install(f"{ns}/base>=9")
        mem.add_principal("alice")
        with pytest.raises(AccessDeniedError, match="only 'local' may install"):
            mem.acting_as("alice").install(f"{ns}/base")


def test_install_cube_tool_with_allow_install(tmp_path: Path, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish("tips", "1.0.0", memories=["sharpen knives weekly"])
    env = python_env(
        MEMOS_HOME=str(tmp_path / "home"),
        MEMOS_CACHE_DIR=str(tmp_path / "cache"),
        MEMOS_INDEX_URL=publisher.registry.url,
        MEMOS_EMBEDDER="hashing",
    )
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "memos_client", "mcp", "--allow-install"], env=env
    )

    async def session() -> tuple[bool, str, bool, str]:
        async with Client(params, read_timeout_seconds=60) as client:
            done = await client.call_tool("install_cube", {"requirement": f"{ns}/tips"})
            found = await client.call_tool("search_memories", {"query": "knives", "k": 1})
            bad = await client.call_tool("install_cube", {"requirement": "not a requirement"})
            return (
                done.is_error,
                str(found.structured_content),
                bad.is_error,
                " ".join(getattr(part, "text", "") for part in bad.content),
            )

    failed, found, bad_failed, bad_text = asyncio.run(session())
    assert not failed
    assert "sharpen knives weekly" in found
    assert bad_failed
    assert "usage: invalid requirement" in bad_text
