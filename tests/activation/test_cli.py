"""End to end: `memos activate` / `consolidate` / `generate` against a real runtime and model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memos_client.cli.main import run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RECORDS = [
    {"id": "wifi", "text": "The office wifi password rotates every Monday.", "version": 1},
    {"id": "invoices", "text": "Invoices above 5000 euros need two approvals.", "version": 1},
    {"id": "build", "text": "The nightly build runs on hopper, a Debian machine.", "version": 1},
]
QUESTION = "Who approves invoices above 5000 euros?"


@pytest.fixture
def home(cli_home: Path) -> Path:
    """A fresh MEMOS_HOME with the cube acme/ops installed (hashing embedder: no model load)."""
    from memos_client.runtime import MemOS

    with MemOS(cli_home, embedder="hashing") as memos:
        memos.install_cube("acme/ops", "1.0.0", "sha256:" + "1" * 64, RECORDS, None, [])
    return cli_home


@pytest.fixture
def activated(home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``home`` with acme/ops activated (its snapshot ``core`` built): the model's path."""
    model = str(tiny_model_dir)
    assert _cli(capsys, "activate", "acme/ops", "--model", model, "--json")[0] == 0
    return model


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = run(list(argv))
    captured = capsys.readouterr()
    try:
        document = json.loads(captured.out) if captured.out.strip() else None
    except json.JSONDecodeError:
        document = captured.out
    return code, document, captured.err


