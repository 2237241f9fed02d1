"""MemLifecycle: promotion, idle archiving, expiry, restore; expired memories are never returned."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

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


def test_only_memories_placed_in_a_prompt_count_as_accesses(mem: MemOS) -> None:
    """Issue 19: three plans for the cat promoted all five memories, the door code included."""
    ids = mem.add_many(
        [
            {"text": "My cat is called Luna."},
            {"text": "The door code is 4411."},
            {"text": "We hiked up to the glacier in the Alps."},
            {"text": "The quarterly budget report is due on Friday."},
            {"text": "My sister paints watercolours in Lyon."},
        ],
        cube="me/pets",
    )
    for _ in range(3):
        mem.plan("what is my cat called?", budget=500)
    assert mem.lifecycle.tick().activated == [ids[0]]
    assert [mem.get(i, touch=False).access_count for i in ids] == [3, 0, 0, 0, 0]


def test_cold_activated_memories_are_demoted(mem: MemOS, facts: list[str]) -> None:
    """Issue 19: Activated memories were never demoted."""
    mem.lifecycle.set_policy("me/notes", demote_after_idle_seconds=3600)
    for _ in range(3):
        mem.get(facts[0])
    assert mem.lifecycle.tick().activated == [facts[0]]
    still_warm = mem.lifecycle.tick(now=utc_now() + timedelta(minutes=30))
    assert still_warm.demoted == []
    cold = mem.lifecycle.tick(now=utc_now() + timedelta(hours=2))
    assert cold.demoted == [facts[0]]
    item = mem.get(facts[0], touch=False)
    assert item.state == State.GENERATED
    assert item.access_count == 0
    # Promoted again only after as many new uses, not straight away.
    assert mem.lifecycle.tick(now=utc_now() + timedelta(hours=2)).activated == []


def test_tick_dry_run_reports_and_changes_nothing(mem: MemOS, facts: list[str]) -> None:
    for _ in range(3):
        mem.get(facts[1])
    before = [mem.history(i)[-1].seq for i in facts]
    dry = mem.lifecycle.tick(dry_run=True)
    assert dry.dry_run
    assert dry.activated == [facts[1]]
    assert mem.get(facts[1], touch=False).state == State.GENERATED
    assert [mem.history(i)[-1].seq for i in facts] == before
    assert mem.lifecycle.tick().activated == [facts[1]]


def test_lifecycle_policy_cli_shows_sets_and_refuses(tmp_path: Path) -> None:
    from tests.support import run_memos

    env = {"MEMOS_EMBEDDER": "hashing"}
    assert run_memos(tmp_path, "add", "hello", "--cube", "me/p", env=env).returncode == 0
    done = run_memos(
        tmp_path,
        "lifecycle",
        "policy",
        "me/p",
        "--ttl",
        "30d",
        "--idle",
        "off",
        "--promote-after",
        "5",
        "--demote-after",
        "12h",
        "--json",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    policy = json.loads(done.stdout)
    assert policy["ttl_seconds"] == 30 * 86400
    assert policy["archive_after_idle_seconds"] is None
    assert policy["promote_after_accesses"] == 5
    assert policy["demote_after_idle_seconds"] == 12 * 3600
    shown = run_memos(tmp_path, "lifecycle", "policy", "me/p", env=env)
    assert "promote_after_accesses: 5" in shown.stdout
    assert "archive_after_idle_seconds: off" in shown.stdout
    for args, message in [
        (["--ttl", "soon"], "'soon' is not a duration"),
        (["--promote-after", "0"], "'0' is not a count"),
    ]:
        bad = run_memos(tmp_path, "lifecycle", "policy", "me/p", *args, env=env)
        assert bad.returncode == 2
        assert f"error: {message}" in bad.stderr
    unknown = run_memos(tmp_path, "lifecycle", "policy", "me/nothing", "--ttl", "1d", env=env)
    assert unknown.returncode == 4
    assert "no cube named 'me/nothing'" in unknown.stderr
    dry = run_memos(tmp_path, "lifecycle", "tick", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would be expired" in dry.stdout
