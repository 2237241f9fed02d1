"""`memos --version` and `memos-registry --version`: the installed memstore's version, cheaply."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from cli_support import args as cli_args

ROOT = Path(__file__).resolve().parents[2]


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("module", "program"), [("memos_client", "memos"), ("registry_server", "memos-registry")]
)
def test_version_prints_the_installed_memstore(module: str, program: str) -> None:
    result = _python("-m", module, "--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{program} {version('memstore')}\n"


def test_the_installed_version_is_the_one_in_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    assert version("memstore") == declared


def test_version_imports_no_command_and_help_no_package_metadata() -> None:
    script = textwrap.dedent(
        """
        import contextlib, io, sys
        from memos_client.cli.main import run

        with contextlib.redirect_stdout(io.StringIO()):
            assert run(["--help"]) == 0
        assert "importlib.metadata" not in sys.modules
        for name in [m for m in sys.modules if m.endswith("_commands")]:
            del sys.modules[name]
        assert run(["--version"]) == 0
        assert not [m for m in sys.modules if m.endswith("_commands")]
        """
    )
    result = _python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"memos {version('memstore')}\n"


def test_without_an_installed_distribution_version_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_args, "DISTRIBUTION", "memstore-not-installed-here")
    parser = cli_args.Parser(prog="memos")
    parser.add_argument("--version", action=cli_args.VersionAction)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--version"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: memstore-not-installed-here is not installed, so it has no version: "
        "install it (`pip install -e .` in a source tree)\n"
    )
