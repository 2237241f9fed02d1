"""The options before the command: parsed, checked, applied (memos_client.cli.context)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memos_client.cli import context
from memos_client.cli.main import run
from tests.support import run_memos


@pytest.mark.parametrize(
    ("argv", "prefix", "rest"),
    [
        (["-q", "list"], ["-q"], ["list"]),
        (
            ["--index-url", "http://x", "-v", "show", "a/b"],
            ["--index-url", "http://x", "-v"],
            ["show", "a/b"],
        ),
        (["--index-url=http://x", "list", "--json"], ["--index-url=http://x"], ["list", "--json"]),
        (["--json"], ["--json"], []),
        (["--", "list"], [], ["--", "list"]),
        (["--cache-dir"], ["--cache-dir"], []),
    ],
)
def test_split_global_options(argv: list[str], prefix: list[str], rest: list[str]) -> None:
    assert context.split_global_options(argv) == (prefix, rest)


def test_no_color_is_no_color_for_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEMOS_HOME", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert run(["--no-color", "list"]) == 0
    assert os.environ.pop("NO_COLOR") == "1"
    assert context.current().color is False
    assert run(["list"]) == 0
    assert context.current().color is True  # each run starts afresh


def test_quiet_and_verbose_exclude_each_other_and_bad_values_are_usage_errors(
    tmp_path: Path,
) -> None:
    result = run_memos(tmp_path, "-q", "-v", "list")
    assert result.returncode == 2
    assert result.stderr.startswith("error: memos: argument -v/--verbose: not allowed with")
    result = run_memos(tmp_path, "--cache-dir", "", "list")
    assert result.returncode == 2
    assert "the path is empty" in result.stderr
    result = run_memos(tmp_path, "--bogus", "list")
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr


def test_version_and_help_before_the_command(tmp_path: Path) -> None:
    assert run_memos(tmp_path, "-q", "--version").stdout.startswith("memos ")
    shown = run_memos(tmp_path, "--help").stdout
    assert "global options (before the command)" in shown
    for option in ("--quiet", "--verbose", "--no-color", "--json", "--index-url", "--cache-dir"):
        assert option in shown
