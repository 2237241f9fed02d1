"""Progress on stderr names the cube and the phase, only on a terminal, never under -q/--json
(memos_client.cli.output), against a real registry process, with stderr on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.install.conftest import Memos, Publisher, python_env


def _run_on_a_terminal(memos: Memos, *args: str) -> tuple[int, str, str]:
    """``memos ARGS`` with stderr on a pseudo-terminal; (exit code, stdout, terminal output)."""
    leader, follower = pty.openpty()
    env = python_env(
        MEMOS_HOME=str(memos.home),
        MEMOS_CACHE_DIR=str(memos.cache),
        MEMOS_INDEX_URL=memos.index_url,
        MEMOS_EMBEDDER="hashing",
        TERM="xterm",
        COLUMNS="120",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "memos_client", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=follower,
        cwd=memos.home.parent,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        chunks.append(data)
    assert process.stdout is not None
    with process.stdout:
        stdout = process.stdout.read().decode()
    code = process.wait(timeout=120)
    os.close(leader)
    return code, stdout, b"".join(chunks).decode("utf-8", "replace")


def _big_memories(count: int, size: int) -> list[str]:
    return [f"memory {i} " + "lorem ipsum dolor sit amet " * (size // 27) for i in range(count)]


def test_bars_name_the_cube_and_phase_and_stay_off_under_quiet_and_json(
    memos: Memos, publisher: Publisher
) -> None:
    ns = publisher.namespace
    # Over 8 MiB of parts (the download bar's threshold), 260 memories (the counter's is 200).
    publisher.publish("big", "1.0.0", memories=_big_memories(260, 36_000))
    code, _, terminal = _run_on_a_terminal(memos, "-q", "install", f"{ns}/big")
    assert code == 0, terminal
    assert "download" not in terminal
    memos.run("uninstall", f"{ns}/big", check=True)
    memos.run("cache", "clean", check=True)
    code, stdout, terminal = _run_on_a_terminal(memos, "install", f"{ns}/big")
    assert code == 0, terminal
    assert f"download {ns}/big" in terminal
    assert f"index {ns}/big" in terminal
    assert "260" in terminal  # the counter's total
    assert stdout == f"installed {ns}/big 1.0.0 (260 memories)\n"
    memos.run("uninstall", f"{ns}/big", check=True)
    code, stdout, terminal = _run_on_a_terminal(memos, "--json", "install", f"{ns}/big")
    assert code == 0, terminal
    assert terminal == ""


def test_pack_shows_progress_on_big_parts(memos: Memos, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "memories").mkdir(parents=True)
    (source / "memcube.toml").write_text(
        '[cube]\nname = "me/big"\nversion = "1.0.0"\ndescription = "d"\nlicense = "CC0-1.0"\n'
    )
    import json

    lines = [json.dumps({"text": text}) for text in _big_memories(300, 36_000)]
    (source / "memories" / "m.jsonl").write_text("\n".join(lines) + "\n")
    code, stdout, terminal = _run_on_a_terminal(
        memos, "pack", str(source), "--unsigned", "-o", str(tmp_path / "big.memcube")
    )
    assert code == 0, terminal
    assert "pack src" in terminal
    assert "MiB" in terminal  # the one size style (cli_support.units)
    assert stdout.startswith(str(tmp_path / "big.memcube"))
