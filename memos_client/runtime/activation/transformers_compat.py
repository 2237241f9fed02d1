"""What differs between the oldest and the newest transformers the activation code supports.

Everything else in :mod:`model_adapter` is the same API from transformers 4.56 (the floor in
``pyproject.toml``: ``DynamicCache(config=...)``, ``cache.layers``, ``from_pretrained(dtype=...)``)
to today's 5.x. Three things moved, and each is detected from the object itself rather than from a
version number, so a release in between (or a model class that migrates late) takes the right path:

- forward's KV-cache keyword: ``past_key_values`` up to 5.23; ``cache`` from 5.24 (the old name
  raises a ``FutureWarning`` until its removal in 5.40);
- the output's KV-cache attribute: ``past_key_values`` up to 5.23; ``cache`` from 5.24;
- ``DynamicLayer.lazy_initialization``: takes ``(key)`` before 5.0, ``(key, value)`` from 5.0.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

from memos_client.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

#: The keyword (and output attribute) of the KV cache, newest name first.
_CACHE_KEYWORDS = ("cache", "past_key_values")


@functools.cache
def _cache_keyword_of(model_class: Any) -> str:
    # `deprecate_kwarg` wraps forward with functools.wraps, so the signature is the real one.
    parameters = inspect.signature(model_class.forward).parameters
    for keyword in _CACHE_KEYWORDS:
        if keyword in parameters:
            return keyword
    raise ModelLoadError(
        f"{model_class.__name__}.forward takes no KV cache (neither `cache` nor "
        "`past_key_values`); activation memory needs a decoder model that does"
    )


def cache_keyword(model: Any) -> str:
    """The keyword ``model``'s forward takes its KV cache by: ``cache`` or ``past_key_values``.

    A PEFT wrapper forwards ``**kwargs`` to the transformers model it wraps, so the wrapped model's
    signature decides. Passing a name forward does not declare would be swallowed by ``**kwargs``
    and silently run without the cache, hence the :class:`ModelLoadError` instead.
    """
    get_base_model = getattr(model, "get_base_model", None)
    base = get_base_model() if callable(get_base_model) else model
    model_class: Any = type(base)
    return _cache_keyword_of(model_class)


def output_cache(output: Any, keyword: str) -> Any:
    """The KV cache a forward pass returned, under the name its forward took it by."""
    return getattr(output, keyword)


@functools.cache
def _lazy_initialization_takes_values(layer_class: Any) -> bool:
    parameters = inspect.signature(layer_class.lazy_initialization).parameters
    return "value_states" in parameters


def fill_cache_layer(layer: Any, key: torch.Tensor, value: torch.Tensor) -> None:
    """Make the empty cache ``layer`` hold exactly ``key`` and ``value`` (no copy).

    ``lazy_initialization`` sets what the layer needs besides its tensors (device, dtype, the
    initialised flag) the way this transformers release does; the tensors are then set as they are,
    where ``layer.update`` would concatenate them onto an empty tensor (a copy of the snapshot).
    """
    layer_class: Any = type(layer)
    if _lazy_initialization_takes_values(layer_class):
        layer.lazy_initialization(key, value)
    else:
        layer.lazy_initialization(key)
    layer.keys, layer.values = key, value
