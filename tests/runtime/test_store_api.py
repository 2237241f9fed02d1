"""The Python API's basic operations and every bad input they refuse."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from memos_client.errors import NotFoundError, RuntimeStoreError, UsageError
from memos_client.runtime import MemOS, State


def test_add_get_update_delete_keep_versions(mem: MemOS) -> None:
    item_id = mem.add("Water boils at 100 C", cube="me/facts", tags=["science"], metadata={"n": 1})
    item = mem.get(item_id)
    assert (item.text, item.tags, item.metadata, item.version) == (
        "Water boils at 100 C",
        ["science"],
        {"n": 1},
        1,
    )
    assert item.state == State.GENERATED
    updated = mem.update(item_id, text="Water boils at 100 C at sea level")
    assert updated.version == 2
    mem.delete(item_id)
    with pytest.raises(NotFoundError, match="deleted"):
        mem.get(item_id)
    versions = mem.history(item_id)
    assert [(v.version, v.op, v.state) for v in versions] == [
        (1, "add", State.GENERATED),
        (2, "update", State.GENERATED),
        (3, "delete", State.DELETED),
    ]
    assert versions[0].text == "Water boils at 100 C"


def test_record_shape_round_trips_unknown_keys(mem: MemOS) -> None:
    [item_id] = mem.add_many(
        [{"id": "r1", "text": "hello", "tags": [], "metadata": {}, "x-origin": "import"}],
        cube="me/facts",
    )
    record = mem.get(item_id).to_record()
    assert record["id"] == "r1"
    assert record["x-origin"] == "import"
    assert record["version"] == 1
    assert record["created"].endswith("Z")


def test_get_records_behaviour(mem: MemOS) -> None:
    item_id = mem.add("remember the milk", cube="me/facts")
    mem.get(item_id)
    mem.get(item_id)
    item = mem.get(item_id, touch=False)
    assert item.access_count == 2
    assert item.last_access is not None


def test_every_search_hit_is_touched_and_the_search_audited(mem: MemOS) -> None:
    ids = mem.add_many(
        [{"text": t} for t in ("milk and eggs", "more milk", "the tax return")], cube="me/facts"
    )
    hits = mem.search("milk", k=2)
    found = [hit.item.id for hit in hits]
    assert set(found) == set(ids[:2])
    for item_id in ids:
        item = mem.get(item_id, touch=False)
        assert item.access_count == (1 if item_id in found else 0)
        assert (item.last_access is not None) == (item_id in found)
    # Each get() above is a read and audited too (touch=False only skips the access count).
    entry = mem.audit_log(limit=4)[3]
    assert (entry["action"], entry["principal"], entry["outcome"]) == ("search", "local", "ok")
    assert json.loads(entry["detail"]) == {"query": "milk", "results": found}
    mem.search("milk", k=2, touch=False)  # plan() searches untouched, then records its own use
    assert mem.audit_log(limit=1)[0]["action"] == "search"
    assert mem.get(ids[0], touch=False).access_count == 1


def test_audit_log_has_reads_and_writes(mem: MemOS) -> None:
    item_id = mem.add("remember the milk", cube="me/facts")
    mem.get(item_id)
    mem.search("milk")
    actions = [entry["action"] for entry in mem.audit_log()]
    assert actions[:3] == ["search", "get", "add"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.add(""), "non-empty string"),
        (lambda m: m.add("x", cube="no-slash"), "namespace/name"),
        (lambda m: m.add("x", tags=["ok", 3]), "tags"),
        (lambda m: m.add("x", metadata={"when": object()}), "JSON"),
        # A command line's undecodable bytes arrive as lone surrogates (surrogateescape).
        (lambda m: m.add("\udcff\udcfe"), "not valid Unicode text"),
        (lambda m: m.add("x", tags=["\ud800"]), "a tag is not valid Unicode"),
        (lambda m: m.add("x", metadata={"k": "\ud800"}), "the metadata is not valid Unicode"),
        (lambda m: m.add("x", metadata={"k": float("nan")}), "not JSON-serialisable"),
        (lambda m: m.add("x", metadata={"k": [float("inf")]}), "not JSON-serialisable"),
        (lambda m: m.add_many([{"text": "a"}, "b", {"text": 3}]), "record 1.*record 2"),
        (lambda m: m.add_many([{"id": "a", "text": "a"}, {"id": "a", "text": "b"}]), "twice"),
        (lambda m: m.add("x", id=" padded"), "invalid id"),
        (lambda m: m.add("x", id="line\nbreak"), "invalid id"),
        (lambda m: m.search(""), "non-empty"),
        (lambda m: m.search("x", k=0), "k must be"),
        (lambda m: m.search("x", filters={"colour": "red"}), "unknown filter"),
        (lambda m: m.search("x", filters={"states": ["expired"]}), "never returned"),
        (lambda m: m.plan("x", budget=0), "budget"),
    ],
)
def test_bad_input_is_a_usage_error_and_writes_nothing(
    mem: MemOS, call: object, message: str
) -> None:
    before = mem.store.query("SELECT COUNT(*) FROM versions")[0][0]
    with pytest.raises(UsageError, match=message):
        call(mem)  # type: ignore[operator]
    assert mem.store.query("SELECT COUNT(*) FROM versions")[0][0] == before


def test_duplicate_id_is_refused(mem: MemOS) -> None:
    mem.add("first", id="same", cube="me/a")
    with pytest.raises(UsageError, match="already exists"):
        mem.add("second", id="same", cube="me/b")


def test_unknown_ids_and_cubes(mem: MemOS) -> None:
    with pytest.raises(NotFoundError, match="unknown memory 'nope'"):
        mem.get("nope")
    with pytest.raises(NotFoundError, match="unknown memory"):
        mem.update("nope", text="x")
    with pytest.raises(NotFoundError, match="unknown memory"):
        mem.delete("nope")
    with pytest.raises(NotFoundError, match="unknown cube 'me/none'"):
        mem.search("x", cube="me/none")
    with pytest.raises(NotFoundError, match="no memory or cube"):
        mem.history("me/none")


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "home" / "runtime" / "memos.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RuntimeStoreError, match="not a MemOS runtime store"):
        MemOS(home=tmp_path / "home", embedder="hashing")


def test_store_is_wal(mem: MemOS) -> None:
    connection = sqlite3.connect(mem.store.path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()
