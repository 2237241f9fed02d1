"""Governance through the `memos` CLI: admin rights, the audit log, private files, purge."""

from __future__ import annotations

from pathlib import Path

from tests.support import run_memos

HASHING = {"MEMOS_EMBEDDER": "hashing"}


def memos(home: Path, *args: str) -> tuple[int, str, str]:
    result = run_memos(home, *args, env=HASHING)
    return result.returncode, result.stdout, result.stderr


def test_a_write_only_principal_cannot_grant_itself_read(tmp_path: Path) -> None:
    assert memos(tmp_path, "principal", "add", "alice")[0] == 0
    assert memos(tmp_path, "add", "the shared secret", "--cube", "me/shared")[0] == 0
    assert memos(tmp_path, "access", "me/shared", "--read", "local", "--write", "alice")[0] == 0
    code, _, err = memos(tmp_path, "access", "me/shared", "--read", "alice,local", "--as", "alice")
    assert code != 0
    assert err.startswith("error: principal 'alice' may not change the access policy")
    assert len(err.strip().splitlines()) == 1
    code, out, _ = memos(tmp_path, "access", "me/shared")
    assert "read: local\n" in out
    assert memos(tmp_path, "access", "me/shared", "--admin", "alice")[0] == 0
    code, out, err = memos(
        tmp_path, "access", "me/shared", "--read", "alice,local", "--as", "alice"
    )
    assert code == 0, err
    assert "read: alice,local\n" in out