def test_activate_then_generate_is_identical_with_and_without_the_snapshot(
    home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(tiny_model_dir)
    code, built, err = _cli(capsys, "activate", "acme/ops", "--model", model, "--json")
    assert code == 0, err
    assert built["kind"] == "activation"
    assert {s["id"] for s in built["sources"]} == {"wifi", "invoices", "build"}
    assert Path(built["path"]).is_file()
    common = ["generate", QUESTION, "--model", model, "--max-new-tokens", "8", "--json"]
    common += ["--form", "inject"]  # tiny snapshots: by cost, prefilling may win
    code, injected, err = _cli(capsys, *common)
    assert code == 0, err
    code, prefilled, err = _cli(capsys, *common, "--no-activation")
    assert code == 0, err
    assert injected["text"] == prefilled["text"]
    assert injected["used"]["snapshots"] == ["acme/ops:core"]
    assert prefilled["used"]["snapshots"] == []
    assert injected["used"]["prefilled_tokens"] < prefilled["used"]["prefilled_tokens"]
    assert injected["ttft_ms"] > 0
    assert prefilled["ttft_ms"] > 0


def test_stale_and_foreign_snapshots_are_skipped_with_their_reason(
    home: Path, activated: str, other_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memos_client.runtime import MemOS

    model = activated
    # --form inject: these snapshots are tiny, and what is tested is why each is left out.
    common = ["generate", QUESTION, "--max-new-tokens", "4", "--json", "--form", "inject"]
    code, foreign, err = _cli(capsys, *common, "--model", str(other_model_dir))
    assert code == 0, err
    assert foreign["used"]["snapshots"] == []
    assert "acme/ops:core: built for another model" in foreign["used"]["skipped"]
    with MemOS(home, embedder="hashing") as memos:
        memos.update("acme/ops#invoices", text="Invoices above 9000 euros need three approvals.")
    code, stale, err = _cli(capsys, *common, "--model", model)
    assert code == 0, err
    assert stale["used"]["snapshots"] == []
    assert any("acme/ops:core: stale" in reason for reason in stale["used"]["skipped"])
    # --rebuild-stale recomputes it from the current text, and later queries just inject it.
    code, rebuilt, err = _cli(capsys, *common, "--model", model, "--rebuild-stale")
    assert code == 0, err
    assert rebuilt["used"]["snapshots"] == ["acme/ops:core"]
    assert rebuilt["used"]["notes"] == [
        "acme/ops:core: rebuilt (memories changed since: invoices (v1 -> v2))"
    ]
    code, fresh, err = _cli(capsys, *common, "--model", model)
    assert fresh["used"]["snapshots"] == ["acme/ops:core"]
    assert fresh["used"]["notes"] == []
    code, prefilled, err = _cli(capsys, *common, "--model", model, "--no-activation")
    assert prefilled["text"] == fresh["text"]


def test_a_version_bump_without_a_text_change_keeps_the_snapshot(
    home: Path, activated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from memos_client.runtime import MemOS

    model = activated
    with MemOS(home, embedder="hashing") as memos:
        # Archive + restore: two new versions of the item, the same text.
        memos.lifecycle.archive("acme/ops#invoices")
        memos.lifecycle.restore("acme/ops#invoices")
    common = ["generate", QUESTION, "--model", model, "--max-new-tokens", "4", "--json"]
    common += ["--form", "inject"]  # tiny snapshots: by cost, prefilling may win
    # Restore makes the memory Activated: keep the lifecycle from building a hot snapshot here.
    common += ["--maintenance-budget", "0"]
    code, result, err = _cli(capsys, *common)
    assert code == 0, err
    assert result["used"]["snapshots"] == ["acme/ops:core"]
    # Versions moved, the text did not: the snapshot is current (told from the stored versions,
    # without tokenising anything).
    assert result["used"]["notes"] == []
    assert not any("stale" in reason for reason in result["used"]["skipped"])
    code, prefilled, err = _cli(capsys, *common, "--no-activation")
    assert prefilled["text"] == result["text"]


def test_damaged_snapshot_file_is_skipped_not_fatal(
    home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(tiny_model_dir)
    code, built, _ = _cli(capsys, "activate", "acme/ops", "--model", model, "--json")
    path = Path(built["path"])
    path.write_bytes(path.read_bytes()[:-100])
    code, result, err = _cli(
        capsys, "generate", QUESTION, "--model", model, "--max-new-tokens", "2", "--json",
        "--form", "inject",
    )  # fmt: skip
    assert code == 0, err
    assert result["used"]["snapshots"] == []
    assert any("unusable file" in reason for reason in result["used"]["skipped"])


def test_consolidated_adapter_is_used_by_generate(
    activated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = activated
    code, built, err = _cli(
        capsys, "consolidate", "acme/ops", "--model", model, "--steps", "4", "--json"
    )
    assert code == 0, err
    assert built["kind"] == "parameter"
    assert (Path(built["path"]) / "adapter_model.safetensors").is_file()
    common = ["generate", QUESTION, "--model", model, "--max-new-tokens", "6", "--json"]
    common += ["--form", "inject"]  # tiny snapshots: by cost, prefilling may win
    code, with_adapter, err = _cli(capsys, *common)
    assert code == 0, err
    assert with_adapter["used"]["adapters"] == ["acme/ops:consolidated"]
    # The snapshot holds the base model's keys and values: with the adapter on, it is not used.
    assert with_adapter["used"]["snapshots"] == []
    assert (
        "acme/ops:core: an adapter of acme/ops is loaded and changes the keys and values; "
        "its memories are prefilled instead" in with_adapter["used"]["skipped"]
    )
    # Issue 19: --no-activation left the adapter on. Now it is plaintext only ...
    code, plain, err = _cli(capsys, *common, "--no-activation")
    assert code == 0, err
    assert plain["used"]["adapters"] == []
    assert plain["used"]["snapshots"] == []
    # ... and --no-adapters switches off parameter memory alone: the snapshot is injected again.
    code, no_adapters, err = _cli(capsys, *common, "--no-adapters")
    assert code == 0, err
    assert no_adapters["used"]["adapters"] == []
    assert no_adapters["used"]["snapshots"] == ["acme/ops:core"]
    assert no_adapters["text"] == plain["text"]


def test_unknown_cube_and_bad_model_are_clear_errors(
    home: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, "activate", "acme/none", "--model", str(tiny_model_dir))
    assert code == 4
    assert "no installed cube 'acme/none'" in err
    code, _, err = _cli(capsys, "activate", "acme/ops", "--model", str(tmp_path))
    assert code == 2
    assert "is not a model directory (no config.json)" in err
    code, _, err = _cli(
        capsys, "activate", "acme/ops", "--model", str(tiny_model_dir), "--name", "../x"
    )
    assert code == 2
    assert "invalid part name" in err
    code, _, err = _cli(
        capsys, "generate", "q", "--model", str(tiny_model_dir), "--cube", "acme/none"
    )
    assert code == 4
    assert "no installed cube 'acme/none'" in err
    code, _, err = _cli(capsys, "generate", "q", "--model", str(tiny_model_dir), "--dtype", "F8")
    assert code == 2
    assert "unknown dtype 'F8': use one of F32, F16, BF16" in err
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "gpt2"}')
    for weights in (b"garbage\n", b""):
        (broken / "model.safetensors").write_bytes(weights)
        code, _, err = _cli(capsys, "generate", "q", "--model", str(broken))
        assert code == 2
        assert err.startswith(f"error: cannot load the model in {broken}: ")
        assert len(err.splitlines()) == 1
    code, _, err = _cli(capsys, "plan", "q", "--tokenizer", str(tmp_path / "missing"))
    assert code == 2
    assert err.startswith("error: no tokenizer at ")
    (tmp_path / "tokenizer.json").write_text("not json")
    code, _, err = _cli(capsys, "plan", "q", "--tokenizer", str(tmp_path / "tokenizer.json"))
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'tokenizer.json'} is not a tokenizer.json (")


# peft 0.21 itself reads a deprecated transformers property while loading; not our warning.
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_source_dir_parts_are_packed_and_the_adapter_loads_from_the_bundle(
    tmp_path: Path,
    tiny_model_dir: Path,
    load_fresh: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch
    from peft import PeftModel

    from memos_client.runtime.activation.lora import install_adapter_dir
    from mip.container import open_bundle

    monkeypatch.setenv("MEMOS_HOME", str(tmp_path / "home"))
    source = tmp_path / "cube"
    assert _cli(capsys, "init", str(source), "--name", "acme/ops")[0] == 0
    lines = [json.dumps({"id": r["id"], "text": r["text"], "tags": ["activate"]}) for r in RECORDS]
    (source / "memories" / "ops.jsonl").write_text("\n".join(lines) + "\n")
    (source / "memories" / "example.jsonl").unlink(missing_ok=True)
    model = str(tiny_model_dir)
    code, snap, err = _cli(capsys, "activate", str(source), "--model", model, "--json")
    assert code == 0, err
    assert snap["path"] == str(source / "activations" / "core.safetensors")
    code, adapter, err = _cli(
        capsys, "consolidate", str(source), "--model", model, "--steps", "3", "--json"
    )
    assert code == 0, err
    assert adapter["path"] == str(source / "adapters" / "consolidated")
    bundle_path = tmp_path / "ops.memcube"
    code, _, err = _cli(capsys, "pack", str(source), "-o", str(bundle_path), "--unsigned")
    assert code == 0, err
    with open_bundle(bundle_path) as bundle:
        bundle.verify_blobs()
        bundle.check_contents()
        parts = {part.kind: part for part in bundle.manifest.parts}
        assert set(parts) >= {"plaintext", "activation", "parameter"}
        assert parts["activation"].model.digest == load_fresh(tiny_model_dir).fingerprint.digest
        blob = tmp_path / "blob"
        bundle.extract_blob(parts["parameter"].digest, blob)
        adapter_config = parts["parameter"].adapter_config
    installed = install_adapter_dir(tmp_path / "installed", adapter_config, blob)
    probe = torch.tensor([[101, 7592, 2088, 102]])
    base = load_fresh(tiny_model_dir)
    from_bundle = PeftModel.from_pretrained(base.model, str(installed))
    from_source = PeftModel.from_pretrained(
        load_fresh(tiny_model_dir).model, str(source / "adapters" / "consolidated")
    )
    with torch.inference_mode():
        assert torch.equal(from_bundle(input_ids=probe).logits, from_source(input_ids=probe).logits)


def test_generate_runs_as_a_real_process(home: Path, tiny_model_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "memos_client", "generate", QUESTION]
    command += ["--model", str(tiny_model_dir), "--max-new-tokens", "3", "--threads", "1", "--json"]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert set(document) == {"text", "ttft_ms", "used"}
    assert document["used"]["memories"]


def test_a_stale_adapter_is_not_applied_and_rebuild_stale_retrains_it(
    home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19: after a memory an adapter was trained on was deleted, generate still applied
    the adapter (deleted knowledge kept shaping answers)."""
    from memos_client.runtime import MemOS

    model = str(tiny_model_dir)
    code, built, err = _cli(
        capsys, "consolidate", "acme/ops", "--model", model, "--steps", "2", "--json"
    )
    assert code == 0, err
    assert {source["id"] for source in built["sources"]} == {"wifi", "invoices", "build"}
    common = ["generate", QUESTION, "--model", model, "--max-new-tokens", "2", "--json"]
    common += ["--form", "inject"]  # tiny snapshots: by cost, prefilling may win
    common += ["--maintenance-budget", "0"]
    code, fresh, err = _cli(capsys, *common)
    assert fresh["used"]["adapters"] == ["acme/ops:consolidated"]
    with MemOS(home, embedder="hashing") as memos:
        memos.delete("acme/ops#build")
    code, stale, err = _cli(capsys, *common)
    assert code == 0, err
    assert stale["used"]["adapters"] == []
    assert (
        "acme/ops:consolidated: stale (memories changed since: build (gone))"
        in stale["used"]["skipped"]
    )
    code, rebuilt, err = _cli(
        capsys, "consolidate", "acme/ops", "--model", model, "--steps", "2", "--rebuild-stale",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    assert [entry["name"] for entry in rebuilt["rebuilt"]] == ["consolidated"]
    assert rebuilt["rebuilt"][0]["stale"] == ["build (gone)"]
    assert {source["id"] for source in rebuilt["rebuilt"][0]["sources"]} == {"wifi", "invoices"}
    code, again, err = _cli(capsys, *common)
    assert again["used"]["adapters"] == ["acme/ops:consolidated"]
    code, nothing, err = _cli(
        capsys, "consolidate", "acme/ops", "--model", model, "--rebuild-stale"
    )
    assert code == 0, err
    assert "no stale adapter in acme/ops" in nothing


def test_plan_with_a_model_counts_exactly_and_says_so(
    activated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = activated
    code, plan, err = _cli(
        capsys, "plan", QUESTION, "--model", model, "--budget", "500", "--json", "--form", "inject"
    )
    assert code == 0, err
    assert plan["counted_with"].startswith("tokenizer of ")
    assert plan["used_tokens"] == plan["injected_tokens"] + plan["prefill_tokens"] <= 500
    assert [part["name"] for part in plan["activations"]] == ["core"]
    code, text, err = _cli(capsys, "plan", QUESTION, "--budget", "500")
    assert code == 0, err
    assert "counted with estimate" in text
    code, _, err = _cli(capsys, "plan", QUESTION, "--min-score", "2")
    assert code == 2
    assert "error: min_score must be a number from 0 to 1, got 2.0" in err


def test_a_snapshot_computed_under_the_adapter_is_injected_with_it(
    home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str], load_fresh: Any
) -> None:
    """Issue 19: once any adapter existed for a cube every snapshot was dropped."""
    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.local_parts import adapter_dir, cube_parts
    from memos_client.runtime.activation.lora import activate_adapters
    from memos_client.runtime.activation.prompt import question_token_ids
    from memos_client.runtime.activation.snapshot_file import open_snapshot
    from memos_client.runtime.activation.snapshots import inject

    model = str(tiny_model_dir)
    code, _, err = _cli(capsys, "activate", "acme/ops", "--with-adapters", "--model", model)
    assert code == 2
    assert "acme/ops has no fresh adapter" in err
    args = ["acme/ops", "--model", model]
    assert _cli(capsys, "consolidate", *args, "--steps", "2", "--json")[0] == 0
    assert _cli(capsys, "activate", *args, "--json")[0] == 0  # base snapshot "core"
    code, built, err = _cli(
        capsys, "activate", *args, "--with-adapters", "--name", "adapted", "--json"
    )
    assert code == 0, err
    common = ["generate", QUESTION, "--model", model, "--max-new-tokens", "2", "--json"]
    common += ["--form", "inject"]  # tiny snapshots: by cost, prefilling may win
    code, result, err = _cli(capsys, *common, "--maintenance-budget", "0")
    assert code == 0, err
    assert result["used"]["adapters"] == ["acme/ops:consolidated"]
    assert result["used"]["snapshots"] == ["acme/ops:adapted"]
    # Without the adapter the base snapshot is the one injected, not the adapted one.
    code, base, err = _cli(capsys, *common, "--maintenance-budget", "0", "--no-adapters")
    assert base["used"]["snapshots"] == ["acme/ops:core"]
    # Exact: the adapted snapshot injected under the adapter = prefilling its tokens under it.
    adapted = load_fresh(tiny_model_dir)
    with MemOS(home, embedder="hashing") as memos:
        [part] = cube_parts(memos, "acme/ops", "parameter")
        activate_adapters(adapted, [adapter_dir(memos, {**part, "cube": "acme/ops"})])
    snapshot = open_snapshot(Path(built["path"]))
    question = question_token_ids(adapted, QUESTION)
    on_top = adapted.forward(question, inject(adapted, snapshot)).logits
    whole = adapted.forward([*snapshot.token_ids, *question]).logits
    assert float((on_top - whole).abs().max()) <= 1e-4
