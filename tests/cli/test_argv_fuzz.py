"""Junk on the command line never crashes `memos` or `memos-registry`.

Hypothesis builds argument lists from the real command names and option strings, and from junk:
empty strings, lone dashes, undecodable bytes (the lone surrogates Python makes of them), NUL and
control characters, huge numbers, paths that do not exist or are directories, ``--help`` in odd
places. Each runs in this process, in a fresh temporary directory (``MEMOS_HOME``, the cache and
the working directory). Whatever it is given, the CLI returns an exit code; a failure is exactly
one ``error:`` line on stderr, and leaves the working directory as it was.

Nothing here reaches a network: the registry is a closed loopback port. The commands that load or
train a model (``activate``, ``consolidate``, ``generate``) are left out, and so is
``memos-registry serve``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from memos_client.cli.app import COMMANDS
from memos_client.cli.main import COMMAND_MODULES, run

ROOT = Path(__file__).resolve().parents[2]

for _module in dict.fromkeys(COMMAND_MODULES.values()):
    importlib.import_module(f"memos_client.cli.{_module}")

#: Commands that would load or train a model on input that passes their checks.
MODEL_COMMANDS = {"activate", "consolidate", "generate"}
#: Servers run until stopped: a valid junk line (`serve --no-token`) would never return. Their
#: refusals are tested in tests/serve (test_serve_refuses_bad_options, the mcp stdin check).
SERVERS = ("mcp", "serve")
FUZZED = sorted(
    path for path in COMMANDS if path[0] not in MODEL_COMMANDS and path[0] not in SERVERS
)
#: Each fuzzed command's option strings, as declared.
OPTIONS = {
    path: [
        flag
        for flags, _ in COMMANDS[path].__dict__.get("cli_args", [])
        for flag in flags
        if flag.startswith("-")
    ]
    for path in FUZZED
}

#: Placeholders replaced, in each example, by paths in its temporary directory.
MISSING, DIRECTORY, JUNK_FILE, JUNK_BUNDLE = "{missing}", "{directory}", "{file}", "{bundle}"

JUNK = [
    *("", " ", "-", "--", "-x", "--x", "--=", "=", "==", "@", "*", ".", ".."),
    *("-1", "0", "1", "99999999999999999999", "-99999999999999999999", "1e999", "NaN", "0x10"),
    *("\uff11", "\u00e9t\u00e9", "\u202e", "x" * 5000),
    *("\udcff", "a\udcffb", "\udc80\udcff", "\x00", "a\x00b", "\n", "a\nb", "\r", "\x1b[2J"),
    *("a/b", "a/b@1.0.0", "a/b>=1,<2", "a/b@", "a/b@x", "A/B", "local/default", "local", "a/b==1"),
    *("k=v", "k=NaN", "k=1e999", "=v", "k=", "#1", "2024-01-01T00:00:00Z", "now"),
    *("x.memcube", "a\udcff.memcube", "http://127.0.0.1:9", "ftp://127.0.0.1:9", "mst_x"),
    *(MISSING, DIRECTORY, JUNK_FILE, JUNK_BUNDLE, "--help", "-h"),
]
#: The junk that broke something once, drawn more often than the rest.
NASTY = ["--", "", "\udcff", "a\x00b", "a\nb", "99999999999999999999", MISSING, DIRECTORY]
#: Short text of any character but "/" (so that a relative path stays in the working directory),
#: with the characters that break things more likely than chance would make them.
TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=(), exclude_characters="/"),
        st.sampled_from(["\udcff", "\udc80", "\x00", "\n", "\x1b", "-", "=", "@", " ", "."]),
    ),
    max_size=12,
)
VALUE = st.one_of(st.sampled_from(NASTY), st.sampled_from(JUNK), TEXT)


@st.composite
def memos_argv(draw: st.DrawFn) -> list[str]:
    """A command, its options with junk values, junk positionals; now and then a mangled head."""
    path = draw(st.sampled_from(FUZZED))
    option = st.sampled_from([*OPTIONS[path], "--help", "-h"])
    group: Any = st.one_of(
        st.tuples(option),
        st.tuples(option, VALUE),
        st.tuples(VALUE),
        st.builds(lambda flag, value: (f"{flag}={value}",), option, VALUE),
    )
    rest = [token for item in draw(st.lists(group, max_size=6)) for token in item]
    head = {
        "command": list(path),
        "group alone": list(path[:1]),
        "junk first": [draw(VALUE), *path],
        "junk command": [draw(VALUE)],
    }[draw(st.sampled_from(["command"] * 6 + ["group alone", "junk first", "junk command"]))]
    return [*head, *rest]


@contextlib.contextmanager
def _sandbox(prefix: str, **env: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh directory, its ``cwd`` the working directory, and the junk paths in it; ``env``
    set (``{root}`` is the directory) and every other ``MEMOS_*`` / ``MEMSTORE_*`` variable unset,
    stdin empty. Everything is put back afterwards."""
    saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        root = Path(name)
        (root / "cwd").mkdir()
        (root / "a-directory").mkdir()
        (root / "junk.txt").write_bytes(b"\xff\xfe\x00 [cube\nname = \n")
        (root / "junk.memcube").write_bytes(b"PK\x03\x04" + b"\x00junk" * 100)
        paths = {
            MISSING: str(root / "missing" / "nothing.memcube"),
            DIRECTORY: str(root / "a-directory"),
            JUNK_FILE: str(root / "junk.txt"),
            JUNK_BUNDLE: str(root / "junk.memcube"),
        }
        for key in [k for k in os.environ if k.startswith(("MEMOS_", "MEMSTORE_"))]:
            del os.environ[key]
        os.environ.update({key: value.format(root=root) for key, value in env.items()})
        os.chdir(root / "cwd")
        sys.stdin = io.StringIO("")  # nothing may wait for input
        try:
            yield root, paths
        finally:
            sys.stdin = saved_stdin
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)


