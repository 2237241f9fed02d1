"""MemScheduler: memories within a token budget, activation and adapter parts, with reasons."""

from __future__ import annotations

from pathlib import Path

from memos_client.runtime import MemOS
from memos_client.runtime.embedding.minilm import minilm_model_dir
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
    assert plan.used_tokens == sum(memory.tokens for memory in plan.memories)
    tokens = mem.count_tokens(plan.memories[0].item.text)
    assert plan.memories[0].tokens == tokens
    assert "retrieval rank 1" in plan.memories[0].reason
    assert any("do not fit" in reason for reason in plan.skipped)
    assert plan.to_json()["memories"][0]["tokens"] == tokens
    mem.close()


def test_plan_updates_behaviour_counters(mem: MemOS, facts: list[str]) -> None:
    plan = mem.plan("Luna the cat", budget=15)
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
            "sources": [{"id": "paris", "version": 1}],
        },
        {
            "name": "kv-stale",
            "kind": "activation",
            "path": "/blobs/kv2",
            "model": _fingerprint(),
            "sources": [{"id": "paris", "version": 7}],
        },
        {
            "name": "kv-other",
            "kind": "activation",
            "path": "/blobs/kv3",
            "model": _fingerprint(),
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
    plan = mem.plan("capital of France", budget=12, cube="acme/geo")
    assert [m.item.source_id for m in plan.memories] == ["paris"]
    assert [p.name for p in plan.activations] == ["kv-paris"]
    assert plan.activations[0].path == "/blobs/kv1"
    assert "covers 1 chosen" in plan.activations[0].reason
    assert [p.name for p in plan.adapters] == ["lora"]
    assert any("kv-stale: stale" in reason for reason in plan.skipped)
    from mip.models import ModelFingerprint, from_document

    other = from_document({**_fingerprint(), "num_layers": 3}, ModelFingerprint).digest
    mismatched = mem.plan("capital of France", budget=12, cube="acme/geo", model_digest=other)
    assert mismatched.activations == []
    assert mismatched.adapters == []
    assert any("another model" in reason for reason in mismatched.skipped)
