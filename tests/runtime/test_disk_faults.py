"""A full or failing disk is reported as such: never as "not a runtime store, move it away".

The advice to move ``memos.db`` away is right for a file that is not a database and would cost a
user their memories when the store is healthy and only the disk is full (issue #15, faults).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import run_memos


def _fill(directory: Path) -> None:
    """Write zeros under ``directory`` until its file system says ENOSPC."""
    with (directory / "filler").open("wb") as sink:
        chunk = bytes(64 * 1024)
        try:
            while True:
                sink.write(chunk)
                sink.flush()
        except OSError:
            pass
    # Whatever a partial block left free.
    for index in range(64):
        try:
            (directory / f"filler-{index}").write_bytes(bytes(1024))
        except OSError:
            break


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a disk this test can fill (mounting needs root, as CI runs)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_named_and_the_store_survives(small_disk: Path) -> None:
    home = small_disk / "home"
    first = run_memos(home, "add", "The door code is 4711", "--cube", "me/notes")
    assert first.returncode == 0, first.stderr
    _fill(small_disk)

    for args in (
        ("add", "The cat is called Mira", "--cube", "me/notes"),
        ("query", "door code", "--k", "1"),
        ("list",),
    ):
        result = run_memos(home, *args)
        assert "Traceback" not in result.stderr, result.stderr
        assert "not a MemOS runtime store" not in result.stderr
        assert "move it away" not in result.stderr
        if result.returncode != 0:
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith("error: "), line
            assert "full" in line, line

    added = run_memos(home, "add", "The cat is called Mira", "--cube", "me/notes")
    assert added.returncode != 0
    assert "disk" in added.stderr
    assert "full" in added.stderr

    for filler in small_disk.glob("filler*"):
        filler.unlink()
    query = run_memos(home, "query", "door code", "--k", "1")
    assert query.returncode == 0, query.stderr
    assert "4711" in query.stdout


def test_a_file_that_is_no_database_is_called_so(tmp_path: Path) -> None:
    store = tmp_path / "runtime" / "memos.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"this is not SQLite " * 512)
    result = run_memos(tmp_path, "list")
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert "is not a MemOS runtime store" in line
    assert "move it away" in line
    assert store.read_bytes().startswith(b"this is not SQLite")