def _fill(argv: list[str], paths: dict[str, str]) -> list[str]:
    filled = []
    for token in argv:
        for placeholder, path in paths.items():
            token = token.replace(placeholder, path)
        filled.append(token)
    return filled


def _captured(call: Callable[[], object]) -> tuple[object, str, str]:
    """``call()``'s exit code, stdout and stderr.

    stdout takes undecodable bytes back (as `memos` sets it up: memos_client.cli.main.main);
    stderr is strict UTF-8, stricter than a terminal's (Python's stderr writes what it cannot
    encode as backslash escapes): the CLI must escape what it quotes itself.
    """
    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, "utf-8", "surrogateescape", write_through=True)
    stderr = io.TextIOWrapper(err, "utf-8", "strict", write_through=True)
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = call()
    stdout.flush()
    stderr.flush()
    return code, out.getvalue().decode("utf-8", "surrogateescape"), err.getvalue().decode()


def _listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def _check(argv: list[str], code: object, stderr: str, changed: bool) -> int:
    """The rule for every outcome; returns the exit code."""
    assert isinstance(code, int), (argv, code)
    assert "Traceback" not in stderr, (argv, stderr)
    if code != 0 and stderr.startswith("{"):
        # Under --json (memos --json CMD, CMD --json) an error is one JSON object (docs/cli.md).
        assert json.loads(stderr)["error"]["exit_code"] == code, (argv, code, stderr)
        assert stderr.count("\n") == 1, (argv, code, stderr)
        assert not changed, f"{argv!r} failed ({code}) and left files in the working directory"
    elif code != 0:
        assert stderr.startswith("error: "), (argv, code, stderr)
        assert stderr.endswith("\n"), (argv, code, stderr)
        assert stderr.count("\n") == 1, (argv, code, stderr)
        assert not changed, f"{argv!r} failed ({code}) and left files in the working directory"
    return code


