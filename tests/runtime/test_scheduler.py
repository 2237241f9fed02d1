"""MemScheduler: memories within a token budget, activation and adapter parts, with reasons."""

from __future__ import annotations

from pathlib import Path

from memos_client.runtime import MemOS
from memos_client.runtime.embedding.minilm import minilm_model_dir
from memos_client.runtime.prompt_tokens import ESTIMATE, render_segment
from memos_client.runtime.scheduler import PLAN_MIN_SCORE
from tests.runtime.conftest import CountingEmbedder


def test_plan_fits_the_budget_with_the_models_tokenizer(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    mem = MemOS(home=tmp_path, embedder=embedder, tokenizer=str(minilm_model_dir()))
    mem.add_many(
        [{"text": f"Fact {i}: the train to Lyon leaves from platform {i}."} for i in range(8)],
        cube="me/trains",
    )
    plan = mem.plan("which platform for the Lyon train", budget=40)
    assert plan.memories
    assert plan.used_tokens <= 40
    assert plan.used_tokens == plan.prefill_tokens == sum(m.tokens for m in plan.memories)
    texts = [memory.item.text for memory in plan.memories]
    # Counted as the model is fed: one segment (header + bullets), encoded as one text.
    assert plan.used_tokens == mem.count_tokens(render_segment(texts))
    tokens = mem.count_tokens(render_segment(texts[:1]))
    assert plan.memories[0].tokens == tokens
    assert "retrieval rank 1" in plan.memories[0].reason
    assert plan.counted_with == "the configured tokenizer"
    assert any("do not fit" in reason for reason in plan.skipped)
    assert plan.to_json()["memories"][0]["tokens"] == tokens
    mem.close()


def test_plan_updates_behaviour_counters(mem: MemOS, facts: list[str]) -> None:
    plan = mem.plan("Luna the cat", budget=30)
    chosen = plan.memories[0].item.id
    assert mem.get(chosen, touch=False).access_count == 1


def _fingerprint() -> dict[str, object]:
    return {
        "model_id": "tiny",
        "architecture": "LlamaForCausalLM",
        "config_sha256": "1" * 64,
        "tokenizer_sha256": "2" * 64,
        "dtype": "F32",
        "num_layers": 2,
        "num_attention_heads": 4,
        "num_kv_heads": 2,
        "head_dim": 8,
        "hidden_size": 32,
        "vocab_size": 100,
    }


def test_plan_picks_fresh_kv_snapshots_and_adapters(mem: MemOS) -> None:
    parts = [
        {
            "name": "kv-paris",
            "kind": "activation",
            "path": "/blobs/kv1",
            "model": _fingerprint(),
            "num_tokens": 9,
            "sources": [{"id": "paris", "version": 1}],
        },
        {
            "name": "kv-stale",
            "kind": "activation",
            "path": "/blobs/kv2",
            "model": _fingerprint(),
            "num_tokens": 9,
            "sources": [{"id": "paris", "version": 7}],
        },
        {
            "name": "kv-other",
            "kind": "activation",
            "path": "/blobs/kv3",
            "model": _fingerprint(),
            "num_tokens": 9,
            "sources": [{"id": "rome", "version": 1}],
        },
        {
            "name": "lora",
            "kind": "parameter",
            "path": "/blobs/lora",
            "base_model": _fingerprint(),
            "adapter_config": {"peft_type": "LORA", "r": 4},
        },
    ]
    mem.install_cube(
        "acme/geo",
        "1.0.0",
        "sha256:" + "e" * 64,
        [
            {"id": "paris", "text": "Paris is the capital of France."},
            {"id": "rome", "text": "Rome is the capital of Italy."},
        ],
        parts=parts,
    )
    plan = mem.plan("capital of France", budget=12, cube="acme/geo", use_adapters=False)
    assert [m.item.source_id for m in plan.memories] == ["paris"]
    assert [p.name for p in plan.activations] == ["kv-paris"]
    assert plan.activations[0].path == "/blobs/kv1"
    assert "covers 1 chosen" in plan.activations[0].reason
    assert plan.memories[0].form == "snapshot"
    assert plan.used_tokens == plan.injected_tokens == 9
    assert plan.counted_with == ESTIMATE
    assert any("kv-stale: stale" in reason for reason in plan.skipped)
    assert any("lora: adapters are switched off" in reason for reason in plan.skipped)
    with_adapter = mem.plan("capital of France", budget=12, cube="acme/geo")
    assert [p.name for p in with_adapter.adapters] == ["lora"]
    # The base model's keys and values are not the adapted model's: no snapshot with it.
    assert with_adapter.activations == []
    assert any("kv-paris: an adapter" in reason for reason in with_adapter.skipped)
    from mip.models import ModelFingerprint, from_document

    other = from_document({**_fingerprint(), "num_layers": 3}, ModelFingerprint).digest
    mismatched = mem.plan("capital of France", budget=12, cube="acme/geo", model_digest=other)
    assert mismatched.activations == []
    assert mismatched.adapters == []
    assert any("another model" in reason for reason in mismatched.skipped)


def test_a_snapshot_counts_against_the_budget_in_full(mem: MemOS) -> None:
    """Issue 19: an 80-token snapshot under --budget 20 was planned in and then fed whole."""
    sources = [{"id": f"m{i}", "version": 1} for i in range(6)]
    records = [{"id": f"m{i}", "text": f"Fact {i}: my cat Luna likes fish {i}."} for i in range(6)]
    part = {
        "name": "kv-all",
        "kind": "activation",
        "path": "/blobs/kv",
        "model": _fingerprint(),
        "num_tokens": 80,
        "sources": sources,
    }
    mem.install_cube("acme/cat", "1.0.0", "sha256:" + "c" * 64, records, parts=[part])
    small = mem.plan("what is my cat called", budget=20, cube="acme/cat")
    assert small.activations == []
    assert small.used_tokens <= 20
    assert small.used_tokens == small.prefill_tokens
    assert any("kv-all: injecting its 80 tokens would exceed" in r for r in small.skipped)
    large = mem.plan("what is my cat called", budget=200, cube="acme/cat")
    assert [p.name for p in large.activations] == ["kv-all"]
    assert large.injected_tokens == 80
    assert large.used_tokens == 80 + large.prefill_tokens <= 200
    assert all(m.form == "snapshot" and m.tokens == 0 for m in large.memories)


PETS = [
    "My cat is called Luna.",
    "The door code is 4411.",
    "We hiked up to the glacier in the Alps.",
    "The quarterly budget report is due on Friday.",
    "My sister paints watercolours in Lyon.",
]


def test_scores_are_calibrated_so_nothing_relevant_is_recognisable(mem: MemOS) -> None:
    """Issue 19: the best semantic-only hit always scored 0.300, for "feline" and gibberish."""
    mem.add_many([{"text": text} for text in PETS], cube="me/pets")
    feline = mem.search("feline", k=5, touch=False)
    gibberish = mem.search("qwertyuiop asdfgh", k=5, touch=False)
    assert feline[0].item.text == PETS[0]
    assert feline[0].score != gibberish[0].score
    assert gibberish[0].score < PLAN_MIN_SCORE < feline[0].score
    assert all(0.0 <= hit.score <= 1.0 for hit in [*feline, *gibberish])
    assert mem.search("qwertyuiop asdfgh", k=5, min_score=PLAN_MIN_SCORE, touch=False) == []
    plan = mem.plan("qwertyuiop asdfgh", budget=500)
    assert plan.memories == []
    assert all("below min_score" in reason for reason in plan.skipped)
    # Plan never spends budget on memories below min_score: only the cat memory is placed.
    cat = mem.plan("what is my cat called?", budget=500)
    assert [memory.item.text for memory in cat.memories] == [PETS[0]]
    assert all(memory.score >= PLAN_MIN_SCORE for memory in cat.memories)
    everything = mem.plan("what is my cat called?", budget=500, min_score=0.0)
    assert len(everything.memories) == len(PETS)


def test_min_score_is_validated(mem: MemOS) -> None:
    import pytest

    from memos_client.errors import UsageError

    for bad in ("0.5", -0.1, 1.5, True, float("nan")):
        with pytest.raises(UsageError, match="min_score must be a number from 0 to 1"):
            mem.search("x", min_score=bad)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="min_score must be a number from 0 to 1"):
            mem.plan("x", min_score=bad)  # type: ignore[arg-type]


