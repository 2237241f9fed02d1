"""Model commands: ``activate`` (KV snapshots), ``consolidate`` (LoRA), ``generate``.

Every heavy import (torch, transformers, peft, the runtime) happens inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli_support.args import integer
from memos_client.cli.app import arg, command, flag
from memos_client.cli.options import NO_WIDEN, PLAN_MIN_SCORE
from memos_client.cli.output import note
from memos_client.cli.runtime_store import open_runtime

if TYPE_CHECKING:
    from memos_client.runtime.activation.local_parts import SourceDir

# A source directory's name may be any bytes.
TARGET = arg("target", type=str, help="NS/NAME of an installed cube, or a source dir.")
MODEL = arg(
    "--model",
    type=Path,
    required=True,
    help="A local transformers model directory (config.json, weights).",
)
#: ``--json`` of the commands that build a part (activate, consolidate).
JSON = flag("--json", dest="json_output", help="Print JSON.")
DTYPE = arg(
    "--dtype", default="F32", help="Weights and KV dtype: F32, F16 or BF16 (default: %(default)s)."
)


def _source_dir(root: Path) -> SourceDir:
    """A cube source directory's memories, read with authoring's source format."""
    from datetime import UTC, datetime

    from memos_client.authoring.source import iter_source_records, load_source
    from memos_client.runtime.activation.local_parts import SourceDir, source_candidates

    records = iter_source_records(load_source(root), datetime.now(UTC))
    return SourceDir(root, source_candidates(records))


def _cube_name(target: str) -> str:
    from memos_client.errors import UsageError
    from mip.errors import InvalidNameError
    from mip.names import normalize_cube_name

    try:
        return str(normalize_cube_name(target))
    except InvalidNameError as exc:
        raise UsageError(
            f"{target!r} is neither a cube source directory (with memcube.toml) nor a cube "
            f"name: {exc}"
        ) from exc


def _check_part_name(name: str) -> None:
    import re

    from memos_client.errors import UsageError

    # The manifest's rule for part names (MIP-1 §7): the name becomes a file name too.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
        raise UsageError(f"invalid part name {name!r}: use letters, digits, '.', '_' and '-'")


def _require_installed(memos: Any, cube: str) -> None:
    from memos_client.errors import NotFoundError

    if cube not in memos.cubes():
        raise NotFoundError(f"no installed cube {cube!r}: `memos install {cube}` first")


def _print_built(built: Any, json_output: bool) -> None:
    from memos_client.cli.output import format_size, print_json

    if json_output:
        print_json(built.to_json())
        return
    print(f"{built.kind} part {built.name!r}: {built.path}")
    print(f"  from {built.how}")
    for key, value in built.details.items():
        shown = format_size(value) if key == "bytes" else value
        print(f"  {key}: {shown}")


@command()
@TARGET
@MODEL
@arg("--name", default="core", help="Name of the snapshot part (default: %(default)s).")
@DTYPE
@flag(
    "--with-adapters",
    help="Compute it under the cube's (fresh) adapters: injected together with them.",
)
@JSON
def activate(
    target: str, model: Path, name: str, dtype: str, with_adapters: bool, json_output: bool
) -> None:
    """Build a KV snapshot (activation memory) of a cube's memories for a model.

    Memories tagged 'activate' are used if any, else those the lifecycle promoted, else all
    (as many as fit the context). For a source directory the snapshot is written to
    activations/NAME.safetensors, where `memos pack` picks it up.
    """
    from memos_client.runtime.activation.local_parts import activate as build
    from memos_client.runtime.activation.local_parts import is_source_dir
    from memos_client.runtime.activation.model_adapter import load_model

    _check_part_name(name)
    if is_source_dir(target):
        loaded = load_model(model, dtype)
        built = build(loaded, name, source=_source_dir(Path(target)))
    else:
        cube = _cube_name(target)
        with open_runtime() as memos:
            _require_installed(memos, cube)
            loaded = load_model(model, dtype)
            adapters = _load_fresh_adapters(memos, cube, loaded) if with_adapters else []
            built = build(loaded, name, memos=memos, cube=cube, adapters=adapters)
    _print_built(built, json_output)


def _load_fresh_adapters(memos: Any, cube: str, model: Any) -> list[dict[str, Any]]:
    """Activate the cube's fresh adapters on ``model``; returns their parts."""
    from memos_client.errors import UsageError
    from memos_client.runtime.activation.local_parts import adapter_dir, cube_parts
    from memos_client.runtime.activation.lora import activate_adapters
    from memos_client.runtime.planning import SourceFreshness

    fresh = SourceFreshness(memos)
    parts = [
        part
        for part in cube_parts(memos, cube, "parameter")
        if not fresh(cube, list(part.get("sources", [])))
    ]
    if not parts:
        raise UsageError(f"{cube} has no fresh adapter: run `memos consolidate {cube}` first")
    activate_adapters(model, [adapter_dir(memos, {**part, "cube": cube}) for part in parts])
    return parts


