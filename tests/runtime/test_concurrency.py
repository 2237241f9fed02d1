"""Two processes adding and searching at once; a process killed in the middle of a batch add."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memos_client.runtime import MemOS

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from memos_client.runtime import MemOS
home, tag, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
mem = MemOS(home=home)
for round_ in range(rounds):
    mem.add_many(
        [{"text": f"{tag} wrote note {round_}-{i} in the garden", "tags": [tag]} for i in range(5)],
        cube="shared/notes",
    )
    hits = mem.search(f"{tag} garden note", k=5)
    assert hits, "a search right after a write found nothing"
print("done", flush=True)
"""

BATCHER = """
import sys
from memos_client.runtime import MemOS
mem = MemOS(home=sys.argv[1], embedder="hashing")
batch = 0
while True:
    mem.add_many(
        [{"text": f"batch {batch} record {i} " + "filler " * 20} for i in range(2000)],
        cube="bulk/import",
    )
    batch += 1
    print(f"committed {batch}", flush=True)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


@pytest.mark.slow
def test_two_processes_adding_and_searching_lose_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    MemOS(home=home, embedder="hashing").close()  # create the store once, up front
    rounds = 8
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), tag, str(rounds)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("alpha", "beta")
    ]
    # Every worker's pipes are read (and closed) before anything is asserted: a failed first
    # worker must not leave the second one's open, to warn in a later test.
    finished = [(worker, *worker.communicate(timeout=240)) for worker in workers]
    for worker, out, err in finished:
        assert worker.returncode == 0, err
        assert "database is locked" not in err
        assert out.strip() == "done"
    mem = MemOS(home=home)
    assert mem.store.query("SELECT COUNT(*) FROM items")[0][0] == 2 * rounds * 5
    assert mem.store.query("SELECT COUNT(*) FROM versions")[0][0] == 2 * rounds * 5
    for tag in ("alpha", "beta"):
        tagged = mem.search("garden note", k=1000, filters={"tags": [tag]})
        assert len(tagged) == rounds * 5
    mem.close()


def test_a_kill_during_a_batch_add_leaves_the_store_consistent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    child = subprocess.Popen(
        [sys.executable, "-c", BATCHER, str(home)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 120
    committed = 0
    while committed < 2 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        committed = int(line.split()[1])
    # The child is now inside its next batch: embedding or writing it.
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert child.stderr is not None
    child.stderr.close()
    assert committed == 2, "the child never committed two batches"
    mem = MemOS(home=home, embedder="hashing")
    items = mem.store.query("SELECT COUNT(*) FROM items")[0][0]
    assert items % 2000 == 0
    assert items >= 4000
    assert mem.store.query("SELECT COUNT(*) FROM versions")[0][0] == items
    assert mem.store.query("PRAGMA integrity_check")[0][0] == "ok"
    mem.store.query("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")
    assert (
        mem.store.query("SELECT COUNT(*) FROM items_fts WHERE items_fts MATCH 'filler'")[0][0]
        == items
    )
    assert len(mem.search("batch 1 record 7", k=3)) == 3
    mem.add("still writable", cube="bulk/import")
    mem.close()
