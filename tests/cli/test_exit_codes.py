"""One exit code per meaning (memos_client.cli.exit_codes), documented; --json on every command."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from memos_client import errors
from memos_client.cli.app import COMMANDS
from memos_client.cli.exit_codes import TABLE, ExitCode, exit_code_for, markdown_table
from memos_client.cli.main import register_commands
from mip.errors import InvalidNameError
from tests.support import run_memos

ROOT = Path(__file__).resolve().parents[2]


def test_docs_show_the_table() -> None:
    text = (ROOT / "docs/cli.md").read_text("utf-8")
    shown = text.split("<!-- exit-codes:start -->\n")[1].split("<!-- exit-codes:end -->")[0]
    assert shown.strip() == markdown_table(), (
        "regenerate: python -c 'from memos_client.cli.exit_codes import markdown_table; print(markdown_table())'"
    )


def _error_classes() -> list[type[errors.MemosError]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.MemosError)
    ]


def test_the_errors_tree_shows_the_table_s_codes() -> None:
    # errors.py draws the hierarchy with each class's exit code: it must be the table's.
    drawn = dict(re.findall(r"(\w+Error)\s+exit (\d+)", errors.__doc__ or ""))
    for kind in _error_classes():
        assert kind.__name__ in drawn, f"{kind.__name__} is missing from errors.py's tree"
        assert int(drawn[kind.__name__]) == exit_code_for(kind("x")), kind.__name__
        # The table is the one place: no class carries its own exit code.
        assert "exit_code" not in vars(kind), kind.__name__


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.RegistryNotFoundError("x", code="cube_not_found"), ExitCode.NOT_FOUND),
        (errors.NotFoundError("x"), ExitCode.NOT_FOUND),
        (errors.RegistryAuthError("x"), ExitCode.REGISTRY),
        (errors.DeadlineExceededError("x"), ExitCode.NETWORK),
        (errors.SourceError("x"), ExitCode.USAGE),
        (InvalidNameError("x"), ExitCode.VERIFICATION),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (FileNotFoundError(2, "x"), ExitCode.FAILURE),
    ],
)
def test_exit_code_by_meaning(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) == code


def test_every_table_entry_has_a_meaning() -> None:
    assert set(TABLE.values()) <= set(ExitCode)


#: Commands that print no result of their own: they serve until stopped.
NO_RESULT = {("serve",), ("mcp",)}


def test_every_command_takes_json() -> None:
    register_commands([])
    missing = [
        " ".join(path)
        for path, function in COMMANDS.items()
        if path not in NO_RESULT and "json_output" not in inspect.signature(function).parameters
    ]
    assert missing == []


def test_an_error_under_json_is_a_json_object_on_stderr_with_the_same_exit_code(
    tmp_path: Path,
) -> None:
    plain = run_memos(tmp_path, "uninstall", "demo/nothing")
    assert plain.returncode == 4
    for argv in (("--json", "uninstall", "demo/nothing"), ("uninstall", "demo/nothing", "--json")):
        result = run_memos(tmp_path, *argv)
        assert (result.returncode, result.stdout) == (4, "")
        document = json.loads(result.stderr)
        assert document == {
            "error": {"code": "not_found", "message": plain.stderr[7:-1], "exit_code": 4}
        }
    # A usage error met while parsing is JSON too.
    result = run_memos(tmp_path, "--json", "install", "--bogus")
    assert result.returncode == 2
    assert json.loads(result.stderr)["error"]["code"] == "usage"
    # -v adds the stable code under the error line.
    verbose = run_memos(tmp_path, "-v", "uninstall", "demo/nothing")
    assert verbose.stderr.splitlines()[1] == "  (code not_found, exit 4: not_found)"


def test_delete_json(tmp_path: Path) -> None:
    added = run_memos(
        tmp_path, "add", "a fact", "--cube", "me/notes", env={"MEMOS_EMBEDDER": "hashing"}
    )
    item_id = added.stdout.strip()
    result = run_memos(tmp_path, "--json", "delete", item_id, env={"MEMOS_EMBEDDER": "hashing"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"deleted": item_id}


def test_a_json_error_quoting_an_undecodable_byte_is_still_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the argv fuzz: `memos list --json $'\xff'` (the byte arrives as a lone surrogate),
    # on a stderr that takes only UTF-8 (strict), as the fuzz's.
    import contextlib
    import io

    from memos_client.cli.main import run

    monkeypatch.setenv("MEMOS_HOME", str(tmp_path))
    err = io.BytesIO()
    stderr = io.TextIOWrapper(err, "utf-8", "strict", write_through=True)
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = run(["list", "--json", "\udcff"])
    assert code == 2
    error = json.loads(err.getvalue().decode())["error"]
    assert error["code"] == "usage"
    assert "unrecognized arguments: \udcff" in error["message"]