@command()
@TARGET
@MODEL
@arg("--name", default="consolidated", help="Name of the adapter part (default: %(default)s).")
@arg("--steps", type=integer(1), default=30, help="Training steps (default: %(default)s).")
@arg("--rank", type=integer(1), default=8, help="LoRA rank r (default: %(default)s).")
@arg(
    "--learning-rate",
    type=float,
    default=5e-3,
    help="AdamW learning rate (default: %(default)s).",
)
@flag(
    "--rebuild-stale",
    help="Retrain every locally trained adapter of the cube whose memories changed or are gone.",
)
@JSON
def consolidate(
    target: str,
    model: Path,
    name: str,
    steps: int,
    rank: int,
    learning_rate: float,
    rebuild_stale: bool,
    json_output: bool,
) -> None:
    """Train a LoRA adapter (parameter memory) on a cube's memories with PEFT.

    For a source directory the adapter is written to adapters/NAME/ (adapter_config.json +
    adapter_model.safetensors), where `memos pack` picks it up. An adapter records the memories
    (ids, versions) it was trained on; when one changes or is deleted it is stale and is not
    applied; --rebuild-stale retrains the stale ones (by their names).
    """
    from memos_client.runtime.activation.local_parts import consolidate as train
    from memos_client.runtime.activation.local_parts import is_source_dir
    from memos_client.runtime.activation.lora import TrainingSettings
    from memos_client.runtime.activation.model_adapter import load_model

    _check_part_name(name)
    settings = TrainingSettings(rank=rank, alpha=2 * rank, steps=steps, learning_rate=learning_rate)
    if rebuild_stale:
        _rebuild_stale_adapters(target, model, settings, json_output)
        return
    if is_source_dir(target):
        built = train(load_model(model), name, settings, source=_source_dir(Path(target)))
    else:
        cube = _cube_name(target)
        with open_runtime() as memos:
            _require_installed(memos, cube)
            built = train(load_model(model), name, settings, memos=memos, cube=cube)
    _print_built(built, json_output)


def _rebuild_stale_adapters(target: str, model: Path, settings: Any, json_output: bool) -> None:
    from memos_client.cli.output import print_json
    from memos_client.runtime.activation.local_parts import consolidate as train
    from memos_client.runtime.activation.local_parts import cube_parts
    from memos_client.runtime.activation.model_adapter import load_model
    from memos_client.runtime.planning import SourceFreshness

    cube = _cube_name(target)
    rebuilt: list[dict[str, Any]] = []
    with open_runtime() as memos:
        _require_installed(memos, cube)
        fresh = SourceFreshness(memos)
        stale = [
            (part["name"], changed)
            for part in cube_parts(memos, cube, "parameter")
            if part.get("origin") == "local"
            and (changed := fresh(cube, list(part.get("sources", []))))
        ]
        for part_name, changed in stale:
            # A fresh model each time: training wraps it with PEFT.
            built = train(load_model(model), part_name, settings, memos=memos, cube=cube)
            rebuilt.append({**built.to_json(), "stale": changed})
    if json_output:
        print_json({"cube": cube, "rebuilt": rebuilt})
        return
    if not rebuilt:
        print(f"no stale adapter in {cube}")
    for entry in rebuilt:
        print(f"retrained {cube}:{entry['name']} (stale: {', '.join(entry['stale'][:3])})")


