"""Fixtures for `memos mcp` / `memos serve`: a runtime home with three principals and their
cubes, the environment of a `memos` subprocess, and a running `memos serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memos_client.runtime import MemOS
from tests.support import REPO, ServerProcess, run_memos, start_server_process


def memos_env(home: Path, **extra: str) -> dict[str, str]:
    """A `memos` subprocess's environment: this checkout, this home, the hashing embedder."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    return environment | {
        "PYTHONPATH": str(REPO),
        "MEMOS_HOME": str(home),
        "MEMOS_CACHE_DIR": str(home / "cache"),
        "MEMOS_EMBEDDER": "hashing",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """alice and bob, each with a private cube; a shared cube everyone reads."""
    root = tmp_path / "home"
    with MemOS(root, embedder="hashing") as mem:
        mem.add_principal("alice")
        mem.add_principal("bob")
        mem.add("The team standup is at 9:30 every weekday.", cube="team/notes")
        bob = mem.acting_as("bob")
        bob.add("Bob's locker code is 4471.", cube="bob/private", tags=["secret"])
        mem.set_access("bob/private", read=["bob"], write=["bob"])
        alice = mem.acting_as("alice")
        alice.add("Alice prefers tea over coffee.", cube="alice/prefs")
        mem.set_access("alice/prefs", read=["alice"], write=["alice"])
    return root


def start_serve(home: Path, *args: str) -> ServerProcess:
    """`memos serve` on a free loopback port; waits until /v1/health answers."""
    return start_server_process(
        lambda port: [sys.executable, "-m", "memos_client", "serve", "--port", str(port), *args],
        memos_env(home),
        lambda port: home.parent / f"serve-{port}.log",
        "/v1/health",
        "memos serve",
    )


def run_python(
    home: Path, *argv: str, timeout: float | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` in :func:`memos_env` of ``home``, its output captured as text."""
    return subprocess.run(
        [sys.executable, *argv],
        env=memos_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


#: What the `memos` commands of these tests add to :func:`tests.support.run_memos`'s environment.
HASHING = {"MEMOS_EMBEDDER": "hashing"}


def token(home: Path, principal: str) -> str:
    """`memos serve token --principal P`."""
    done = run_memos(home, "serve", "token", "--principal", principal, env=HASHING)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def server(home: Path) -> Iterator[ServerProcess]:
    """A running `memos serve` over ``home`` (tokens required)."""
    running = start_serve(home)
    yield running
    running.stop()
    assert "Traceback" not in running.log.read_text(), running.log.read_text()
