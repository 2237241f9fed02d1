"""Parameter memory: LoRA adapters trained on a cube's memories (MIP-1 §7.3).

An adapter is the two PEFT files, unchanged in layout so ``PeftModel.from_pretrained(dir)``
loads it: ``adapter_config.json`` and ``adapter_model.safetensors``. The safetensors
``__metadata__`` adds ``memcube.parameter`` = JSON ``{"base_model": fingerprint, "sources": [...]}``
so the file says which base model it belongs to. In a bundle the blob is
``adapter_model.safetensors`` and the manifest carries ``adapter_config`` inline; installing
re-creates the directory (:func:`install_adapter_dir`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from memos_client.errors import IncompatibleMemoryError
from memos_client.runtime.activation.fingerprint import fingerprint_mismatch
from memos_client.runtime.activation.model_adapter import TransformersCausalLM
from memos_client.runtime.activation.prompt import MemoryText, render_segment
from mip.errors import TensorError
from mip.limits import DEFAULT_LIMITS, Limits
from mip.models import (
    MemoryRef,
    ModelFingerprint,
    OpenStruct,
    ParameterPart,
    describe_error,
    from_document,
)
from mip.tensors import (
    PARAMETER_METADATA_KEY,
    check_parameter,
    metadata_json,
    parameter_metadata,
    read_header,
)

METADATA_KEY = PARAMETER_METADATA_KEY
CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
#: Attention projections of Llama-style decoders; what LoRA adapts by default.
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


class ParameterHeader(OpenStruct, kw_only=True):
    """The ``memcube.parameter`` metadata of an adapter's safetensors file."""

    base_model: ModelFingerprint
    sources: list[MemoryRef] = msgspec.field(default_factory=list)


@contextmanager
def _peft_calls() -> Iterator[None]:
    # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing`; the FutureWarning is
    # theirs to fix, not an error of ours (tests turn warnings into errors).
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        yield


class TrainingSettings(msgspec.Struct, frozen=True):
    """Hyper-parameters of a consolidation run (small defaults: a CPU run of seconds)."""

    rank: int = 8
    alpha: int = 16
    steps: int = 30
    learning_rate: float = 5e-3
    seed: int = 0
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES


#: The default settings (a frozen Struct: one shared instance is safe as an argument default).
_DEFAULT_SETTINGS = TrainingSettings()


class TrainingReport(msgspec.Struct):
    """The adapted model and how its loss moved."""

    peft_model: Any
    first_loss: float
    last_loss: float
    steps: int


def train_adapter(
    model: TransformersCausalLM,
    memories: Sequence[MemoryText],
    settings: TrainingSettings = _DEFAULT_SETTINGS,
) -> TrainingReport:
    """Train a LoRA adapter on ``memories`` (causal LM loss over each memory's segment text).

    The base model is wrapped in place (PEFT's ``get_peft_model``); its own weights stay frozen.
    """
    if not memories:
        raise ValueError("consolidation needs at least one memory")
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    torch.manual_seed(settings.seed)
    order = random.Random(settings.seed)  # noqa: S311  (shuffling training data, not security)
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=0.0,
        target_modules=list(settings.target_modules),
    )
    with _peft_calls():
        peft_model = get_peft_model(model.model, config)
    examples = [model.encode(render_segment([memory])) for memory in memories]
    examples = [ids for ids in examples if len(ids) >= 2]
    if not examples:
        raise ValueError("the memories are too short to train on")
    limit = model.max_positions or 1024
    trainable = [parameter for parameter in peft_model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate)
    peft_model.train(True)
    losses: list[float] = []
    for step in range(settings.steps):
        if step % len(examples) == 0:
            order.shuffle(examples)
        ids = torch.tensor([examples[step % len(examples)][:limit]], device=peft_model.device)
        loss = peft_model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    peft_model.train(False)
    model.model = peft_model
    return TrainingReport(peft_model, losses[0], losses[-1], settings.steps)


