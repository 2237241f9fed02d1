"""Tensor parts ship through a bundle: pack -> `memos install` -> generate / PEFT load.

The snapshot and the adapter a user installs are the bytes the author built: the installed
snapshot is injected by `memos generate` (same text as prefilling, with the reason in the plan),
and the installed adapter directory loads with `PeftModel.from_pretrained` unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memos_client.cli.main import run

pytestmark = pytest.mark.slow

MEMORIES = [
    {"id": "wifi", "text": "The office wifi password rotates every Monday.", "tags": ["activate"]},
    {
        "id": "invoices",
        "text": "Invoices above 5000 euros need two approvals.",
        "tags": ["activate"],
    },
]
QUESTION = "Who approves invoices above 5000 euros?"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = run(list(argv))
    captured = capsys.readouterr()
    document = json.loads(captured.out) if captured.out.strip().startswith(("{", "[")) else None
    return code, document, captured.err


@pytest.fixture
def source(cli_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A signed-by-nobody cube source dir with two memories marked for activation."""
    cube = tmp_path / "cube"
    assert _cli(capsys, "init", str(cube), "--name", "acme/ops")[0] == 0
    (cube / "memories" / "notes.jsonl").write_text(
        "\n".join(json.dumps(memory) for memory in MEMORIES) + "\n"
    )
    return cube


def test_an_installed_snapshot_is_injected_and_gives_the_prefilled_text(
    source: Path, tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(tiny_model_dir)
    assert _cli(capsys, "activate", str(source), "--model", model, "--json")[0] == 0
    bundle = tmp_path / "ops.memcube"
    assert _cli(capsys, "pack", str(source), "-o", str(bundle), "--unsigned")[0] == 0
    code, _, err = _cli(capsys, "install", str(bundle))
    assert code != 0  # signatures are required by default
    assert "unsigned" in err
    assert _cli(capsys, "install", str(bundle), "--allow-unsigned")[0] == 0

    arguments = ["generate", QUESTION, "--model", model, "--cube", "acme/ops", "--json"]
    arguments += ["--form", "inject"]  # a tiny snapshot: prefilling it may well be cheaper
    code, injected, err = _cli(capsys, *arguments, "--max-new-tokens", "6")
    assert code == 0, err
    code, prefilled, err = _cli(capsys, *arguments, "--max-new-tokens", "6", "--no-activation")
    assert code == 0, err
    assert injected["used"]["activation"] is True
    assert injected["used"]["snapshots"] == ["acme/ops:core"]
    assert prefilled["used"]["snapshots"] == []
    assert injected["text"] == prefilled["text"]


# peft 0.21 itself reads a deprecated transformers property while loading; not our warning.
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_an_installed_adapter_loads_with_peft_unchanged(
    source: Path,
    tmp_path: Path,
    tiny_model_dir: Path,
    load_fresh: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch
    from peft import PeftModel

    model = str(tiny_model_dir)
    code, _, err = _cli(capsys, "consolidate", str(source), "--model", model, "--steps", "3")
    assert code == 0, err
    bundle = tmp_path / "ops.memcube"
    assert _cli(capsys, "pack", str(source), "-o", str(bundle), "--unsigned")[0] == 0
    assert _cli(capsys, "install", str(bundle), "--allow-unsigned")[0] == 0

    installed = list((tmp_path / "home" / "cubes").rglob("adapter_config.json"))
    assert len(installed) == 1
    adapter_dir = installed[0].parent
    original = source / "adapters" / "consolidated"
    assert (adapter_dir / "adapter_model.safetensors").read_bytes() == (
        original / "adapter_model.safetensors"
    ).read_bytes()
    probe = torch.tensor([[101, 7592, 2088, 102]])
    from_install = PeftModel.from_pretrained(load_fresh(tiny_model_dir).model, str(adapter_dir))
    from_source = PeftModel.from_pretrained(load_fresh(tiny_model_dir).model, str(original))
    with torch.inference_mode():
        assert torch.equal(
            from_install(input_ids=probe).logits, from_source(input_ids=probe).logits
        )
    code, generated, err = _cli(
        capsys, "generate", QUESTION, "--model", model, "--cube", "acme/ops", "--json",
        "--max-new-tokens", "3",
    )  # fmt: skip
    assert code == 0, err
    assert generated["used"]["adapters"] == ["acme/ops:consolidated"]
