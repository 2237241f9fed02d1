"""MemLifecycle: promotion, idle archiving, expiry, restore; expired memories are never returned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memos_client.errors import NotFoundError, UsageError
from memos_client.runtime import MemOS, State
from memos_client.runtime.memory_types import to_rfc3339, utc_now


def test_frequent_use_promotes_to_activated(mem: MemOS, facts: list[str]) -> None:
    for _ in range(3):
        mem.get(facts[2])
    report = mem.lifecycle.tick()
    assert report.activated == [facts[2]]
    assert mem.get(facts[2]).state == State.ACTIVATED
    assert mem.history(facts[2])[-1].op == "lifecycle"


def test_idle_memories_are_archived_and_can_be_restored(mem: MemOS, facts: list[str]) -> None:
    mem.lifecycle.set_policy("me/notes", archive_after_idle_seconds=3600)
    mem.get(facts[0])
    report = mem.lifecycle.tick(now=utc_now() + timedelta(hours=2))
    assert set(report.archived) == set(facts)
    assert mem.search("Luna the cat", k=10) == []
    archived = mem.search("Luna the cat", k=10, include_archived=True)
    assert archived[0].item.id == facts[0]
    assert archived[0].item.state == State.ARCHIVED
    mem.lifecycle.restore(facts[0])
    assert mem.search("Luna the cat", k=1)[0].item.id == facts[0]
    # Restoring counts as activity: the next tick does not archive it straight away.
    assert facts[0] not in mem.lifecycle.tick().archived


def test_ttl_expires_and_expired_items_are_never_returned(mem: MemOS, facts: list[str]) -> None:
    mem.lifecycle.set_policy("me/notes", ttl_seconds=60)
    report = mem.lifecycle.tick(now=utc_now() + timedelta(minutes=2))
    assert set(report.expired) == set(facts)
    assert mem.search("Luna the cat", k=10, include_archived=True) == []
    with pytest.raises(NotFoundError, match="expired"):
        mem.get(facts[0])
    assert mem.history(facts[0])[-1].state == State.EXPIRED


def test_item_expiry_hides_it_even_before_a_tick(mem: MemOS) -> None:
    past = to_rfc3339(utc_now() - timedelta(seconds=1))
    item_id = mem.add("a coupon code", cube="me/tmp", metadata={"expires_at": past})
    assert mem.search("coupon code", k=5) == []
    with pytest.raises(NotFoundError, match="expired"):
        mem.get(item_id)


def test_manifest_governance_ttl_applies_to_installed_cubes(mem: MemOS) -> None:
    mem.install_cube(
        "acme/news",
        "1.0.0",
        "sha256:" + "a" * 64,
        [{"id": "n1", "text": "Today's headline: markets are calm."}],
        governance={"ttl_seconds": 3600},
    )
    assert mem.lifecycle.policy("acme/news").ttl_seconds == 3600
    assert mem.lifecycle.tick(now=utc_now() + timedelta(hours=2)).expired == ["acme/news#n1"]


def test_policy_and_state_changes_refuse_bad_input(mem: MemOS, facts: list[str]) -> None:
    with pytest.raises(UsageError, match="unknown policy"):
        mem.lifecycle.set_policy("me/notes", colour=3)
    with pytest.raises(UsageError, match="positive integer"):
        mem.lifecycle.set_policy("me/notes", ttl_seconds=-5)
    with pytest.raises(UsageError, match="cannot restore"):
        mem.lifecycle.restore(facts[0])
    with pytest.raises(UsageError, match="timezone"):
        mem.lifecycle.tick(now=utc_now().replace(tzinfo=None))