MEMOS_ENV = {
    "MEMOS_HOME": "{root}/home",
    "MEMOS_CACHE_DIR": "{root}/cache",
    "MEMOS_INDEX_URL": "http://127.0.0.1:9",  # loopback, nothing listens: refused at once
    "HF_HUB_OFFLINE": "1",
    "MEMOS_EMBEDDER": "hashing",
    "MEMOS_TOKEN": "mst_fuzz",  # `memos login` without --token takes it instead of prompting
}


def _memos(argv: list[str]) -> tuple[int, str, str]:
    """``memos ARGV`` in a sandbox; checks the rule for failures, returns code, stdout, stderr."""
    with _sandbox("memos-argv-", **MEMOS_ENV) as (root, paths):
        argv = _fill(argv, paths)
        before = _listing(root / "cwd")
        code, stdout, stderr = _captured(functools.partial(run, argv))
        exit_code = _check(argv, code, stderr, _listing(root / "cwd") != before)
    return exit_code, stdout, stderr


@settings(
    max_examples=800,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(argv=memos_argv())
def test_memos_answers_any_argv_with_an_exit_code_and_at_most_one_error_line(
    argv: list[str],
) -> None:
    _memos(argv)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        # Undecodable bytes went on to SQLite or httpx: UnicodeEncodeError tracebacks.
        (
            ["history", "\udcff"],
            2,
            "error: memos history: argument target: '\\udcff' is not valid UTF-8 text "
            "(an undecodable byte at character 0): use UTF-8 (see `memos history --help`)\n",
        ),
        (["lifecycle", "archive", "x\udcff"], 2, "error: memos lifecycle archive: argument "),
        (["access", "\udcff"], 2, "error: memos access: argument cube: '\\udcff' is not valid"),
        (["search", "\udcff"], 2, "error: memos search: argument query: '\\udcff' is not valid"),
        # NUL in a path: "ValueError: embedded null byte" tracebacks.
        (
            ["verify", "a\x00b"],
            2,
            "error: memos verify: argument bundle: 'a\\x00b' contains a NUL character: "
            "no file name does (see `memos verify --help`)\n",
        ),
        (["sync", "\x00"], 2, "error: memos sync: argument LOCKFILE: '\\x00' contains a NUL"),
        (["lock", "-r", "\x00"], 2, "error: memos lock: argument -r/--requirements: '\\x00'"),
        # An empty path is not the current directory: `init ""` scaffolded the working directory.
        (
            ["init", "", "--name", "a/b"],
            2,
            "error: memos init: argument directory: the path is empty: give a file or directory",
        ),
        # What the error quotes no longer breaks its line, nor the strict stream it goes to.
        (["verify", "a\nb"], 1, "error: No such file or directory: a\\nb: check the path\n"),
        (
            ["inspect", "\udcff\x1b[2J"],
            1,
            "error: No such file or directory: \\udcff\\x1b[2J: check the path\n",
        ),
        (
            ["install", "--bad\nflag"],
            2,
            "error: memos install: unrecognized arguments: --bad\\nflag",
        ),
        # A value that is "--" itself reached the command as an empty list: TypeError,
        # AttributeError, or "k must be an integer from 1 to 1000, got []".
        (["plan", "x", "--tokenizer=--"], 2, "error: no tokenizer at --: pass a tokenizer.json"),
        (["lifecycle", "tick", "--model=--"], 2, "error: -- is not a model directory"),
        (["diff", "a/b", "--", "--"], 4, "error: unknown cube 'a/b'"),
        (
            ["query", "x", "-k=--"],
            2,
            "error: memos query: argument -k/--k: invalid int value: '--'",
        ),
        (["search", "x", "--limit=--"], 2, "error: memos search: argument --limit: '--' is not an"),
    ],
)
def test_junk_that_used_to_crash_is_one_error_line(
    argv: list[str], code: int, message: str
) -> None:
    got, stdout, stderr = _memos(argv)
    assert (got, stderr[: len(message)]) == (code, message)
    assert stdout == ""


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("NaN", "NaN"),
        ("-Infinity", "-Infinity"),
        ("1e999", "1e999"),
        ("[1, 1e999]", "[1, 1e999]"),
        ("[" * 100_000, "[" * 100_000),
        ("1.5", 1.5),
        ("[1, true]", [1, True]),
    ],
)
def test_metadata_that_is_not_json_is_stored_as_text(value: str, stored: object) -> None:
    # json.loads took NaN and 1e999 (inf), and SQLite then refused the row: "malformed JSON".
    code, stdout, stderr = _memos(["add", "a memory", "-m", f"k={value}", "--json"])
    assert code == 0, stderr
    assert json.loads(stdout)["metadata"] == {"k": stored}


