"""The budget is an invariant: injected snapshot tokens + prefilled tokens <= budget (issue 19).

``plan`` (with the model) and ``generate`` are held to it and to each other over random memories,
budgets and snapshots: what the plan says is exactly what the model is fed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

WORDS = [
    "cat",
    "luna",
    "fish",
    "door",
    "code",
    "garden",
    "train",
    "lyon",
    "platform",
    "invoice",
    "approval",
    "wifi",
    "monday",
]
QUESTION = "what is my cat called"

sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(
    lambda words: " ".join(words).capitalize() + "."
)


def _snapshot(memos: Any, model: Any, cube: str, name: str, ids: list[str]) -> None:
    """Build a KV snapshot over the memories ``ids`` and register it as a local part."""
    from memos_client.runtime.activation.local_parts import register_part
    from memos_client.runtime.activation.prompt import MemoryText
    from memos_client.runtime.activation.snapshots import build_snapshot
    from mip.models import to_document

    rows = {
        row["id"]: row for row in memos.store.query("SELECT * FROM items WHERE cube = ?", [cube])
    }
    memories = [MemoryText(rows[i]["source_id"], rows[i]["version"], rows[i]["text"]) for i in ids]
    path = memos.home / "runtime" / "activations" / f"{name}.safetensors"
    header, _ = build_snapshot(model, memories, path)
    part = {"kind": "activation", "name": name, "path": str(path), "origin": "local"}
    register_part(memos, cube, {**part, **to_document(header, omit_none=False)})


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    texts=st.lists(sentences, min_size=1, max_size=6),
    budget=st.integers(min_value=1, max_value=120),
    subsets=st.lists(st.sets(st.integers(0, 5), min_size=1), max_size=3),
    activation=st.booleans(),
)
def test_plan_and_generate_hold_the_budget_and_agree(
    tiny_model: Any, texts: list[str], budget: int, subsets: list[set[int]], activation: bool
) -> None:
    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.calibration import calibration_for
    from memos_client.runtime.activation.executor import run_generation

    with tempfile.TemporaryDirectory() as home, MemOS(Path(home), embedder="hashing") as memos:
        ids = memos.add_many([{"text": text} for text in texts], cube="me/notes")
        for number, subset in enumerate(subsets):
            chosen = [ids[i] for i in sorted(subset) if i < len(ids)]
            if chosen:
                _snapshot(memos, tiny_model, "me/notes", f"kv{number}", chosen)
        # The plan generate makes: by cost, under the model's (cached) TTFT calibration.
        costs = calibration_for(memos.home, tiny_model)
        plan = memos.plan(QUESTION, budget, model=tiny_model, costs=costs)
        assert plan.used_tokens == plan.injected_tokens + plan.prefill_tokens <= budget
        assert plan.counted_with == f"tokenizer of {tiny_model.fingerprint.model_id}"
        injected = sum(part.tokens for part in plan.activations)
        assert injected == plan.injected_tokens
        result = run_generation(
            memos, tiny_model, QUESTION, budget=budget, max_new_tokens=1, use_activation=activation
        )
        used = result.used
        assert used["memory_tokens"] == used["planned_tokens"] == plan.used_tokens <= budget
        assert used["memories"] == [memory.item.id for memory in plan.memories]
        assert used["available_snapshots"] == [part.label for part in plan.activations]
        assert used["prefilled_memories"] == [
            memory.item.source_id for memory in plan.prompt_memories
        ]
        question = len(tiny_model.encode(f"Question: {QUESTION}\nAnswer:"))
        fed = used["prefilled_tokens"] + (0 if not activation else plan.injected_tokens)
        assert fed == plan.used_tokens + question


def test_plan_with_a_model_counts_with_its_tokenizer_and_only_its_snapshots(
    tiny_model: Any, tmp_path: Path
) -> None:
    """Issue 19: `memos plan` had no --model, and listed snapshots of two models as injected."""
    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.model_adapter import load_model
    from memos_client.runtime.prompt_tokens import ESTIMATE, render_segment
    from tests.activation.conftest import build_tiny_llama

    other = load_model(build_tiny_llama(tmp_path / "other", seed=3), cache_dir=tmp_path / "fp")
    with MemOS(tmp_path / "home", embedder="hashing") as memos:
        ids = memos.add_many(
            [{"text": "My cat is called Luna."}, {"text": "The door code is 4411."}],
            cube="me/notes",
        )
        _snapshot(memos, tiny_model, "me/notes", "mine", ids[:1])
        _snapshot(memos, other, "me/notes", "theirs", ids[:1])
        plan = memos.plan(QUESTION, 500, model=tiny_model)
        assert [part.name for part in plan.activations] == ["mine"]
        assert "me/notes:theirs: built for another model" in plan.skipped
        rest = [memory.item.text for memory in plan.prompt_memories]
        exact = len(tiny_model.encode(render_segment(rest))) if rest else 0
        assert plan.prefill_tokens == exact
        estimated = memos.plan(QUESTION, 500)
        assert estimated.counted_with == ESTIMATE


def test_widened_plans_hold_the_budget_and_generate_feeds_exactly_them(
    tiny_model: Any, tmp_path: Path
) -> None:
    """Issue 18: the neighbours a plan adds to a chosen document chunk are counted exactly, with
    the model's tokenizer, and fed to the model in the plan's (document) order."""
    from memos_client.ingest.adding import add_documents
    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.executor import run_generation
    from memos_client.runtime.prompt_tokens import render_segment
    from tests.runtime.test_widening import NEEDLE, guide

    document = tmp_path / "guide.md"
    document.write_text(guide())
    with MemOS(tmp_path / "home", embedder="hashing") as memos:
        add_documents(memos, [document], cube="me/kb", tags=[])
        widths, generated = [], 0
        for budget in (60, 160, 230, 400, 700, 1000, 1500, 3000):
            plan = memos.plan(NEEDLE, budget, model=tiny_model, min_score=0.01)
            assert plan.used_tokens == plan.injected_tokens + plan.prefill_tokens <= budget
            assert sum(memory.tokens for memory in plan.memories) == plan.prefill_tokens
            widths.append(sum(memory.neighbour_of is not None for memory in plan.memories))
            texts = [memory.item.text for memory in plan.prompt_memories]
            exact = len(tiny_model.encode(render_segment(texts))) if texts else 0
            assert plan.prefill_tokens == exact
            unwidened = memos.plan(NEEDLE, budget, model=tiny_model, min_score=0.01, widen=False)
            assert all(memory.neighbour_of is None for memory in unwidened.memories)
            if budget > 230:
                continue  # the tiny model's context is 256 positions
            result = run_generation(
                memos, tiny_model, NEEDLE, budget=budget, max_new_tokens=1, min_score=0.01
            )
            used = result.used
            assert used["memory_tokens"] == used["planned_tokens"] == plan.used_tokens
            assert used["memories"] == [memory.item.id for memory in plan.memories]
            assert used["prefilled_memories"] == [
                memory.item.source_id for memory in plan.prompt_memories
            ]
            generated += len(plan.memories)
        assert generated > 0
        # More budget, more context: from none to the whole document.
        assert widths == sorted(widths)
        assert widths[0] == 0
        assert widths[-1] == 7