def test_a_lower_ranked_memory_never_displaces_a_higher_one_because_it_fits(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    """Issue 19: the greedy fill dropped the rank-1 memory and kept a rank-5 one that fit."""
    mem = MemOS(home=tmp_path, embedder=embedder, tokenizer=str(minilm_model_dir()))
    long_answer = "Luna, my cat, " + "sleeps on the warm windowsill all afternoon and " * 6
    mem.add_many(
        [{"text": long_answer + "purrs."}, {"text": "The door code is 4411."}], cube="me/pets"
    )
    rank_one = mem.search("what is my cat Luna called", k=2, touch=False)[0]
    assert rank_one.item.text.startswith("Luna")
    plan = mem.plan("what is my cat Luna called", budget=20, min_score=0.0)
    assert plan.memories == []
    assert any("do not fit" in reason for reason in plan.skipped)
    assert any("ranked below" in reason for reason in plan.skipped)
    fits = mem.plan("what is my cat Luna called", budget=200, min_score=0.0)
    assert fits.memories[0].item.id == rank_one.item.id
    mem.close()


def test_a_snapshot_is_injected_only_with_the_adapters_it_was_computed_under(mem: MemOS) -> None:
    lora = {
        "name": "lora",
        "kind": "parameter",
        "path": "/blobs/lora",
        "digest": "sha256:" + "a" * 64,
        "base_model": _fingerprint(),
        "adapter_config": {"peft_type": "LORA", "r": 4},
        "sources": [{"id": "paris", "version": 1}],
    }
    adapted = {
        "name": "kv-adapted",
        "kind": "activation",
        "path": "/blobs/kv",
        "model": _fingerprint(),
        "num_tokens": 9,
        "sources": [{"id": "paris", "version": 1}],
        "adapters": [{"name": "lora", "digest": "sha256:" + "a" * 64}],
    }
    records = [{"id": "paris", "text": "Paris is the capital of France."}]
    mem.install_cube("acme/geo", "1.0.0", "sha256:" + "e" * 64, records, parts=[lora, adapted])
    plan = mem.plan("capital of France", budget=50, cube="acme/geo")
    assert [p.name for p in plan.adapters] == ["lora"]
    assert [p.name for p in plan.activations] == ["kv-adapted"]
    without = mem.plan("capital of France", budget=50, cube="acme/geo", use_adapters=False)
    assert without.activations == []
    assert any("computed under adapter(s) lora" in reason for reason in without.skipped)
    retrained = {**lora, "digest": "sha256:" + "b" * 64}
    mem.install_cube("acme/geo", "1.0.1", "sha256:" + "f" * 64, records, parts=[retrained, adapted])
    changed = mem.plan("capital of France", budget=50, cube="acme/geo")
    assert changed.activations == []
    assert any("not loaded as they were" in reason for reason in changed.skipped)
