"""Measure a model's TTFT lines once per fingerprint, and keep them under ``MEMOS_HOME``.

:func:`measure` times, on the loaded model, (a) the forward over a few plaintext lengths plus a
question, and (b) opening + mapping a KV snapshot of a few lengths, injecting it and the forward
over the question on top — exactly the two things ``generate`` does — and keeps the fastest of
a few runs as the points of two curves (``cost.TTFTCalibration``), made non-decreasing (load only
adds time: a point slower than a longer one takes that one's time). It takes well under a second on tiny models and a few
seconds on a 135M model at 2 threads.

:func:`calibration_for` returns the cached calibration for the model's fingerprint digest
(``MEMOS_HOME/runtime/ttft-calibration.json``, 0600), measuring and caching it only when the
fingerprint is new (or the file unreadable: it is then rewritten, never trusted half-read).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from memos_client.config import private_dir, private_file
from memos_client.runtime.activation.model_adapter import CausalLM
from memos_client.runtime.activation.prompt import question_token_ids
from memos_client.runtime.activation.snapshot_file import open_snapshot, write_snapshot
from memos_client.runtime.activation.snapshots import inject
from memos_client.runtime.cost import CALIBRATION_VERSION, TTFTCalibration

#: Memory lengths measured (clipped to the model's context).
SIZES = (8, 32, 128, 512)
#: Times each length is measured; the fastest counts.
REPEATS = 3
#: The question every measurement ends with (``generate`` always forwards one).
QUESTION = "what did I note about the project?"
#: File name under ``MEMOS_HOME/runtime``.
CACHE_NAME = "ttft-calibration.json"


def _best_ms(run: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs: other load only ever adds time."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return min(times)


def _monotone(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """More tokens never cost less: a point above a later one was slowed by load, so it takes
    the later one's time (points sorted by tokens)."""
    result: list[tuple[int, float]] = []
    lowest = float("inf")
    for size, ms in reversed(points):
        lowest = min(lowest, ms)
        result.append((size, round(lowest, 4)))
    return result[::-1]


def measure(model: CausalLM, *, repeats: int = REPEATS) -> TTFTCalibration:
    """Measure the prefill and inject lines of ``model`` (see the module docstring)."""
    import torch

    question = question_token_ids(model, QUESTION)
    limit = model.max_positions or 1 << 20
    sizes = sorted({max(1, min(size, limit - len(question) - 2)) for size in SIZES})
    filler = model.encode("Memory:\n- a note about the project, its plans and its people\n")
    filler = filler or [0]
    ids = [filler[i % len(filler)] for i in range(max(sizes))]
    prefill: list[tuple[int, float]] = []
    injected: list[tuple[int, float]] = []
    with torch.inference_mode(), tempfile.TemporaryDirectory() as work:
        model.forward([*ids[: sizes[0]], *question])  # warm-up: first calls allocate
        for size in sizes:
            memory = ids[:size]

            def prefill_run(memory: list[int] = memory) -> object:
                return int(model.forward([*memory, *question]).logits.argmax())

            prefill.append((size, _best_ms(prefill_run, repeats)))
            path = Path(work) / f"calibration-{size}.safetensors"
            layers = model.cache_layers(model.forward(memory).cache)
            write_snapshot(path, layers, memory, model=model.fingerprint)

            def inject_run(path: Path = path) -> object:
                cache = inject(model, open_snapshot(path))
                return int(model.forward(question, cache).logits.argmax())

            inject_run()
            injected.append((size, _best_ms(inject_run, repeats)))
    return TTFTCalibration(
        model_digest=model.fingerprint.digest,
        model_id=model.fingerprint.model_id,
        prefill=_monotone(prefill),
        inject=_monotone(injected),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def cache_path(home: Path) -> Path:
    """Where the calibrations of ``home`` are kept."""
    return home / "runtime" / CACHE_NAME


def read_calibrations(home: Path) -> dict[str, TTFTCalibration]:
    """The cached calibrations by model digest; an unreadable or foreign file reads as none."""
    try:
        document = json.loads(cache_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    models = document.get("models") if isinstance(document, dict) else None
    found: dict[str, TTFTCalibration] = {}
    for digest, entry in (models or {}).items():
        try:
            calibration = msgspec.convert(entry, TTFTCalibration)
        except msgspec.ValidationError:
            continue
        if calibration.version == CALIBRATION_VERSION and calibration.model_digest == digest:
            found[digest] = calibration
    return found


def write_calibrations(home: Path, calibrations: dict[str, TTFTCalibration]) -> Path:
    """Write the cache (0600, temp file + ``os.replace``: complete or not at all)."""
    path = cache_path(home)
    private_dir(path.parent)
    document = {"models": {d: c.to_json() for d, c in sorted(calibrations.items())}}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
    private_file(temporary)
    os.replace(temporary, path)
    return path


def calibration_for(
    home: Path, model: CausalLM, *, measure_with: Callable[[CausalLM], TTFTCalibration] = measure
) -> TTFTCalibration:
    """The model's calibration: cached by fingerprint digest, measured only when new."""
    digest = model.fingerprint.digest
    calibrations = read_calibrations(home)
    found = calibrations.get(digest)
    if found is not None:
        return found
    calibration = measure_with(model)
    calibrations[digest] = calibration
    write_calibrations(home, calibrations)
    return calibration
