"""Search filters: metadata operators, tags any-of, several cubes (issue #19)."""

from __future__ import annotations

from typing import Any

import pytest

from memos_client.errors import AccessDeniedError, UsageError
from memos_client.runtime import MemOS


@pytest.fixture
def tasks(mem: MemOS) -> dict[str, str]:
    """Five tasks in me/tasks (priority, owner, due date), one in me/other; ids by name."""
    rows: list[tuple[str, str, list[str], dict[str, Any]]] = [
        ("a", "Fix the login bug", ["bug"], {"priority": 1, "owner": "ann", "due": "2026-01-05"}),
        ("b", "Write the release notes", ["docs"], {"priority": 2, "owner": "ben"}),
        ("c", "Fix the flaky test", ["bug", "ci"], {"priority": 3, "owner": "ann"}),
        ("d", "Plan the offsite", ["team"], {"priority": "high", "draft": True}),
        ("e", "Fix the typo in the docs", ["docs"], {"priority": 2.5, "due": "2026-03-01"}),
    ]
    ids = {}
    for name, text, tags, metadata in rows:
        ids[name] = mem.add(text, cube="me/tasks", tags=tags, metadata=metadata)
    ids["x"] = mem.add("Fix the garden fence", cube="me/other", tags=["bug"])
    ids["y"] = mem.add("Fix the secret thing", cube="me/hidden", tags=["bug"])
    return ids


def _found(mem: MemOS, tasks: dict[str, str], **options: Any) -> set[str]:
    options.setdefault("cube", "me/tasks")
    hits = mem.search("fix write plan task", k=20, **options)
    names = {item_id: name for name, item_id in tasks.items()}
    return {names[hit.item.id] for hit in hits}


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"priority": {"$lt": 2}}, {"a"}),
        ({"priority": {"$lte": 2}}, {"a", "b"}),
        ({"priority": {"$gt": 2}}, {"c", "e"}),
        ({"priority": {"$gte": 2, "$lt": 3}}, {"b", "e"}),
        ({"priority": {"$eq": "high"}}, {"d"}),
        ({"priority": 2}, {"b"}),
        ({"owner": {"$ne": "ann"}}, {"b", "d", "e"}),
        ({"owner": {"$in": ["ben", "carl"]}}, {"b"}),
        ({"due": {"$exists": True}}, {"a", "e"}),
        ({"due": {"$exists": False}, "owner": "ann"}, {"c"}),
        ({"due": {"$lt": "2026-02-01"}}, {"a"}),
        ({"draft": True}, {"d"}),
    ],
)
def test_metadata_operators(
    mem: MemOS, tasks: dict[str, str], metadata: dict[str, Any], expected: set[str]
) -> None:
    assert _found(mem, tasks, filters={"metadata": metadata}) == expected


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"priority": {"$lt": [2]}}, "priority: $lt takes a string or number, got [2]"),
        ({"priority": {"$lt": True}}, "priority: $lt takes a string or number"),
        ({"priority": {"$regex": "h.*"}}, "priority: unknown operator '$regex'"),
        ({"priority": {}}, "priority: no operator"),
        ({"owner": {"$in": []}}, "owner: $in takes a non-empty list"),
        ({"owner": {"$exists": "yes"}}, "owner: $exists takes true or false"),
        ({"owner": ["ann"]}, "owner: $eq takes a string, number or boolean"),
        ({"owner": float("nan")}, "owner: $eq takes"),
        ({'a"b': 1}, "a field name is printable text"),
    ],
)
def test_bad_metadata_filters_are_one_clear_error(
    mem: MemOS, tasks: dict[str, str], metadata: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match="invalid metadata filter: ") as raised:
        mem.search("fix", filters={"metadata": metadata})
    assert message in str(raised.value)


def test_every_problem_is_reported_together(mem: MemOS) -> None:
    with pytest.raises(UsageError) as raised:
        mem.search("fix", filters={"metadata": {"a": {"$lt": []}, "b": {"$nope": 1}}})
    assert "a: $lt" in str(raised.value)
    assert "b: unknown operator" in str(raised.value)


def test_tags_all_of_and_any_of(mem: MemOS, tasks: dict[str, str]) -> None:
    assert _found(mem, tasks, filters={"tags": ["bug", "ci"]}) == {"c"}
    assert _found(mem, tasks, filters={"tags_any": ["ci", "team"]}) == {"c", "d"}
    assert _found(mem, tasks, filters={"tags_any": ["docs"], "tags": ["docs"]}) == {"b", "e"}
    with pytest.raises(UsageError, match="tags_any"):
        mem.search("fix", filters={"tags_any": [1]})


def test_several_cubes_in_one_search(mem: MemOS, tasks: dict[str, str]) -> None:
    both = _found(mem, tasks, cube=["me/tasks", "me/other"], filters={"tags": ["bug"]})
    assert both == {"a", "c", "x"}
    entry = mem.audit(limit=1)[0]
    assert entry["cube"] is None
    assert '"cubes": ["me/other", "me/tasks"]' in entry["detail"]
    mem.add_principal("bob")
    mem.set_access("me/hidden", read=["local"])
    with pytest.raises(AccessDeniedError):
        mem.acting_as("bob").search("fix", cube=["me/tasks", "me/hidden"])
    with pytest.raises(UsageError, match="non-empty list of cube names"):
        mem.search("fix", cube=[])
    plan = mem.plan("fix the bug", cube=["me/tasks", "me/other"], filters={"tags": ["bug"]})
    assert {memory.item.cube for memory in plan.memories} == {"me/tasks", "me/other"}
