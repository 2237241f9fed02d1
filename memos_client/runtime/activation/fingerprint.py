"""The MIP model fingerprint of a local model directory (MIP-1 §7.2; docs/activation-memory.md).

A fingerprint says which model a KV snapshot or a LoRA adapter was computed with. Its hashes are
over what decides the numbers a model produces for a token sequence, and nothing else:

- ``config_sha256``: canonical JSON of ``config.json`` (sorted keys, compact) without
  ``_name_or_path`` and ``transformers_version``, as MIP-1 §7.2 defines it;
- ``tokenizer_sha256``: the tokenizer files (vocabulary, merges, ``tokenizer.json``) and the
  canonical JSON of ``tokenizer_config.json`` without its chat template;
- ``chat_template_sha256``: the chat template(s), or ``None`` when the tokenizer has none;
- ``weights_sha256`` (an extension field; kept in the digest like any field): the weight files, so
  a fine-tune of the same architecture is a different model. Hashing large weights is slow, so the
  result is cached under ``MEMOS_CACHE_DIR`` keyed by each file's path, size, mtime and inode.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mip.models import ModelFingerprint, TensorDtype, unknown_fields

#: config.json keys that describe a save, not the model (MIP-1 §7.2).
_VOLATILE_CONFIG_KEYS = frozenset({"_name_or_path", "transformers_version"})
#: Files whose bytes define how text becomes token ids.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "spiece.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "special_tokens_map.json",
)
#: tokenizer_config.json keys that do not change the token ids of a text.
_VOLATILE_TOKENIZER_KEYS = frozenset({"chat_template", "name_or_path", "tokenizer_file"})
#: Weight files of a model directory; adapters are parameter memory, not the base model.
_ADAPTER_FILES = frozenset({"adapter_model.safetensors"})

TORCH_TO_SAFETENSORS_DTYPE: dict[str, TensorDtype] = {
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
}


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace: equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def config_sha256(config_dict: dict[str, Any]) -> str:
    """The hash of a model config, without the keys that describe a save rather than the model."""
    kept = {key: value for key, value in config_dict.items() if key not in _VOLATILE_CONFIG_KEYS}
    return hashlib.sha256(canonical_json(kept)).hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as stream:
        value = json.load(stream)
    if not isinstance(value, dict):
        raise ValueError(f"{path} is not a JSON object")
    return value


def tokenizer_sha256(model_dir: Path) -> str:
    """The hash of the tokenizer files of ``model_dir`` (names and bytes, in a fixed order)."""
    hasher = hashlib.sha256()
    for name in _TOKENIZER_FILES:
        path = model_dir / name
        if path.is_file():
            hasher.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    config_path = model_dir / "tokenizer_config.json"
    if config_path.is_file():
        kept = {
            key: value
            for key, value in _read_json(config_path).items()
            if key not in _VOLATILE_TOKENIZER_KEYS
        }
        hasher.update(b"tokenizer_config.json\0" + hashlib.sha256(canonical_json(kept)).digest())
    return hasher.hexdigest()


def chat_template_sha256(model_dir: Path) -> str | None:
    """The hash of the chat template (``chat_template.jinja``/``.json`` or tokenizer_config's)."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return hashlib.sha256(jinja.read_bytes()).hexdigest()
    for path in (model_dir / "chat_template.json", model_dir / "tokenizer_config.json"):
        if path.is_file():
            template = _read_json(path).get("chat_template")
            if template:
                return hashlib.sha256(canonical_json(template)).hexdigest()
    return None


def _weight_files(model_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in model_dir.glob("*.safetensors")
        if path.is_file() and path.name not in _ADAPTER_FILES
    )


def weights_sha256(model_dir: Path, cache_dir: Path | None = None) -> str:
    """The hash of the weight files of ``model_dir``; cached by path, size, mtime and inode."""
    files = _weight_files(model_dir)
    stamp = [
        (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        for path in files
        for stat in (path.stat(),)
    ]
    key = hashlib.sha256(canonical_json(stamp)).hexdigest()
    cached = cache_dir / "weights" / f"{key}.txt" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        value = cached.read_text().strip()
        if len(value) == 64:
            return value
    hasher = hashlib.sha256()
    for path in files:
        file_hasher = hashlib.sha256()
        with open(path, "rb", buffering=0) as stream:
            while chunk := stream.read(8 << 20):
                file_hasher.update(chunk)
        hasher.update(path.name.encode() + b"\0" + file_hasher.digest())
    value = hasher.hexdigest()
    if cached is not None:
        # Written to a temp file then renamed: a reader never sees half a hash.
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(value)
        temporary.replace(cached)
    return value


def _model_id(model_dir: Path, config_dict: dict[str, Any]) -> str:
    # A hub-style name saved in the config ("org/model") is the better name; a local path is not.
    saved = config_dict.get("_name_or_path")
    if isinstance(saved, str) and saved and not saved.startswith(("/", ".", "~")):
        return saved
    return model_dir.resolve().name


def model_fingerprint(
    model_dir: Path,
    config_dict: dict[str, Any],
    *,
    dtype: str,
    cache_dir: Path | None = None,
) -> ModelFingerprint:
    """The fingerprint of the model in ``model_dir`` loaded with ``dtype`` (F32, F16 or BF16).

    ``config_dict`` is ``config.json`` as saved in ``model_dir``: the shapes are read from it the
    way transformers reads them (``num_key_value_heads`` defaults to the attention heads,
    ``head_dim`` to ``hidden_size / num_attention_heads``).
    """
    text = config_dict.get("text_config") or config_dict
    heads = int(text["num_attention_heads"])
    hidden = int(text["hidden_size"])
    head_dim = text.get("head_dim") or hidden // heads
    architectures = config_dict.get("architectures") or [config_dict.get("model_type", "unknown")]
    fingerprint = ModelFingerprint(
        model_id=_model_id(model_dir, config_dict),
        revision=None,
        architecture=str(architectures[0]),
        config_sha256=config_sha256(config_dict),
        tokenizer_sha256=tokenizer_sha256(model_dir),
        chat_template_sha256=chat_template_sha256(model_dir),
        dtype=dtype,
        num_layers=int(text["num_hidden_layers"]),
        num_attention_heads=heads,
        num_kv_heads=int(text.get("num_key_value_heads") or heads),
        head_dim=int(head_dim),
        hidden_size=hidden,
        vocab_size=int(text["vocab_size"]),
        max_position_embeddings=text.get("max_position_embeddings"),
    )
    # An extension field (MIP-1 §2): written, read back and part of the digest like any field.
    unknown_fields(fingerprint)["weights_sha256"] = weights_sha256(model_dir, cache_dir)
    return fingerprint


def fingerprint_mismatch(expected: ModelFingerprint, actual: ModelFingerprint) -> list[str]:
    """The fields in which two fingerprints differ (empty when they name the same model)."""
    if expected.digest == actual.digest:
        return []
    left, right = expected.identity(), actual.identity()
    return sorted(key for key in left.keys() | right.keys() if left.get(key) != right.get(key))
