"""Snapshots and adapters built under MEMOS_HOME are private whatever the umask (#19)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from memos_client.cli.main import run

pytestmark = pytest.mark.slow


def test_a_snapshot_built_for_a_runtime_cube_is_private(
    cli_home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memos_client.runtime import MemOS

    home = cli_home
    with MemOS(home, embedder="hashing") as memos:
        memos.install_cube(
            "acme/ops", "1.0.0", "sha256:" + "1" * 64, [{"id": "a", "text": "Door code 4711."}]
        )
    previous = os.umask(0o022)
    try:
        code = run(["activate", "acme/ops", "--model", str(tiny_model_dir)])
    finally:
        os.umask(previous)
    assert code == 0, capsys.readouterr().err
    built = [home / "runtime" / "activations", *(home / "runtime" / "activations").rglob("*")]
    assert any(path.suffix == ".safetensors" for path in built)
    wrong = {
        str(path): oct(stat.S_IMODE(path.stat().st_mode))
        for path in built
        if stat.S_IMODE(path.stat().st_mode) != (0o700 if path.is_dir() else 0o600)
    }
    assert wrong == {}
