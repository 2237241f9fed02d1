"""The `memos` entry point: each command imports only its own module; help still lists them all."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memos_client.cli.app import COMMANDS
from memos_client.cli.main import COMMAND_MODULES, run

ROOT = Path(__file__).resolve().parents[2]


def _registered() -> dict[str, str]:
    """Every top-level command and group, with the module that registered it."""
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(f"memos_client.cli.{module}")
    found: dict[str, set[str]] = {}
    for path, function in COMMANDS.items():
        found.setdefault(path[0], set()).add(function.__module__)
    return {name: modules.pop() for name, modules in found.items() if len(modules) == 1}


def _unlisted(help_text: str) -> list[str]:
    """The commands a ``memos --help`` text does not list (one per line, indented)."""
    return [n for n in COMMAND_MODULES if not re.search(rf"^ +{n}(\s|$)", help_text, re.M)]


def test_command_modules_name_every_command_and_its_module() -> None:
    # A command added to a module but not to COMMAND_MODULES would still run (an unknown name
    # imports every module), only slower: this keeps the table complete and right.
    expected = {name: f"memos_client.cli.{module}" for name, module in COMMAND_MODULES.items()}
    assert _registered() == expected


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    listed = capsys.readouterr().out
    assert _unlisted(listed) == []


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
    assert "usage: memos install [-h]" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["instal"], "error: memos: no such command 'instal'; did you mean 'install'?"),
        (["--nope"], "error: memos: unrecognized arguments: --nope (see `memos --help`)"),
        (["install", "--nope"], "error: memos install: unrecognized arguments: --nope"),
        (["install", "--json=1"], "error: memos install: argument --json: ignored explicit"),
        (["search", "--limit", "0"], "error: memos search: argument --limit: 0 is not between"),
        (["cache"], "error: memos cache: name a command (see `memos cache --help`)"),
        (["cache", "purge"], "error: memos cache: no such command 'purge'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message), captured.err
    assert captured.err.count("\n") == 1, captured.err
    assert captured.out == ""


def test_memos_alone_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 0
    assert "usage: memos [-h]" in capsys.readouterr().out


def test_abbreviated_options_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse would take --off for --offline; click never did, and a typo must not act.
    assert run(["install", "--off", "a/b"]) == 2
    assert "unrecognized arguments: --off" in capsys.readouterr().err


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
    assert _unlisted(helped.stdout) == []
    refused = memos("install", "--nope")
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: memos install: unrecognized arguments: --nope (see `memos install --help`)\n"
    )


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


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    # `memos history --json | head`: the pipe closes early; no traceback, no error line.
    from memos_client.runtime import MemOS

    home = tmp_path / "home"
    with MemOS(home, embedder="hashing") as mem:
        mem.add_many([{"text": f"memory {i} " + "padding " * 20} for i in range(1500)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    env.update(MEMOS_HOME=str(home), MEMOS_EMBEDDER="hashing")
    with subprocess.Popen(
        [sys.executable, "-m", "memos_client", "history", "local/default", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.read(10)
        process.stdout.close()  # more than a pipe's buffer is still to come
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == 1
    assert stderr == b""


def test_positionals_may_follow_options() -> None:
    # As Click took them: `memos install a/b --offline c/d` installs both.
    from memos_client.cli.app import COMMANDS, arg, command, dispatch

    seen: dict[str, object] = {}

    @command("zz-probe")
    @arg("items", nargs="*")
    @arg("--flag", action="store_true")
    def probe(items: list[str], flag: bool) -> None:
        seen.update(items=items, flag=flag)

    try:
        dispatch(["zz-probe", "a", "--flag", "b"])
    finally:
        del COMMANDS[("zz-probe",)]
    assert seen == {"items": ["a", "b"], "flag": True}
