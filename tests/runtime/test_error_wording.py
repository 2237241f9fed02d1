"""The library's errors name no CLI command (an agent or a server shows them as they are);
the CLI adds its advice from one table, by the error's code and details."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import MemosError
from memos_client.runtime import MemOS
from tests.support import run_memos


@pytest.fixture
def locked(tmp_path: Path) -> MemOS:
    mem = MemOS(tmp_path, embedder="hashing")
    mem.add_principal("alice")
    mem.add("secret", cube="me/private")
    mem.set_access("me/private", read=["local"], write=["local"])
    return mem


CALLS: list[tuple[str, Callable[[MemOS], Any]]] = [
    ("unknown_memory", lambda m: m.get("nope")),
    ("unknown_memory", lambda m: m.delete("nope")),
    ("unknown_cube", lambda m: m.memories("no/such")),
    ("unknown_cube", lambda m: m.uninstall_cube("no/such")),
    ("unknown_cube", lambda m: m.set_access("no/such", read=["*"])),
    ("unknown_principal", lambda m: m.acting_as("mallory")),
    ("access_denied", lambda m: m.acting_as("alice").search("x", cube="me/private")),
    ("usage", lambda m: m.search("x", filters={"state": "deleted"})),
]


@pytest.mark.parametrize(("code", "call"), CALLS)
def test_library_errors_name_no_command(
    locked: MemOS, code: str, call: Callable[[MemOS], Any]
) -> None:
    with pytest.raises(MemosError) as caught:
        call(locked)
    assert caught.value.code == code
    assert "`memos" not in str(caught.value)
    assert "memos " not in str(caught.value)


def test_the_cli_adds_its_advice(tmp_path: Path) -> None:
    run_memos(tmp_path, "principal", "add", "alice")
    run_memos(tmp_path, "add", "secret", "--cube", "me/private")
    run_memos(tmp_path, "access", "me/private", "--read", "local")
    denied = run_memos(tmp_path, "query", "secret", "--cube", "me/private", "--as", "alice")
    assert denied.returncode == 8
    assert "grant it with `memos access me/private --read alice`" in denied.stderr
    unknown = run_memos(tmp_path, "query", "x", "--as", "mallory")
    assert "add it with `memos principal add mallory` as 'local'" in unknown.stderr
