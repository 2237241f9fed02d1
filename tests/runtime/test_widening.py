"""Widening a plan with the neighbours of the document chunks it chose (issue 18, ``widening``).

A long document is added with ``memos add --file`` (a real process); a query hits one chunk of it.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_memos

HASHING = {"MEMOS_EMBEDDER": "hashing"}
TOPICS = [
    "harbour ferry tide rope anchor",
    "violin bow string rosin concert",
    "garden tomato soil compost seed",
    "glacier ice moraine crevasse summit",
    "bakery flour yeast oven crust",
    "railway signal track platform timetable",
    "orbit comet telescope nebula planet",
    "ledger invoice audit balance payment",
]
#: The one word of the document the query finds, in section 4 of 0..7.
NEEDLE = "zephyrquartz"
#: Only the chunk holding the needle scores above it (the hashing embedder scores others 0).
MIN_SCORE = "0.01"


def guide() -> str:
    """A Markdown document of eight sections, each its own chunk; the needle in section 4."""
    rng = random.Random(3)
    parts = ["# Field guide\n"]
    for number, topic in enumerate(TOPICS):
        words = topic.split()
        body = [rng.choice(words) for _ in range(120)]
        if number == 4:
            body[60] = NEEDLE
        parts.append(f"## Section {number}\n")
        parts.append(" ".join(body).capitalize() + ".\n")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runtime holding the guide in me/kb, added as a user adds it."""
    root = tmp_path_factory.mktemp("widening")
    (root / "guide.md").write_text(guide())
    previous = Path.cwd()
    os.chdir(root)
    try:
        added = run_memos(
            root / "home", "add", "--file", "guide.md", "--cube", "me/kb", "--json", env=HASHING
        )
    finally:
        os.chdir(previous)
    assert added.returncode == 0, added.stderr
    (document,) = json.loads(added.stdout)["documents"]
    assert document["chunks"] == len(TOPICS)
    return root / "home"


