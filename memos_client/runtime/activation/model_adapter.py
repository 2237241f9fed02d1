"""A Hugging Face transformers causal LM behind the :class:`CausalLM` protocol.

The rest of the runtime talks to a model only through :class:`CausalLM`: encode/decode text,
run a forward pass over token ids on top of a KV cache, and turn a cache into per-layer key/value
tensors and back. :func:`load_model` opens a local model directory — never the network, never
remote code, never pickled weights (``use_safetensors=True``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from memos_client.errors import ModelLoadError
from memos_client.runtime.activation.fingerprint import (
    TORCH_TO_SAFETENSORS_DTYPE,
    model_fingerprint,
)
from memos_client.runtime.activation.transformers_compat import (
    cache_keyword,
    fill_cache_layer,
    output_cache,
)
from mip.models import ModelFingerprint

if TYPE_CHECKING:
    import torch

#: Safetensors dtype names a model may be loaded with.
MODEL_DTYPES = ("F32", "F16", "BF16")


class ForwardResult(msgspec.Struct):
    """What a forward pass leaves: the grown cache and the last position's logits."""

    cache: Any
    logits: torch.Tensor


@runtime_checkable
class CausalLM(Protocol):
    """A causal language model the activation and parameter memory code can drive."""

    @property
    def fingerprint(self) -> ModelFingerprint:
        """The MIP fingerprint of the loaded model (MIP-1 §7.2)."""

    @property
    def max_positions(self) -> int | None:
        """The longest token sequence the model accepts, or ``None`` when unbounded."""

    @property
    def eos_token_id(self) -> int | None:
        """The end-of-sequence token, or ``None`` when the tokenizer has none."""

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of ``token_ids`` without special tokens."""

    def forward(self, token_ids: Sequence[int], cache: Any | None = None) -> ForwardResult:
        """Run the model over ``token_ids`` after the tokens already in ``cache``."""

    def cache_layers(self, cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer (key, value) tensors of a cache, each ``[kv_heads, tokens, head_dim]``."""

    def cache_from_layers(self, layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Any:
        """A cache holding the given per-layer (key, value) tensors, without copying them."""


class TransformersCausalLM:
    """A transformers ``AutoModelForCausalLM`` and its tokenizer, loaded from a local directory."""

    def __init__(
        self, path: Path, model: Any, tokenizer: Any, fingerprint: ModelFingerprint
    ) -> None:
        self.path = path
        self.model = model
        self.tokenizer = tokenizer
        self._fingerprint = fingerprint

    @property
    def fingerprint(self) -> ModelFingerprint:
        """The MIP fingerprint of the loaded model."""
        return self._fingerprint

    @property
    def max_positions(self) -> int | None:
        """``max_position_embeddings`` of the model config."""
        return self._fingerprint.max_position_embeddings

    @property
    def eos_token_id(self) -> int | None:
        """The tokenizer's end-of-sequence token (or ``[SEP]`` for BERT-style vocabularies)."""
        value = self.tokenizer.eos_token_id
        if value is None:
            value = self.tokenizer.sep_token_id
        return int(value) if value is not None else None

    @property
    def torch_dtype(self) -> torch.dtype:
        """The dtype the weights (and so the KV cache) are held in."""
        dtype: torch.dtype = self.model.dtype
        return dtype

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids)

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of ``token_ids`` without special tokens."""
        text: str = self.tokenizer.decode(list(token_ids), skip_special_tokens=True)
        return text

    def forward(self, token_ids: Sequence[int], cache: Any | None = None) -> ForwardResult:
        """Run the model over ``token_ids`` after the tokens already in ``cache`` (grown in place).

        Only the last position's logits are computed (``logits_to_keep=1``): a prefill never
        needs the others, and the vocabulary projection of every position would dominate it.
        """
        import torch
        from transformers import DynamicCache

        if cache is None:
            cache = DynamicCache(config=self.model.config)
        device = self.model.device
        input_ids = torch.tensor([list(token_ids)], dtype=torch.long, device=device)
        keyword = cache_keyword(self.model)
        arguments: dict[str, Any] = {keyword: cache}
        with torch.inference_mode():
            output = self.model(input_ids=input_ids, use_cache=True, logits_to_keep=1, **arguments)
        return ForwardResult(cache=output_cache(output, keyword), logits=output.logits[0, -1])

    def cache_layers(self, cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer (key, value) tensors of a cache with the batch dimension dropped (views)."""
        return [(layer.keys[0], layer.values[0]) for layer in cache.layers]

    def cache_from_layers(self, layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Any:
        """A ``DynamicCache`` whose layers hold exactly these tensors (a batch view, no copy).

        ``DynamicCache(ddp_cache_data=...)`` would concatenate each tensor onto an empty one,
        copying the whole snapshot; :func:`fill_cache_layer` keeps the (memory-mapped) snapshot
        tensors as they are until the first forward pass.
        """
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        if len(cache.layers) != len(layers):
            raise ValueError(f"the model has {len(cache.layers)} cache layers, got {len(layers)}")
        cache_layers: list[Any] = list(cache.layers)
        for layer, (key, value) in zip(cache_layers, layers, strict=True):
            fill_cache_layer(layer, key.unsqueeze(0), value.unsqueeze(0))
        return cache


def _check_snapshot_support(model: Any) -> None:
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache_keyword(model)  # a model whose forward takes no KV cache is refused here, not later
    layers = DynamicCache(config=model.config).layers
    unsupported = sorted(
        {type(layer).__name__ for layer in layers if type(layer) is not DynamicLayer}
    )
    if unsupported:
        raise ModelLoadError(
            f"the model's cache layers ({', '.join(unsupported)}) are not plain full-attention "
            "layers; KV snapshots support full-attention decoder models only"
        )


def load_model(
    path: Path, dtype: str = "F32", *, cache_dir: Path | None = None
) -> TransformersCausalLM:
    """Load the causal LM in the local directory ``path`` with weights in ``dtype``.

    Raises :class:`ModelLoadError` when ``path`` is not a loadable model directory (no
    ``config.json``, no safetensors weights, an architecture transformers cannot build locally).
    """
    if dtype not in MODEL_DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}: use one of {', '.join(MODEL_DTYPES)}")
    path = Path(path).expanduser()
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{path} is not a model directory (no config.json): pass --model DIR")
    if not any(path.glob("*.safetensors")):
        raise ModelLoadError(
            f"{path} has no *.safetensors weights (pickled .bin weights are never loaded)"
        )
    # Never reach the network for a local model, even if HF_HUB_OFFLINE is unset.
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # Progress bars for a local load are noise on the CLI's stderr.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    torch_dtype = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    try:
        with open(config_path, encoding="utf-8") as stream:
            config_dict = json.load(stream)
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=torch_dtype,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
        )
        tokenizer = AutoTokenizer.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError, json.JSONDecodeError, SafetensorError) as exc:
        raise ModelLoadError(f"cannot load the model in {path}: {exc}".splitlines()[0]) from exc
    model.train(False)  # inference mode: no dropout
    _check_snapshot_support(model)
    safetensors_dtype = TORCH_TO_SAFETENSORS_DTYPE[str(model.dtype).removeprefix("torch.")]
    fingerprint = model_fingerprint(path, config_dict, dtype=safetensors_dtype, cache_dir=cache_dir)
    return TransformersCausalLM(path, model, tokenizer, fingerprint)
