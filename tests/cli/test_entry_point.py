"""The `memos` entry point: each command imports only its own module; help still lists them all."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memos_client.cli.app import app
from memos_client.cli.main import COMMAND_MODULES, run

ROOT = Path(__file__).resolve().parents[2]


def _registered() -> dict[str, str]:
    """Every top-level command and group, with the module that registered it."""
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(f"memos_client.cli.{module}")
    found = {}
    for command in app.registered_commands:
        assert command.callback is not None
        found[command.name or command.callback.__name__] = command.callback.__module__
    for group in app.registered_groups:
        assert group.name is not None
        assert group.typer_instance is not None
        callback = group.typer_instance.registered_commands[0].callback
        assert callback is not None
        found[group.name] = callback.__module__
    return found


def test_command_modules_name_every_command_and_its_module() -> None:
    # A command added to a module but not to COMMAND_MODULES would still run (an unknown name
    # imports every module), only slower: this keeps the table complete and right.
    expected = {name: f"memos_client.cli.{module}" for name, module in COMMAND_MODULES.items()}
    assert _registered() == expected


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    listed = capsys.readouterr().out
    missing = [name for name in COMMAND_MODULES if f" {name} " not in listed]
    assert missing == []


def test_a_command_imports_only_its_own_module() -> None:
    script = textwrap.dedent(
        """
        import sys
        from memos_client.cli.main import run

        assert run(["install", "--help"]) == 0
        loaded = sorted(m for m in sys.modules if m.endswith("_commands"))
        assert loaded == ["memos_client.cli.install_commands"], loaded
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "install [OPTIONS] [cubes]..." in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["instal"], "Error: No such command 'instal'. Did you mean 'install'"),
        (["--nope"], "Error: No such option: --nope"),
        (["install", "--nope"], "Error: No such option: --nope"),
    ],
)
def test_usage_errors_are_one_message_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_the_console_entry_point_exits_with_the_command_s_code() -> None:
    # main(): the whole process, as `memos` runs it (it skips the final garbage collections).
    def memos(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "memos_client", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    helped = memos("--help")
    assert helped.returncode == 0, helped.stderr
    assert all(f" {name} " in helped.stdout for name in COMMAND_MODULES)
    refused = memos("install", "--nope")
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("Error: No such option: --nope")


def test_the_memos_process_collects_cycles_less_often() -> None:
    # launch.main(): the console script raises the collector's first threshold (start-up cost);
    # importing the CLI, as a program or this test run does, leaves the process's own alone.
    script = textwrap.dedent(
        """
        import gc, sys
        default = gc.get_threshold()
        import memos_client.cli.main
        assert gc.get_threshold() == default, gc.get_threshold()
        sys.argv = ["memos", "cache", "--help"]
        import atexit
        atexit.register(lambda: print("threshold", gc.get_threshold()[0]))
        from memos_client.cli.launch import main
        main()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "threshold 100000" in result.stdout
