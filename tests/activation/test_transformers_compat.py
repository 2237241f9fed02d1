"""The transformers differences the activation code isolates, checked on the installed release.

CI runs this file twice: on the lock (today's transformers) and on the lowest versions
``pyproject.toml`` allows (``scripts/test-lowest``), so each branch below is taken at one end.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from memos_client.errors import ModelLoadError
from memos_client.runtime.activation.transformers_compat import (
    cache_keyword,
    fill_cache_layer,
    output_cache,
)

pytestmark = pytest.mark.slow


def _transformers_version() -> tuple[int, int]:
    import transformers
    from packaging.version import Version

    release = Version(transformers.__version__).release
    return release[0], release[1]


def test_the_cache_keyword_is_the_one_this_release_documents(tiny_model: Any) -> None:
    expected = "cache" if _transformers_version() >= (5, 24) else "past_key_values"
    assert cache_keyword(tiny_model.model) == expected
    assert expected in inspect.signature(type(tiny_model.model).forward).parameters


def test_forward_returns_the_cache_it_was_given_grown(tiny_model: Any) -> None:
    from transformers import DynamicCache

    cache = DynamicCache(config=tiny_model.model.config)
    result = tiny_model.forward([101, 2023, 2003], cache)
    assert result.cache is cache
    assert cache.get_seq_length() == 3
    assert tiny_model.forward([1012], result.cache).cache.get_seq_length() == 4


def test_a_peft_wrapper_is_asked_through_the_model_it_wraps(tiny_model: Any) -> None:
    class Wrapper:
        def get_base_model(self) -> Any:
            return tiny_model.model

        def forward(self, input_ids: Any = None, **kwargs: Any) -> None:
            """PEFT's shape: everything but the inputs travels in ``**kwargs``."""

    assert cache_keyword(Wrapper()) == cache_keyword(tiny_model.model)


def test_a_model_whose_forward_takes_no_cache_is_refused() -> None:
    class Encoder:
        def forward(self, input_ids: Any = None, **kwargs: Any) -> None:
            """An encoder: a cache passed by any name would vanish into ``**kwargs``."""

    with pytest.raises(ModelLoadError, match=r"Encoder.forward takes no KV cache"):
        cache_keyword(Encoder())


def test_output_cache_reads_the_attribute_named_like_the_keyword() -> None:
    class Output:
        cache = "new"
        past_key_values = "old"

    assert output_cache(Output(), "cache") == "new"
    assert output_cache(Output(), "past_key_values") == "old"


def test_a_filled_layer_holds_the_given_tensors_without_a_copy(tiny_model: Any) -> None:
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=tiny_model.model.config)
    shape = (1, 2, 5, 16)  # batch, kv heads, tokens, head dim of the tiny model
    filled = []
    for layer in cache.layers:
        key, value = torch.randn(shape), torch.randn(shape)
        fill_cache_layer(layer, key, value)
        filled.append((key, value))
    assert cache.get_seq_length() == 5
    for layer, (key, value) in zip(cache.layers, filled, strict=True):
        assert layer.keys.data_ptr() == key.data_ptr()
        assert layer.values.data_ptr() == value.data_ptr()
    grown = tiny_model.forward([1012], cache).cache
    assert grown.get_seq_length() == 6
    for layer, (key, _) in zip(grown.layers, filled, strict=True):
        assert torch.equal(layer.keys[:, :, :5], key)