def plan(home: Path, budget: int, *extra: str) -> dict[str, Any]:
    result = run_memos(
        home,
        "plan",
        NEEDLE,
        "--budget",
        str(budget),
        "--min-score",
        MIN_SCORE,
        "--json",
        *extra,
        env=HASHING,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def sections(planned: dict[str, Any]) -> list[int]:
    """The section numbers of the planned memories, in prompt order."""
    return [
        int(memory["item"]["metadata"]["section"].rsplit(" ", 1)[-1])
        for memory in planned["memories"]
    ]


def test_a_plan_widens_the_chosen_chunk_with_its_neighbours_in_document_order(home: Path) -> None:
    planned = plan(home, 4000)
    assert planned["used_tokens"] <= 4000
    # The whole document fits: every chunk, in reading order, the hit among them.
    assert sections(planned) == list(range(len(TOPICS)))
    (hit,) = [m for m in planned["memories"] if m["neighbour_of"] is None]
    assert NEEDLE in hit["item"]["text"]
    assert hit["reason"].startswith("retrieval rank 1")
    for memory in planned["memories"]:
        if memory is not hit:
            assert memory["neighbour_of"] == hit["item"]["id"]
            assert memory["reason"].startswith(f"neighbour of {hit['item']['id']} (")
    # Placed neighbours are not also reported as left out for their score.
    assert not [line for line in planned["skipped"] if "below min_score" in line]
    text = run_memos(
        home, "plan", NEEDLE, "--budget", "4000", "--min-score", MIN_SCORE, env=HASHING
    ).stdout
    assert f"neighbour of {hit['item']['id']} (previous 1)" in text
    assert f"neighbour of {hit['item']['id']} (next 1)" in text


def test_neighbours_nearest_first_within_the_budget_and_none_when_it_does_not_allow(
    home: Path,
) -> None:
    alone = plan(home, 4000, "--no-widen")
    assert sections(alone) == [4]
    hit_tokens = alone["used_tokens"]
    # Budget for the hit and about one neighbour: the nearest one that fits, next to the hit.
    one = plan(home, hit_tokens + 230)
    assert one["used_tokens"] <= hit_tokens + 230
    assert sections(one) in ([3, 4], [4, 5])
    assert any("do not fit" in line for line in one["skipped"])
    # Budget for the hit only: no neighbour, and the plan says why.
    tight = plan(home, hit_tokens + 20)
    assert sections(tight) == [4]
    assert tight["used_tokens"] <= hit_tokens + 20
    assert [line for line in tight["skipped"] if "neighbour of" in line and "do not fit" in line]
    # Room for five neighbours: nearest first on both sides, never a hole.
    five = plan(home, hit_tokens + 5 * 230)
    got = sections(five)
    assert got == list(range(got[0], got[-1] + 1))
    assert got[0] >= 1
    assert got[-1] <= 7
    assert len(got) >= 4


def test_no_widening_while_a_relevant_memory_does_not_fit(home: Path) -> None:
    # With min_score 0 every chunk is relevant: a budget short of them all leaves no room to
    # widen with, and no relevant memory is displaced by a neighbour.
    planned = run_memos(
        home, "plan", NEEDLE, "--budget", "600", "--min-score", "0", "--json", env=HASHING
    )
    assert planned.returncode == 0, planned.stderr
    result = json.loads(planned.stdout)
    assert all(memory["neighbour_of"] is None for memory in result["memories"])
    assert "context not widened: not every relevant memory fits the budget" in result["skipped"]


def test_deleted_neighbours_are_skipped_and_other_cubes_are_never_read(
    home: Path, tmp_path: Path
) -> None:
    import shutil

    from memos_client.runtime import MemOS

    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    with MemOS(copy, embedder="hashing") as memos:
        # The same document in a cube bob may not read: its chunks have the same record ids.
        records = [item.to_record() for item in memos.memories("me/kb")]
        memos.upsert(records, cube="me/secret")
        memos.add_principal("bob")
        memos.set_access("me/kb", read=["local", "bob"])
        memos.set_access("me/secret", read=["local"])
        hit = memos.plan(NEEDLE, 4000, min_score=0.01, widen=False).memories[0].item
        previous = hit.metadata["chunk"]["prev"]
        memos.delete(f"me/kb#{previous}")
        for principal in ("local", "bob"):
            widened = memos.acting_as(principal).plan(NEEDLE, 4000, cube="me/kb", min_score=0.01)
            numbers = [int(m.item.metadata["section"][-1]) for m in widened.memories]
            # Section 3 is gone: nothing before the hit (no hole), the next ones all there;
            # me/secret's copy of section 3 is not read in its place.
            assert numbers == [4, 5, 6, 7]
            assert {m.item.cube for m in widened.memories} == {"me/kb"}
            assert (
                f"me/kb#{previous}: neighbour of {hit.id} is gone (deleted, expired or "
                "filtered out)" in widened.skipped
            )


def _chunk(
    record_id: str, text: str, prev: str | None, next_: str | None, tags: list[str]
) -> dict[str, Any]:
    return {
        "id": record_id,
        "text": text,
        "tags": tags,
        "metadata": {"chunk": {"source": "hand.md", "prev": prev, "next": next_}},
    }


def test_neighbour_links_that_loop_or_fail_the_filters_stop_the_walk(tmp_path: Path) -> None:
    """Chunk metadata is data a cube's author wrote: a link back to a chunk already planned (a
    loop) ends the walk, and a neighbour the plan's filters exclude is not read."""
    from memos_client.runtime import MemOS

    with MemOS(tmp_path / "home", embedder="hashing") as memos:
        memos.upsert(
            [
                _chunk("a", f"The {NEEDLE} lies in the cellar.", "b", "c", ["kept"]),
                _chunk("b", "Stairs lead down to it.", "a", "a", ["kept"]),
                _chunk("c", "Mind the damp walls.", "a", "b", ["other"]),
            ],
            cube="me/hand",
        )
        widened = memos.plan(NEEDLE, 1000, min_score=0.01)
        assert [m.item.source_id for m in widened.memories] == ["b", "a", "c"]
        assert [m.neighbour_of for m in widened.memories] == ["me/hand#a", None, "me/hand#a"]
        filtered = memos.plan(NEEDLE, 1000, min_score=0.01, filters={"tags": ["kept"]})
        assert [m.item.source_id for m in filtered.memories] == ["b", "a"]
        assert (
            "me/hand#c: neighbour of me/hand#a is gone (deleted, expired or filtered out)"
            in filtered.skipped
        )


def test_widening_reads_no_neighbour_of_a_cube_the_principal_may_not_read(
    tmp_path: Path,
) -> None:
    """The guard itself: handed a chunk of a cube bob may not read, widening reads nothing."""
    from memos_client.runtime import MemOS
    from memos_client.runtime.prompt_tokens import SegmentCounter, estimate_tokens
    from memos_client.runtime.scheduler import MemoryPlan
    from memos_client.runtime.widening import widen_plan

    with MemOS(tmp_path / "home", embedder="hashing") as memos:
        memos.upsert(
            [
                _chunk("z", "A door at the end of the hall.", None, "a", []),
                _chunk("a", f"The {NEEDLE} lies in the cellar.", "z", "b", []),
                _chunk("b", "Stairs lead down to it.", "a", None, []),
            ],
            cube="me/secret",
        )
        memos.add_principal("bob")
        memos.set_access("me/secret", read=["local"])
        (hit,) = memos.plan(NEEDLE, 1000, min_score=0.01, widen=False).memories
        plan = MemoryPlan(query=NEEDLE, budget_tokens=1000, memories=[hit])
        bob = memos.acting_as("bob")
        widen_plan(bob._context, plan, SegmentCounter(estimate_tokens), relevant=[hit.item.id])
        assert plan.memories == [hit]
        # Once for the chunk, though both its neighbours were to be read.
        assert plan.skipped == [
            "neighbours of me/secret#a: principal 'bob' may not read cube 'me/secret'"
        ]
        # The owner, who may, gets the neighbour.
        plan = MemoryPlan(query=NEEDLE, budget_tokens=1000, memories=[hit])
        widen_plan(memos._context, plan, SegmentCounter(estimate_tokens), relevant=[hit.item.id])
        assert [m.item.source_id for m in plan.memories] == ["z", "a", "b"]


def test_every_budget_holds_and_widened_context_has_no_holes(tmp_path: Path) -> None:
    """Over many budgets: the exact segment within the budget, the hit kept, a run of whole
    consecutive sections around it, and more budget never less context."""
    from memos_client.ingest.adding import add_documents
    from memos_client.runtime import MemOS
    from memos_client.runtime.prompt_tokens import estimate_tokens, render_segment

    document = tmp_path / "guide.md"
    document.write_text(guide())
    with MemOS(tmp_path / "home", embedder="hashing") as memos:
        add_documents(memos, [document], cube="me/kb", tags=[])
        alone = memos.plan(NEEDLE, 4000, min_score=0.01, widen=False, count_access=False)
        floor = alone.used_tokens
        previous = 0
        for budget in range(floor, floor + 1900, 23):
            plan = memos.plan(NEEDLE, budget, min_score=0.01, count_access=False)
            texts = [memory.item.text for memory in plan.prompt_memories]
            assert plan.prefill_tokens == estimate_tokens(render_segment(texts))
            assert plan.used_tokens == plan.prefill_tokens <= budget
            assert sum(memory.tokens for memory in plan.memories) == plan.prefill_tokens
            got = [int(m.item.metadata["section"][-1]) for m in plan.memories]
            assert 4 in got
            assert got == list(range(got[0], got[-1] + 1))
            assert len(got) >= previous
            previous = len(got)
        assert previous == len(TOPICS)
