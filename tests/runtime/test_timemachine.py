"""The time machine: history, rollback to a change / a time / an installed version, diff."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memos_client.errors import UsageError
from memos_client.runtime import MemOS, State
from memos_client.runtime.memory_types import from_rfc3339, utc_now


def test_rollback_to_a_change_number_is_new_versions(mem: MemOS, facts: list[str]) -> None:
    point = mem.history("me/notes")[-1].seq
    mem.update(facts[0], text="Luna ran away.")
    mem.delete(facts[1])
    added = mem.add("A new note.", cube="me/notes")
    report = mem.rollback("me/notes", to=point)
    assert set(report.restored) == {facts[0], facts[1]}
    assert report.deleted == [added]
    assert mem.get(facts[0]).text.startswith("Luna is my cat")
    assert mem.get(facts[1]).state == State.GENERATED
    assert [v.op for v in mem.history(facts[0])] == ["add", "update", "rollback"]
    assert mem.search("Luna ran away", k=1)[0].item.text.startswith("Luna is my cat")
    # History is kept, so the rollback itself can be undone.
    undo_point = next(v.seq for v in mem.history("me/notes") if v.op == "delete")
    mem.rollback("me/notes", to=undo_point + 1)
    assert mem.get(added).text == "A new note."


def test_rollback_to_a_datetime(mem: MemOS, facts: list[str]) -> None:
    moment = from_rfc3339(mem.history(facts[0])[-1].at)
    mem.update(facts[0], text="changed later")
    assert mem.diff("me/notes", moment)[0].change == "changed"
    mem.rollback("me/notes", to=moment)
    assert mem.get(facts[0]).text.startswith("Luna is my cat")
    assert mem.diff("me/notes", moment) == []


def test_rollback_to_an_installed_version(mem: MemOS) -> None:
    digest = "sha256:" + "1" * 64
    mem.install_cube(
        "acme/kb", "1.0.0", digest, [{"id": "a", "text": "v1 of a"}, {"id": "b", "text": "b"}]
    )
    mem.install_cube("acme/kb", "2.0.0", "sha256:" + "2" * 64, [{"id": "a", "text": "v2 of a"}])
    diff = {entry.item_id: entry.change for entry in mem.diff("acme/kb", "1.0.0", "2.0.0")}
    assert diff == {"acme/kb#a": "changed", "acme/kb#b": "removed"}
    report = mem.rollback("acme/kb", to="1.0.0")
    assert report.installed_version == "1.0.0"
    assert mem.get("acme/kb#a").text == "v1 of a"
    assert mem.get("acme/kb#b").text == "b"
    [cube] = mem.installed_cubes()
    assert (cube.version, cube.manifest_digest, cube.memory_count) == ("1.0.0", digest, 2)
    mem.uninstall_cube("acme/kb")
    assert mem.installed_cubes() == []
    mem.rollback("acme/kb", to="2.0.0")
    assert [(c.version, c.memory_count) for c in mem.installed_cubes()] == [("2.0.0", 1)]


def test_rollback_before_the_cube_existed_is_refused(mem: MemOS, facts: list[str]) -> None:
    with pytest.raises(UsageError, match="did not exist at"):
        mem.rollback("me/notes", to=utc_now() - timedelta(days=365))
    first = mem.history("me/notes")[0].seq
    mem.add("other cube", cube="me/other")
    other_first = mem.history("me/other")[0].seq
    assert other_first > first
    with pytest.raises(UsageError, match="history starts at change"):
        mem.rollback("me/other", to=first)
    with pytest.raises(UsageError, match="in the future"):
        mem.rollback("me/notes", to=10_000)
    with pytest.raises(UsageError, match="not a change number"):
        mem.rollback("me/notes", to="yesterday")
    with pytest.raises(UsageError, match="time zone"):
        mem.rollback("me/notes", to=utc_now().replace(tzinfo=None))
    assert [v.op for v in mem.history("me/notes")] == ["add"] * len(facts)