def test_an_undecodable_file_name_is_printed_back_as_its_bytes(tmp_path: Path) -> None:
    # `memos init DIR` prints DIR: with stdout's strict error handler (a UTF-8 locale, outside
    # UTF-8 mode) a non-UTF-8 name was a UnicodeEncodeError traceback after the scaffold.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    environment |= {
        "PYTHONPATH": str(ROOT),
        "MEMOS_HOME": str(tmp_path / "home"),
        "PYTHONUTF8": "0",
        "PYTHONIOENCODING": "utf-8:strict",
    }
    result = subprocess.run(
        [sys.executable, "-m", "memos_client", "init", b"caf\xe9", "--name", "a/b"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"created caf\xe9: edit memcube.toml")
    assert (tmp_path / os.fsdecode(b"caf\xe9") / "memcube.toml").is_file()


def test_trust_remove_takes_a_key_id_not_a_file_pattern() -> None:
    # The prefix went into a glob in the trust directory: `********` removed every trusted key,
    # `../../victim` removed victim.pub outside it, and an absolute path was a traceback.
    key_id = "ab12" * 16
    with _sandbox("memos-argv-", **MEMOS_ENV) as (root, _):
        trust = root / "home" / "trust"
        trust.mkdir(parents=True)
        (trust / f"{key_id}.pub").write_text("kept")
        (root / "victim.pub").write_text("kept")
        for prefix in ("********", "../../victim", str(root / "victim"), "ab12ab1?"):
            code, stdout, stderr = _captured(functools.partial(run, ["trust", "remove", prefix]))
            assert (code, stdout) == (2, "")
            assert stderr == (
                f"error: invalid key id {prefix!r}: give a key id as `memos trust list` shows "
                "it (hex), or a unique prefix of at least 8 characters\n"
            )
        assert (trust / f"{key_id}.pub").exists()
        assert (root / "victim.pub").exists()
        code, stdout, stderr = _captured(functools.partial(run, ["trust", "remove", "AB12AB12"]))
        assert (code, stdout, stderr) == (0, f"removed {key_id}\n", "")
        assert not (trust / f"{key_id}.pub").exists()


# -- memos-registry ---------------------------------------------------------------------------

REGISTRY_HEADS = [
    [],
    ["admin"],
    ["admin", "create-token"],
    ["admin", "create-token", "--namespace", "ns"],
    ["admin", "list-tokens"],
    ["admin", "revoke-token"],
    ["admin", "revoke-token", "1"],
]
REGISTRY_OPTIONS = ["--data-dir", "--namespace", "--account", "--days", "--help", "-h"]
REGISTRY = "{registry}"  # a directory holding a registry with one token


@st.composite
def registry_argv(draw: st.DrawFn) -> list[str]:
    """An admin command (never ``serve``), its options with junk values, junk positionals."""
    option = st.sampled_from(REGISTRY_OPTIONS)
    value = st.one_of(st.sampled_from([*NASTY, REGISTRY]), st.sampled_from(JUNK), TEXT)
    group: Any = st.one_of(
        st.tuples(option, value),
        st.tuples(option),
        st.tuples(value),
        st.builds(lambda flag, text: (f"{flag}={text}",), option, value),
    )
    argv = [*draw(st.sampled_from(REGISTRY_HEADS))]
    argv += [token for item in draw(st.lists(group, max_size=5)) for token in item]
    assume("serve" not in argv)  # `--`, then `serve`, would start a server
    return argv


def _registry(argv: list[str], registry: Path) -> tuple[int, str, str]:
    from registry_server.cli import run as registry_run

    def call(argv: list[str]) -> object:
        try:
            registry_run(argv)
        except SystemExit as exit:
            return 0 if exit.code is None else exit.code  # a str fails _check: not an exit code
        return 0

    with _sandbox("registry-argv-") as (root, paths):
        argv = _fill(argv, {**paths, REGISTRY: str(registry)})
        before = _listing(root / "cwd")
        code, stdout, stderr = _captured(functools.partial(call, argv))
        exit_code = _check(argv, code, stderr, _listing(root / "cwd") != before)
    return exit_code, stdout, stderr


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("registry") / "data"
    code, _, stderr = _registry(
        ["admin", "create-token", "--namespace", "ns", "--data-dir", str(data)], data
    )
    assert code == 0, stderr
    return data


@settings(max_examples=400, deadline=None, database=None)
@given(argv=registry_argv())
def test_memos_registry_answers_any_admin_argv_with_at_most_one_error_line(
    registry: Path, argv: list[str]
) -> None:
    _registry(argv, registry)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        # An undecodable byte went on to SQLite: a UnicodeEncodeError traceback.
        (
            ["admin", "list-tokens", "--account", "\udcff", "--data-dir", REGISTRY],
            2,
            "error: memos-registry admin list-tokens: argument --account: '\\udcff' is not "
            "valid UTF-8 text (an undecodable byte at character 0): use UTF-8",
        ),
        # NUL in --data-dir: "ValueError: embedded null byte".
        (
            ["admin", "create-token", "--namespace", "ns", "--data-dir", "\x00"],
            2,
            "error: memos-registry admin create-token: argument --data-dir: '\\x00' contains",
        ),
        # "" was the working directory, where list-tokens then created an empty registry.db.
        (
            ["admin", "list-tokens", "--data-dir", ""],
            2,
            "error: memos-registry admin list-tokens: argument --data-dir: the path is empty",
        ),
        # So did any other directory that holds no registry.
        (
            ["admin", "revoke-token", "1", "--data-dir", DIRECTORY],
            1,
            "error: no registry database in ",
        ),
        # Help on stderr with exit 2; now the one line `memos cache` gives.
        (
            ["admin"],
            2,
            "error: memos-registry admin: name a command (see `memos-registry admin --help`)\n",
        ),
        (["admin", "list-tokens", "--x\ny"], 2, "error: memos-registry admin list-tokens: "),
        # "--" as the value: TypeError (timedelta of a list).
        (
            ["admin", "create-token", "--namespace", "ns", "--days=--", "--data-dir", REGISTRY],
            2,
            "error: memos-registry admin create-token: argument --days: '--' is not an integer",
        ),
        # A bad name used to be refused only after the data directory and database were made.
        (
            ["admin", "create-token", "--namespace", "ns", "--account", "A/B"],
            1,
            "error: invalid namespace 'A/B': ",
        ),
    ],
)
def test_registry_junk_that_used_to_crash_is_one_error_line(
    registry: Path, argv: list[str], code: int, message: str
) -> None:
    got, stdout, stderr = _registry(argv, registry)
    assert (got, stderr[: len(message)]) == (code, message)
    assert stdout == ""


def test_a_directory_without_a_registry_is_left_as_it_was(tmp_path: Path) -> None:
    for command in (["list-tokens"], ["revoke-token", "1"]):
        code, _, stderr = _registry(["admin", *command, "--data-dir", str(tmp_path)], tmp_path)
        assert code == 1, stderr
        assert stderr == (
            f"error: no registry database in {tmp_path} (no registry.db): pass the --data-dir "
            "the server uses (or MEMSTORE_DATA_DIR / MEMSTORE_DATABASE_URL)\n"
        )
    assert list(tmp_path.iterdir()) == []


def test_memos_registry_alone_prints_its_help(registry: Path) -> None:
    code, stdout, stderr = _registry([], registry)
    assert (code, stderr) == (0, "")
    assert stdout.startswith("usage: memos-registry [-h] [--version] COMMAND ...")
