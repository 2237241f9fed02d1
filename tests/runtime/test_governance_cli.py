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


def test_memos_audit_shows_reads_writes_and_refusals(tmp_path: Path) -> None:
    import json

    assert memos(tmp_path, "add", "door code is 4711", "--cube", "me/home")[0] == 0
    assert memos(tmp_path, "history", "me/home")[0] == 0
    assert memos(tmp_path, "principal", "add", "bob")[0] == 0
    assert memos(tmp_path, "access", "me/home", "--read", "local", "--write", "local")[0] == 0
    assert memos(tmp_path, "history", "me/home", "--as", "bob")[0] == 8
    code, out, err = memos(tmp_path, "audit", "me/home", "--json")
    assert code == 0, err
    entries = json.loads(out)
    assert [(e["principal"], e["action"], e["outcome"]) for e in entries] == [
        ("bob", "history", "denied"),
        ("local", "access.set", "ok"),
        ("local", "history", "ok"),
        ("local", "add", "ok"),
    ]
    code, out, _ = memos(tmp_path, "audit", "--since", "1h")
    assert code == 0
    assert "local history [me/home] ok" in out
    assert "principal.add" in out
    code, out, _ = memos(tmp_path, "audit", "--since", "2099-01-01T00:00:00Z")
    assert out == "no audit entries\n"
    code, _, err = memos(tmp_path, "audit", "--since", "yesterday")
    assert code == 2
    assert err.startswith("error: --since 'yesterday': give an RFC 3339 time")
    code, _, err = memos(tmp_path, "audit", "--as", "bob")
    assert code == 8
    assert "only 'local' may read the whole audit log" in err


def test_memos_home_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """The store (and its WAL), the keys and the trust store are the user's alone, even under a
    umask of 022 that leaves new files world-readable (issue #19: memos.db was 0644)."""
    import os
    import stat

    home = tmp_path / "home"
    previous = os.umask(0o022)
    try:
        assert memos(home, "add", "my door code is 4711", "--cube", "me/home")[0] == 0
        assert memos(home, "query", "door code")[0] == 0
        assert memos(home, "keygen")[0] == 0
        key = next((home / "keys").glob("*.pub"))
        assert memos(home, "trust", "add", str(key))[0] == 0
    finally:
        os.umask(previous)
    paths = [home, *home.rglob("*")]
    assert any(path.name == "memos.db" for path in paths)
    assert any(path.name == "trust" for path in paths)
    modes = {
        str(path.relative_to(tmp_path)): stat.S_IMODE(path.stat().st_mode)
        for path in paths
        if not path.name.endswith((".db-wal", ".db-shm"))  # gone once the last connection closes
    }
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (tmp_path / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_memos_purge(tmp_path: Path) -> None:
    import json

    code, out, _ = memos(tmp_path, "add", "the alarm code is 8812", "--cube", "me/home")
    item = out.strip()
    code, _, err = memos(tmp_path, "purge", item)
    assert code == 2
    assert (
        err == f"error: purging erases the text of memory {item} for good: add --yes to confirm\n"
    )
    assert memos(tmp_path, "purge")[2].startswith("error: give a memory ID or --cube")
    code, out, err = memos(tmp_path, "purge", item, "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["purged"] == [item]
    code, out, _ = memos(tmp_path, "history", item, "--json")
    assert [(v["op"], v["text"]) for v in json.loads(out)] == [("add", ""), ("purge", "")]
    code, out, _ = memos(tmp_path, "audit", "me/home")
    assert f"local purge [me/home] {item} ok" in out
    assert "8812" not in out
