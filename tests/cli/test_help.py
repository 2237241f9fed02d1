"""`memos --help` groups its commands; help texts tell the truth; checked as snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos_client.cli.app import COMMANDS, SECTIONS
from memos_client.cli.main import register_commands
from memos_client.cli.options import DEFAULT_INDEX_URL
from memos_client.install.fetch import DEFAULT_INDEX_URL as INSTALL_DEFAULT
from tests.cli.snapshot import assert_snapshot
from tests.support import run_memos

WIDE = {"COLUMNS": "100"}


def test_every_top_level_command_has_a_section() -> None:
    register_commands([])
    top = {path[0] for path in COMMANDS}
    placed = {name for names in SECTIONS.values() for name in names}
    assert top - placed == set()


def test_top_level_help_is_grouped(tmp_path: Path) -> None:
    shown = run_memos(tmp_path, "--help", env=WIDE).stdout
    assert "other commands" not in shown
    assert "packaging (author and sign cubes):" in shown
    assert_snapshot("help", shown)


def test_the_default_index_url_help_names_the_real_resolution_order(tmp_path: Path) -> None:
    assert DEFAULT_INDEX_URL == INSTALL_DEFAULT
    shown = run_memos(tmp_path, "install", "--help", env=WIDE).stdout
    flat = " ".join(shown.split())
    assert (
        "--index-url, else $MEMOS_INDEX_URL, else the registry of the last `memos login`, "
        f"else {DEFAULT_INDEX_URL}" in flat
    )
    assert_snapshot("install-help", shown)


@pytest.mark.parametrize("command", ["uninstall", "download", "list", "sync", "tree"])
def test_command_help(tmp_path: Path, command: str) -> None:
    assert_snapshot(f"{command}-help", run_memos(tmp_path, command, "--help", env=WIDE).stdout)