def export_adapter(
    peft_model: Any,
    target: Path,
    base_model: ModelFingerprint,
    sources: Sequence[MemoryRef] = (),
) -> Path:
    """Write the PEFT adapter files to ``target`` with the base model's fingerprint in them.

    The directory appears complete or not at all (written beside it, then renamed).
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    target = Path(target)
    staging = target.with_name(f".{target.name}.{os.getpid()}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # A local path in adapter_config.json would leak into a shipped bundle; name the model.
        peft_model.peft_config["default"].base_model_name_or_path = base_model.model_id
        # save_embedding_layers=False: LoRA here never adapts embeddings, and "auto" would ask
        # the Hub whether the model id has a config (no network, ever).
        with _peft_calls():
            peft_model.save_pretrained(
                str(staging), safe_serialization=True, save_embedding_layers=False
            )
        # PEFT adds a model card; the part is exactly the two files of the format.
        (staging / "README.md").unlink(missing_ok=True)
        weights = staging / WEIGHTS_NAME
        with safe_open(str(weights), framework="pt") as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
            metadata = dict(handle.metadata() or {})
        header = ParameterHeader(base_model=base_model, sources=list(sources))
        metadata[METADATA_KEY] = metadata_json(header)
        save_file(
            {name: tensor.clone() for name, tensor in tensors.items()}, str(weights), metadata
        )
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class AdapterFiles(msgspec.Struct):
    """An opened, validated adapter directory."""

    path: Path
    adapter_config: dict[str, Any]
    header: ParameterHeader


def _fail(path: Path, reason: str) -> TensorError:
    return TensorError(f"invalid LoRA adapter {path}: {reason}")


def open_adapter(path: Path, limits: Limits = DEFAULT_LIMITS) -> AdapterFiles:
    """Open and validate an adapter directory; :class:`TensorError` names what is wrong.

    The weights must be a valid safetensors file (MIP-1 §7.4) holding only LoRA matrices of rank
    ``r`` (§7.3), with the ``memcube.parameter`` metadata; the config must be a LoRA config.
    """
    path = Path(path)
    config_path, weights = path / CONFIG_NAME, path / WEIGHTS_NAME
    if (path / "adapter_model.bin").exists():
        raise _fail(path, "adapter_model.bin is a pickle; only adapter_model.safetensors is loaded")
    if not config_path.is_file() or not weights.is_file():
        raise _fail(path, f"needs both {CONFIG_NAME} and {WEIGHTS_NAME}")
    try:
        adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"{CONFIG_NAME} is not JSON ({exc})") from exc
    try:
        with open(weights, "rb") as stream:
            header = read_header(stream, weights.stat().st_size, limits)
        described = parameter_metadata(header)
    except TensorError as exc:
        raise _fail(path, f"{WEIGHTS_NAME}: {exc}") from exc
    try:
        parameter = from_document(described, ParameterHeader)
        # The manifest's rules for a parameter part apply to the loose files as well; the
        # digest and size only exist in a bundle, so neutral values stand in for them here.
        fixed = {"name": "adapter", "digest": "sha256:" + "0" * 64, "size": 0}
        part = from_document(
            {**described, **fixed, "adapter_config": adapter_config}, ParameterPart
        )
    except msgspec.ValidationError as exc:
        raise _fail(path, describe_error(exc)) from exc
    foreign = [name for name in header.tensors if ".lora_" not in name]
    if foreign:
        raise _fail(path, f"tensors that are not LoRA weights: {', '.join(sorted(foreign)[:4])}")
    try:
        check_parameter(header, part)
    except TensorError as exc:
        raise _fail(path, str(exc)) from exc
    return AdapterFiles(path=path, adapter_config=adapter_config, header=parameter)


def check_adapter(adapter: AdapterFiles, model: TransformersCausalLM) -> str | None:
    """Why ``adapter`` cannot be used with ``model`` (``None`` when it can)."""
    differing = fingerprint_mismatch(adapter.header.base_model, model.fingerprint)
    if differing:
        return (
            f"trained for base model {adapter.header.base_model.model_id!r}, the loaded model "
            f"{model.fingerprint.model_id!r} differs in {', '.join(differing)}"
        )
    return None


def activate_adapters(model: TransformersCausalLM, paths: Sequence[Path]) -> list[str]:
    """Load the adapters in ``paths`` onto ``model`` (checked against its fingerprint first).

    Several adapters are active together (their LoRA deltas add up). Returns their names.
    """
    from peft import PeftModel

    adapters = [open_adapter(path) for path in paths]
    for adapter in adapters:
        reason = check_adapter(adapter, model)
        if reason is not None:
            raise IncompatibleMemoryError(
                f"adapter {adapter.path.name} cannot be used: {reason}", code="foreign_model"
            )
    names = [f"memory_{index}" for index in range(len(adapters))]
    if not adapters:
        return names
    with _peft_calls():
        peft_model: Any = PeftModel.from_pretrained(
            model.model, str(adapters[0].path), adapter_name=names[0]
        )
        for name, adapter in zip(names[1:], adapters[1:], strict=True):
            peft_model.load_adapter(str(adapter.path), adapter_name=name)
    if len(names) > 1:
        peft_model.base_model.set_adapter(names)
    peft_model.train(False)
    model.model = peft_model
    return names


def install_adapter_dir(target: Path, adapter_config: dict[str, Any], blob: Path) -> Path:
    """Re-create an adapter directory from a manifest's ``adapter_config`` and its blob.

    The blob is hard-linked (copied when the file systems differ), so installing costs no space.
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    config_path = target / CONFIG_NAME
    temporary = config_path.with_name(f".{CONFIG_NAME}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(adapter_config, indent=2, sort_keys=True), encoding="utf-8")
    temporary.replace(config_path)
    weights = target / WEIGHTS_NAME
    weights.unlink(missing_ok=True)
    try:
        os.link(blob, weights)
    except OSError:
        shutil.copyfile(blob, weights)
    return target