@command()
@arg("question", help="The question to answer.")
@MODEL
@arg("--cube", help="Only this cube's memories.")
@arg(
    "--max-new-tokens",
    type=integer(1),
    default=32,
    help="Tokens to generate (default: %(default)s).",
)
@arg(
    "--budget",
    type=integer(1),
    default=1024,
    help="Plaintext memory budget (tokens) (default: %(default)s).",
)
@PLAN_MIN_SCORE
@flag(
    "--no-activation",
    help="Plaintext only: prefill the planned memory text, inject nothing, load no adapter.",
)
@flag("--no-adapters", help="Load no LoRA adapter.")
@arg(
    "--form",
    choices=("cost", "inject"),
    default="cost",
    help="cost: inject a snapshot only where the model's TTFT calibration says it is faster "
    "than prefilling; inject: every fresh snapshot that fits (default: %(default)s).",
)
@arg(
    "--maintenance-budget",
    type=integer(0),
    default=512,
    help="Let the lifecycle run first (its tick every 10 minutes; a stale hot snapshot rebuilt "
    "when its prefill is at most this many tokens; 0: off; default: %(default)s).",
)
@flag("--rebuild-stale", help="Recompute stale locally built snapshots.")
@NO_WIDEN
@DTYPE
@arg(
    "--threads",
    type=integer(1),
    help="torch CPU threads (default: torch's; 1 on a busy machine).",
)
@flag("--json", dest="json_output", help="Print JSON: text, ttft_ms, used.")
def generate(
    question: str,
    model: Path,
    cube: str | None,
    max_new_tokens: int,
    budget: int,
    min_score: float,
    no_activation: bool,
    no_adapters: bool,
    form: str,
    maintenance_budget: int,
    rebuild_stale: bool,
    no_widen: bool,
    dtype: str,
    threads: int | None,
    json_output: bool,
) -> None:
    """Answer a question with the memory plan: retrieve, inject, activate, generate (greedy).

    The memory injected (KV snapshots) plus the memory prefilled stays within --budget tokens,
    counted with the model's tokenizer. With --no-activation the same memory tokens are
    prefilled instead of injected and no adapter is loaded: without adapters the text is the
    same, only the time to first token differs.
    """
    from memos_client.cli.output import print_json
    from memos_client.runtime.activation.executor import run_generation
    from memos_client.runtime.activation.model_adapter import load_model

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    loaded = load_model(model, dtype)
    with open_runtime() as memos:
        scope = _cube_name(cube) if cube is not None else None
        if scope is not None:
            _require_installed(memos, scope)
        result = run_generation(
            memos,
            loaded,
            question,
            cube=scope,
            budget=budget,
            max_new_tokens=max_new_tokens,
            use_activation=not no_activation,
            use_adapters=not no_adapters,
            rebuild_stale=rebuild_stale,
            min_score=min_score,
            maintenance_tokens=maintenance_budget,
            form=form,
            widen=not no_widen,
        )
    if json_output:
        print_json({"text": result.text, "ttft_ms": round(result.ttft_ms, 3), "used": result.used})
        return
    print(result.text)
    used = result.used
    note(
        f"ttft {result.ttft_ms:.1f} ms; snapshots: {', '.join(used['snapshots']) or 'none'}; "
        f"adapters: {', '.join(used['adapters']) or 'none'}; "
        f"memory tokens: {used['memory_tokens']}/{used['budget_tokens']}; "
        f"prefilled tokens: {used['prefilled_tokens']}"
    )
    for reason in used["skipped"]:
        note(f"  skipped {reason}")
    for line in used["maintenance"]:
        note(f"  lifecycle: {line}")
