"""What a home keeps of each registry's log (``$MEMOS_HOME/trust/log.json``) and a lockfile's
``[log]`` table: written, read back, and every malformed form refused naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memos_client.errors import UsageError
from memos_client.install.lockfile import LockedCube, Lockfile, LockLog, read_lockfile
from memos_client.trust.log_state import (
    LogStates,
    RegistryLog,
    VersionEvent,
    load_log_states,
    save_log_states,
)
from mip.keys import SigningKey
from mip.transparency.note import NoteVerifier

DIGEST = "sha256:" + "ab" * 32
VERIFIER = NoteVerifier.for_key("example/log", SigningKey.generate().public_key).verifier_key()


def test_log_state_round_trips(tmp_path: Path) -> None:
    assert load_log_states(tmp_path) == LogStates()
    state = RegistryLog(
        verifier_key=VERIFIER,
        checkpoint="example/log\n1\n" + "A" * 43 + "=\n\n— example/log x\n",
        version_events={"a/b 1.0.0": VersionEvent("yank", 4)},
        proofs={DIGEST: "c2sp.org/tlog-proof@v1\n"},
        watched={"a": 5},
    )
    save_log_states(LogStates({"http://r": state}), tmp_path)
    assert load_log_states(tmp_path).registries["http://r"] == state


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"registries": {"http://r": {}}}',
        '{"registries": {"http://r": {"verifier_key": "no+key"}}}',
        json.dumps({"registries": {"http://r": {"verifier_key": VERIFIER, "proofs": {"x": 1}}}}),
    ],
    ids=["not-json", "list", "no-key", "bad-key", "bad-proof"],
)
def test_a_malformed_log_state_is_refused_naming_it(text: str, tmp_path: Path) -> None:
    (tmp_path / "trust").mkdir()
    path = tmp_path / "trust" / "log.json"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_log_states(tmp_path)
    assert str(caught.value).startswith(f"{path} is not a transparency log state file (")
    assert "remove it to pin every registry's log key again" in str(caught.value)


def _lockfile(log: LockLog | None) -> Lockfile:
    cube = LockedCube("a/b", "1.0.0", DIGEST, [], {}, [])
    return Lockfile("http://r", ["a/b"], [cube], {}, log)


def test_the_lockfile_log_table_round_trips(tmp_path: Path) -> None:
    log = LockLog(VERIFIER, "example/log\n1\nroot\n\n— sig\n", {DIGEST: "proof\nlines\n"})
    path = tmp_path / "memos.lock"
    _lockfile(log).write(path)
    text = path.read_text()
    assert '\n[log]\nverifier-key = "' in text
    assert f'[log.proofs]\n"{DIGEST}" = """\nproof\nlines\n"""' in text
    assert read_lockfile(path).log == log
    _lockfile(None).write(path)
    assert "[log]" not in path.read_text()
    assert read_lockfile(path).log is None


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('log = "x"', "'log' must be a table"),
        ('[log]\nverifier-key = "k"\ncheckpoint = "c"\nextra = 1', "'log' has unknown keys extra"),
        ('[log]\nverifier-key = "k"', "'log' needs verifier-key and checkpoint strings"),
        (
            '[log]\nverifier-key = "k"\ncheckpoint = "c"\n[log.proofs]\n"sha256:00" = "p"',
            "sha256:00",
        ),
        (
            f'[log]\nverifier-key = "k"\ncheckpoint = "c"\n[log.proofs]\n"{DIGEST}" = 3',
            "'log.proofs' must be a table of manifest digest = tlog-proof",
        ),
    ],
    ids=["not-a-table", "unknown-key", "missing", "bad-digest", "bad-proof"],
)
def test_a_malformed_lockfile_log_table_is_refused(
    table: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "memos.lock"
    path.write_text(
        'version = 1\nindex-url = "http://r"\nrequested = ["a/b"]\n'
        f"{table}\n"
        f'[[cube]]\nname = "a/b"\nversion = "1.0.0"\nmanifest-digest = "{DIGEST}"\n'
    )
    with pytest.raises(UsageError) as caught:
        read_lockfile(path)
    assert problem in str(caught.value)
    assert str(caught.value).endswith("re-create it with `memos lock`")
