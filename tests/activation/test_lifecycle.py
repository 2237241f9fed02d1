"""The activation lifecycle: hot memories become a snapshot; stale and idle snapshots go."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from memos_client.runtime.activation.lifecycle_policy import (
    HOT_SNAPSHOT,
    ActivationPolicy,
    tick_activation,
)
from memos_client.runtime.activation.local_parts import activate, cube_parts

pytestmark = pytest.mark.slow

RECORDS = [
    {"id": "wifi", "text": "The office wifi password rotates every Monday."},
    {"id": "invoices", "text": "Invoices above 5000 euros need two approvals."},
    {"id": "build", "text": "The nightly build runs on hopper, a Debian machine."},
]


@pytest.fixture
def memos(tmp_path: Path) -> Iterator[Any]:
    from memos_client.runtime import MemOS

    with MemOS(tmp_path / "home", embedder="hashing") as runtime:
        runtime.install_cube("acme/ops", "1.0.0", "sha256:" + "2" * 64, RECORDS, None, [])
        runtime.lifecycle.set_policy("acme/ops", promote_after_accesses=2)
        yield runtime


def _sources(memos: Any, name: str) -> set[str]:
    parts = {part["name"]: part for part in cube_parts(memos, "acme/ops", "activation")}
    return {source["id"] for source in parts[name]["sources"]} if name in parts else set()


def test_hot_memories_are_promoted_to_a_snapshot_and_follow_the_lifecycle(
    memos: Any, tiny_model: Any
) -> None:
    for _ in range(2):
        memos.get("acme/ops#invoices")
        memos.get("acme/ops#wifi")
    report = tick_activation(memos, tiny_model)
    assert sorted(report.lifecycle["activated"]) == ["acme/ops#invoices", "acme/ops#wifi"]
    assert report.promoted == ["acme/ops:hot (2 memories, promoted to Activated by the lifecycle)"]
    assert _sources(memos, HOT_SNAPSHOT) == {"invoices", "wifi"}
    hot_path = Path(cube_parts(memos, "acme/ops", "activation")[0]["path"])
    assert hot_path.is_file()
    # Nothing changed: nothing to do.
    again = tick_activation(memos, tiny_model)
    assert again.promoted == []
    assert again.dropped == []
    # A hot memory is archived: the snapshot is stale, dropped, and rebuilt without it.
    memos.lifecycle.archive("acme/ops#wifi")
    after = tick_activation(memos, tiny_model)
    assert after.dropped == ["acme/ops:hot (stale)"]
    assert after.promoted == ["acme/ops:hot (1 memories, promoted to Activated by the lifecycle)"]
    assert _sources(memos, HOT_SNAPSHOT) == {"invoices"}
    # The last hot memory goes: so does the snapshot, file included.
    memos.lifecycle.archive("acme/ops#invoices")
    last = tick_activation(memos, tiny_model)
    assert last.dropped == ["acme/ops:hot (stale)"]
    assert last.promoted == []
    assert cube_parts(memos, "acme/ops", "activation") == []
    assert not hot_path.exists()


def test_an_unused_snapshot_ages_out(memos: Any, tiny_model: Any) -> None:
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    built = activate(tiny_model, "core", memos=memos, cube="acme/ops", built="2026-01-01T00:00:00Z")
    policy = ActivationPolicy(drop_after_idle_seconds=3600)
    kept = tick_activation(memos, tiny_model, now=long_ago + timedelta(minutes=30), policy=policy)
    assert kept.dropped == []
    dropped = tick_activation(memos, tiny_model, now=long_ago + timedelta(hours=2), policy=policy)
    assert dropped.dropped == ["acme/ops:core (idle)"]
    assert not built.path.exists()


def test_lifecycle_tick_with_a_model_builds_the_hot_snapshot(
    memos: Any,
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from memos_client.cli.main import run

    for _ in range(2):
        memos.get("acme/ops#build")
    monkeypatch.setenv("MEMOS_HOME", str(memos.home))
    monkeypatch.setenv("MEMOS_CACHE_DIR", str(tmp_path / "cache"))
    assert run(["lifecycle", "tick", "--model", str(tiny_model_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lifecycle"]["activated"] == ["acme/ops#build"]
    assert report["promoted"] == [
        "acme/ops:hot (1 memories, promoted to Activated by the lifecycle)"
    ]
    assert _sources(memos, HOT_SNAPSHOT) == {"build"}


def test_generate_lets_the_lifecycle_run_itself_within_a_compute_budget(
    memos: Any, tiny_model: Any
) -> None:
    """Issue 19: the hot snapshot was built only when someone ran `lifecycle tick --model`."""
    from memos_client.runtime.activation.executor import run_generation
    from memos_client.runtime.activation.lifecycle_policy import maintain

    for _ in range(2):
        memos.get("acme/ops#invoices")
    question = "Who approves invoices above 5000 euros?"
    # Over the compute budget: reported, not built (this request does not pay the prefill).
    small = run_generation(
        memos, tiny_model, question, max_new_tokens=1, maintenance_tokens=3, form="inject"
    )
    assert cube_parts(memos, "acme/ops", "activation") == []
    assert any("over the compute budget of 3" in line for line in small.used["maintenance"])
    # Not due again within the interval; once due, with room, the hot snapshot is built ...
    assert maintain(memos, tiny_model, max_tokens=512) is None
    later = datetime.now(UTC) + timedelta(minutes=11)
    report = maintain(memos, tiny_model, max_tokens=512, now=later)
    assert report is not None
    assert report.promoted == ["acme/ops:hot (1 memories, promoted to Activated by the lifecycle)"]
    # ... and the next generate injects it.
    result = run_generation(
        memos, tiny_model, question, max_new_tokens=1, maintenance_tokens=512, form="inject"
    )
    assert result.used["snapshots"] == ["acme/ops:hot"]


def test_tick_dry_run_with_a_model_changes_nothing(memos: Any, tiny_model: Any) -> None:
    for _ in range(2):
        memos.get("acme/ops#wifi")
    dry = tick_activation(memos, tiny_model, dry_run=True)
    assert dry.lifecycle["activated"] == ["acme/ops#wifi"]
    assert dry.promoted == []  # the memory is not Activated yet: nothing would be built now
    assert cube_parts(memos, "acme/ops", "activation") == []
    assert memos.get("acme/ops#wifi", touch=False).state == "generated"
