"""Parameter memory: a real (short) LoRA training run, export, install, load with PEFT unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import IncompatibleMemoryError
from memos_client.runtime.activation.lora import (
    CONFIG_NAME,
    METADATA_KEY,
    WEIGHTS_NAME,
    TrainingSettings,
    activate_adapters,
    check_adapter,
    export_adapter,
    install_adapter_dir,
    open_adapter,
    train_adapter,
)
from mip.errors import TensorError
from mip.models import MemoryRef, ParameterPart, from_document, to_document, unknown_fields
from tests.activation.conftest import office_memories

pytestmark = pytest.mark.slow

MEMORIES = office_memories()
PROBE = [101, 7592, 2088, 2003, 1037, 3231, 102]


@pytest.fixture(scope="module")
def trained(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Any, Any]:
    """Train once for the module: (exported adapter dir, probe logits before export, report)."""
    import torch

    from memos_client.runtime.activation.model_adapter import load_model

    work = tmp_path_factory.mktemp("lora")
    model = load_model(tiny_model_dir, cache_dir=work / "fp")
    report = train_adapter(model, MEMORIES, TrainingSettings(steps=12, learning_rate=1e-2))
    with torch.inference_mode():
        logits = report.peft_model(input_ids=torch.tensor([PROBE])).logits
    sources = [MemoryRef(id=m.id, version=m.version) for m in MEMORIES]
    path = export_adapter(report.peft_model, work / "adapter", model.fingerprint, sources)
    return path, logits, report


def test_training_lowers_the_loss(trained: tuple[Path, Any, Any]) -> None:
    _, _, report = trained
    assert report.steps == 12
    assert report.last_loss < report.first_loss


def test_exported_files_are_peft_files_with_the_fingerprint(
    trained: tuple[Path, Any, Any], tiny_model: Any
) -> None:
    from safetensors import safe_open

    path, _, _ = trained
    assert sorted(p.name for p in path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    config = json.loads((path / CONFIG_NAME).read_text())
    assert config["peft_type"] == "LORA"
    assert config["r"] == 8
    assert not config["base_model_name_or_path"].startswith("/")
    with safe_open(str(path / WEIGHTS_NAME), framework="pt") as handle:
        header = json.loads(handle.metadata()[METADATA_KEY])
        assert all("lora_" in name for name in handle.keys())  # noqa: SIM118
    assert (
        header["base_model"]["weights_sha256"]
        == unknown_fields(tiny_model.fingerprint)["weights_sha256"]
    )
    assert header["sources"] == [{"id": "m-1", "version": 1}, {"id": "m-2", "version": 3}]
    adapter = open_adapter(path)
    assert check_adapter(adapter, tiny_model) is None
    # The manifest part for it validates (adapter_config inline, the blob is the safetensors).
    part = from_document(
        {
            "name": "consolidated",
            "digest": "sha256:" + "0" * 64,
            "size": (path / WEIGHTS_NAME).stat().st_size,
            "base_model": to_document(adapter.header.base_model),
            "adapter_config": adapter.adapter_config,
            "sources": [to_document(source) for source in adapter.header.sources],
        },
        ParameterPart,
    )
    assert part.base_model.digest == tiny_model.fingerprint.digest


# peft 0.21 itself reads a deprecated transformers property while loading; not our warning.
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_installed_adapter_loads_with_peft_unchanged_and_gives_the_same_outputs(
    trained: tuple[Path, Any, Any],
    tiny_model_dir: Path,
    load_fresh: Callable[..., Any],
    tmp_path: Path,
) -> None:
    import torch
    from peft import PeftModel

    path, before, _ = trained
    # What a bundle carries: the config inline in the manifest, the weights as a blob.
    adapter_config = json.loads((path / CONFIG_NAME).read_text())
    blob = tmp_path / "blobs" / "sha256-of-weights"
    blob.parent.mkdir()
    blob.write_bytes((path / WEIGHTS_NAME).read_bytes())
    installed = install_adapter_dir(tmp_path / "installed", adapter_config, blob)
    assert (installed / WEIGHTS_NAME).stat().st_ino == blob.stat().st_ino  # hard link, no copy
    base = load_fresh(tiny_model_dir)
    peft_model = PeftModel.from_pretrained(base.model, str(installed))
    with torch.inference_mode():
        after = peft_model(input_ids=torch.tensor([PROBE])).logits
    assert torch.equal(after, before)
    # And through the runtime's own activation path.
    runtime_model = load_fresh(tiny_model_dir)
    with torch.inference_mode():
        plain = runtime_model.model(input_ids=torch.tensor([PROBE])).logits
    assert activate_adapters(runtime_model, [installed]) == ["memory_0"]
    with torch.inference_mode():
        adapted = runtime_model.model(input_ids=torch.tensor([PROBE])).logits
    assert torch.equal(adapted, before)
    assert not torch.equal(plain, before)


def test_adapter_for_another_base_model_is_refused(
    trained: tuple[Path, Any, Any], other_model_dir: Path, load_fresh: Callable[..., Any]
) -> None:
    path, _, _ = trained
    other = load_fresh(other_model_dir)
    reason = check_adapter(open_adapter(path), other)
    assert reason is not None
    assert "differs in weights_sha256" in reason
    with pytest.raises(IncompatibleMemoryError, match="adapter adapter cannot be used") as caught:
        activate_adapters(other, [path])
    assert caught.value.code == "foreign_model"


def _copy(path: Path, target: Path) -> Path:
    target.mkdir()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        (target / name).write_bytes((path / name).read_bytes())
    return target


def test_truncated_adapter_weights_are_refused(
    trained: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    copy = _copy(trained[0], tmp_path / "cut")
    data = (copy / WEIGHTS_NAME).read_bytes()
    (copy / WEIGHTS_NAME).write_bytes(data[:-16])
    with pytest.raises(
        TensorError, match=r"adapter_model\.safetensors: invalid safetensors file: tensors cover"
    ):
        open_adapter(copy)


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("peft_type", "IA3", "peft_type must be 'LORA'"),
        ("r", 4, r"has rank 8, adapter_config\.r is 4"),
    ],
    ids=["not-lora", "rank-other-than-the-weights"],
)
def test_adapter_config_that_does_not_describe_its_lora_weights_is_refused(
    trained: tuple[Path, Any, Any], tmp_path: Path, key: str, value: Any, error: str
) -> None:
    copy = _copy(trained[0], tmp_path / "config")
    config = json.loads((copy / CONFIG_NAME).read_text())
    config[key] = value
    (copy / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(TensorError, match=error):
        open_adapter(copy)


def test_pickled_adapter_weights_are_never_loaded(
    trained: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    copy = _copy(trained[0], tmp_path / "pickle")
    (copy / "adapter_model.bin").write_bytes(b"not loaded")
    with pytest.raises(TensorError, match=r"adapter_model\.bin is a pickle"):
        open_adapter(copy)
