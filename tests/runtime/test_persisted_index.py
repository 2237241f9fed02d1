"""The persisted vector index (ADR 0017): mapped by a fresh process, appended to by an add,
consistent after a writer dies mid-write, shared between processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from memos_client.runtime import MemOS
from tests.runtime.conftest import CountingEmbedder

TEXTS = [f"Note {i}: the meeting about topic {i} went fine." for i in range(40)]


def _columns_dir(home: Path) -> Path:
    (found,) = [p for p in (home / "runtime" / "ann").iterdir() if p.is_dir()]
    return found


def _fill(home: Path, embedder: CountingEmbedder) -> list[str]:
    with MemOS(home=home, embedder=embedder, warm=False) as mem:
        ids = mem.add_many([{"text": t} for t in TEXTS], cube="me/notes")
        ids.append(mem.add("The red kite circled above the hill.", cube="me/birds"))
        mem.search("warm up", k=1)
    return ids


def test_a_fresh_process_maps_the_index_without_rebuilding(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    ids = _fill(tmp_path, embedder)
    before = embedder.embedded
    with MemOS(home=tmp_path, embedder=embedder, warm=False) as fresh:
        hits = fresh.search("a bird of prey flying", k=1)
        assert hits[0].item.id == ids[-1]
        assert fresh.index.columns.bytes_written == 0  # nothing rebuilt, nothing rewritten
        assert isinstance(fresh.index.columns.matrix, np.memmap)
    assert embedder.embedded - before == 1  # the query only


def test_an_add_appends_one_row_and_rewrites_no_file(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    _fill(tmp_path, embedder)
    directory = _columns_dir(tmp_path)
    sizes = {p.name: p.stat().st_size for p in directory.iterdir() if p.suffix != ".json"}
    with MemOS(home=tmp_path, embedder=embedder, warm=False) as mem:
        new = mem.add("Penguins cannot fly but swim fast.", cube="me/birds")
        assert mem.search("swimming birds", k=1)[0].item.id == new
        written = mem.index.columns.bytes_written
    # One row of each column (384 float32 + rowid + state + cube) and meta.json.
    assert 384 * 4 + 13 <= written < 384 * 4 + 13 + 1024
    assert {p.name: p.stat().st_size for p in directory.iterdir() if p.suffix != ".json"} == sizes
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["count"] == len(TEXTS) + 2


def test_a_writer_killed_mid_write_leaves_a_consistent_index(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    ids = _fill(tmp_path, embedder)
    directory = _columns_dir(tmp_path)
    meta = json.loads((directory / "meta.json").read_text())
    # A writer appended garbage rows and died before committing meta.json.
    count = meta["count"]
    vectors = np.memmap(directory / "vectors.f32", dtype=np.float32, mode="r+").reshape(-1, 384)
    labels = np.memmap(directory / "labels.i64", dtype=np.int64, mode="r+")
    vectors[count : count + 5] = 1.0
    labels[count : count + 5] = 999_999
    vectors.flush()
    labels.flush()
    del vectors, labels
    (directory / f"meta.{os.getpid()}.dead.tmp").write_text("{half")
    with MemOS(home=tmp_path, embedder=embedder, warm=False) as mem:
        assert mem.search("a bird of prey flying", k=1)[0].item.id == ids[-1]
        added = mem.add("A heron waited in the reeds.", cube="me/birds")
        assert mem.search("heron in the reeds", k=1)[0].item.id == added
        assert mem.index.columns.meta.count == count + 1  # the garbage rows were overwritten


def test_an_unreadable_meta_rebuilds_from_the_store(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    ids = _fill(tmp_path, embedder)
    (_columns_dir(tmp_path) / "meta.json").write_text("not json")
    with MemOS(home=tmp_path, embedder=embedder, warm=False) as mem:
        assert mem.search("a bird of prey flying", k=1)[0].item.id == ids[-1]
        assert mem.index.columns.meta.count == len(ids)


def test_a_replaced_database_does_not_reuse_the_old_index(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    _fill(tmp_path, embedder)
    for name in ("memos.db", "memos.db-wal", "memos.db-shm"):
        (tmp_path / "runtime" / name).unlink(missing_ok=True)
    with MemOS(home=tmp_path, embedder=embedder, warm=False) as mem:
        only = mem.add("Just one memory now.", cube="me/other")
        hits = mem.search("meeting about topic", k=5)
        assert [hit.item.id for hit in hits] == [only]


def test_a_warm_index_sees_what_another_process_added_and_deleted(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    ids = _fill(tmp_path, embedder)
    warm = MemOS(home=tmp_path, embedder=embedder, ann_threshold=20)
    assert warm.search("a bird of prey flying", k=1)[0].item.id == ids[-1]
    assert warm.index._ann is not None
    # Another runtime object (as another process would) adds and deletes through the same files.
    cold = MemOS(home=tmp_path, embedder=embedder, warm=False)
    new = cold.add("An owl hunts mice at night.", cube="me/birds")
    cold.delete(ids[-1])
    cold.close()
    found = [hit.item.id for hit in warm.search("owl hunting at night", k=3)]
    assert found[0] == new
    assert ids[-1] not in [hit.item.id for hit in warm.search("a bird of prey flying", k=5)]
    # A real second process (the CLI) adds through the same files; the warm index adopts it.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "memos_client",
            "add",
            "Swifts sleep while flying.",
            "--cube",
            "me/birds",
        ],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).parents[2]),
            "MEMOS_HOME": str(tmp_path),
        },
    )
    assert "Swifts" in warm.search("birds sleeping in flight", k=1)[0].item.text
    warm.close()
    with MemOS(home=tmp_path, embedder=embedder, ann_threshold=20) as again:
        assert again.search("owl hunting at night", k=1)[0].item.id == new
        assert again.index.ann_loaded  # the saved graph, brought up to the mapped columns
