"""`memos-registry` refuses bad settings with one line naming each, before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry.conftest import REPO


def _registry(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEMSTORE_")}
    environment.update({"PYTHONPATH": str(REPO), **env})
    return subprocess.run(
        [sys.executable, "-m", "registry_server", *args, "--data-dir", str(tmp_path / "data")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "MEMSTORE_S3_ADDRESSING_STYLE",
            "sideways",
            "MEMSTORE_S3_ADDRESSING_STYLE: Input should be 'auto', 'virtual' or 'path'",
        ),
        (
            "MEMSTORE_DATABASE_URL",
            "not a url",
            "MEMSTORE_DATABASE_URL: not a database URL; use e.g. postgresql+psycopg://host:5432/db",
        ),
        (
            "MEMSTORE_PRESIGN_EXPIRES_SECONDS",
            "1",
            "MEMSTORE_PRESIGN_EXPIRES_SECONDS: Input should be greater than or equal to 10",
        ),
    ],
)
@pytest.mark.parametrize(
    "command", [["serve", "--port", "1"], ["admin", "create-token", "--namespace", "ns"]]
)
def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], variable: str, value: str, message: str
) -> None:
    result = _registry(tmp_path, *command, **{variable: value})
    assert result.returncode == 2
    assert result.stderr == f"error: invalid settings: {message}\n"
    assert not (tmp_path / "data" / "registry.db").exists()
