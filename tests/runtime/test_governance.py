"""Governance: principals, per-cube access policies on every call, refusals logged, no leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos_client.errors import AccessDeniedError, NotFoundError, UsageError
from memos_client.runtime import MemOS
from tests.runtime.conftest import CountingEmbedder


@pytest.fixture
def shared(mem: MemOS) -> MemOS:
    """Cube team/secret readable by alice only, writable by nobody but the owner; me/public open."""
    mem.add_principal("alice")
    mem.add_principal("bob")
    mem.add("The launch code word is AURORA.", cube="team/secret")
    mem.add("The cafeteria opens at 8.", cube="me/public")
    mem.set_access("team/secret", read=["alice"], write=["local"])
    return mem


def test_unknown_principal_is_refused(tmp_path: Path, embedder: CountingEmbedder) -> None:
    with pytest.raises(NotFoundError, match="unknown principal 'mallory'"):
        MemOS(home=tmp_path, embedder=embedder, principal="mallory")
    mem = MemOS(home=tmp_path, embedder=embedder)
    with pytest.raises(NotFoundError, match="unknown principal"):
        mem.acting_as("mallory")
    with pytest.raises(UsageError, match="invalid principal name"):
        mem.acting_as("Not Valid!")
    with pytest.raises(NotFoundError, match="unknown principal"):
        mem.add("x", cube="me/x") and mem.set_access("me/x", read=["mallory"])
    mem.close()


def test_policy_is_enforced_on_every_call(shared: MemOS) -> None:
    bob = shared.acting_as("bob")
    secret_id = shared.store.query("SELECT id FROM items WHERE cube = 'team/secret'")[0][0]
    calls = [
        lambda: bob.search("code word", cube="team/secret"),
        lambda: bob.get(secret_id),
        lambda: bob.history(secret_id),
        lambda: bob.history("team/secret"),
        lambda: bob.plan("code word", cube="team/secret"),
        lambda: bob.add("overwrite", cube="team/secret"),
        lambda: bob.update(secret_id, text="x"),
        lambda: bob.delete(secret_id),
        lambda: bob.rollback("team/secret", to=1),
        lambda: bob.diff("team/secret", 1),
        lambda: bob.set_access("team/secret", read=["*"]),
        lambda: bob.add_principal("eve"),
        lambda: bob.audit_log(),
    ]
    for call in calls:
        with pytest.raises(AccessDeniedError):
            call()
    refusals = [e for e in shared.audit_log(limit=50) if e["outcome"] == "denied"]
    assert len(refusals) == len(calls)
    assert all(entry["principal"] == "bob" for entry in refusals)
    alice = shared.acting_as("alice")
    assert alice.search("code word", cube="team/secret")[0].item.cube == "team/secret"
    with pytest.raises(AccessDeniedError, match="may not write"):
        alice.add("alice writes", cube="team/secret")


def test_unscoped_search_only_sees_readable_cubes(shared: MemOS) -> None:
    bob = shared.acting_as("bob")
    hits = bob.search("launch code word AURORA", k=10)
    assert hits
    assert {hit.item.cube for hit in hits} == {"me/public"}
    plan = bob.plan("launch code word AURORA", budget=500, min_score=0.0)
    assert {memory.item.cube for memory in plan.memories} == {"me/public"}
    assert "team/secret" not in bob.cubes()


def test_installed_cube_governance_becomes_its_policy(mem: MemOS) -> None:
    mem.add_principal("bob")
    mem.install_cube(
        "acme/hr",
        "1.0.0",
        "sha256:" + "c" * 64,
        [{"id": "p", "text": "Salaries are reviewed in March."}],
        governance={
            "access": {"read": ["local"], "write": ["local"]},
            "sensitivity": "confidential",
        },
    )
    with pytest.raises(AccessDeniedError):
        mem.acting_as("bob").search("salary review", cube="acme/hr")
    with pytest.raises(AccessDeniedError):
        mem.acting_as("bob").install_cube("acme/hr", "2.0.0", "sha256:" + "d" * 64, [])
    assert mem.acting_as("bob").installed_cubes() == []
    assert [cube.name for cube in mem.installed_cubes()] == ["acme/hr"]


def test_write_is_not_grant(mem: MemOS) -> None:
    """A principal that may only write a cube cannot change its policy (issue #19)."""
    mem.add_principal("alice")
    mem.add("shared note", cube="me/shared")
    mem.set_access("me/shared", read=["local"], write=["alice", "local"])
    alice = mem.acting_as("alice")
    with pytest.raises(AccessDeniedError, match="may not change the access policy"):
        alice.set_access("me/shared", read=["alice", "local"])
    assert mem.governor.governance("me/shared")["access"]["read"] == ["local"]
    [refusal] = [e for e in mem.audit_log() if e["outcome"] == "denied"]
    assert (refusal["principal"], refusal["action"]) == ("alice", "access.set")
    mem.set_access("me/shared", admin=["alice"])
    assert alice.set_access("me/shared", read=["alice", "local"])["access"]["read"] == [
        "alice",
        "local",
    ]
    with pytest.raises(UsageError, match="cannot administer"):
        mem.set_access("me/shared", admin=["*"])


def test_the_creator_of_a_local_cube_administers_it(mem: MemOS) -> None:
    mem.add_principal("bob")
    bob = mem.acting_as("bob")
    bob.add("bob's note", cube="bob/notes")
    assert bob.set_access("bob/notes", read=["bob"])["access"] == {
        "read": ["bob"],
        "write": ["*"],
        "admin": ["bob"],
    }
    mem.add_principal("carol")
    with pytest.raises(AccessDeniedError):
        mem.acting_as("carol").set_access("bob/notes", read=["*"])


def test_every_read_path_is_audited(shared: MemOS) -> None:
    """Successful reads leave an audit entry too: history and diff expose every version's text
    (issue #19), export, get, search and plan what they return."""
    secret_id = shared.store.query("SELECT id FROM items WHERE cube = 'team/secret'")[0][0]
    alice = shared.acting_as("alice")
    alice.history(secret_id)
    alice.history("team/secret")
    alice.diff("team/secret", 1)
    alice.memories("team/secret")
    alice.get(secret_id, touch=False)
    alice.search("code word", cube="team/secret", touch=False)
    alice.plan("code word", cube="team/secret", min_score=0.0)
    # generate plans without counting, then counts (and audits) what it placed
    plan = alice.plan("code word", cube="team/secret", min_score=0.0, count_access=False)
    alice.count_placed(plan, "team/secret", "generate")
    reads = [
        entry["action"]
        for entry in reversed(shared.audit())
        if (entry["principal"], entry["outcome"]) == ("alice", "ok")
    ]
    # A plan searches first: its search is logged as well as the plan.
    assert reads == [
        "history", "history", "diff", "export", "get", "search", "search", "plan", "search",
        "generate",
    ]  # fmt: skip


def test_the_audit_log_by_cube_and_time(shared: MemOS) -> None:
    from datetime import timedelta

    from memos_client.runtime.memory_types import utc_now

    before = utc_now()
    shared.acting_as("alice").search("code word", cube="team/secret")
    entries = shared.audit("team/secret", since=before)
    assert [(e["action"], e["cube"]) for e in entries] == [("search", "team/secret")]
    assert shared.audit("team/secret", since=utc_now() + timedelta(seconds=5)) == []
    assert {e["cube"] for e in shared.audit("team/secret")} == {"team/secret"}
    with pytest.raises(AccessDeniedError, match="only 'local' may read the whole audit log"):
        shared.acting_as("alice").audit()
    with pytest.raises(AccessDeniedError, match="may not change the access policy"):
        shared.acting_as("alice").audit("team/secret")
    shared.set_access("team/secret", admin=["alice"])
    assert shared.acting_as("alice").audit("team/secret", limit=1)[0]["action"] == "access.set"
    with pytest.raises(UsageError, match="limit"):
        shared.audit(limit=0)


def test_the_store_and_its_wal_are_private_under_any_umask(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    import os
    import stat

    previous = os.umask(0o002)
    try:
        runtime = MemOS(home=tmp_path / "home", embedder=embedder)
        runtime.add("a private memory")
        runtime.search("private", k=1)
        # The store and the persisted vector index beside it (ADR 0017): files 0600, folders 0700.
        paths = sorted((tmp_path / "home" / "runtime").rglob("*"))
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in paths if path.is_file()}
        folders = {stat.S_IMODE(path.stat().st_mode) for path in paths if path.is_dir()}
        runtime.close()
    finally:
        os.umask(previous)
    assert {"memos.db", "memos.db-wal", "memos.db-shm", "vectors.f32", "meta.json"} <= set(modes)
    assert set(modes.values()) == {0o600}
    assert folders == {0o700}
    for directory in (tmp_path / "home", tmp_path / "home" / "runtime"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
