"""Choose the form by cost (issue 19): a per-model TTFT calibration, cached by fingerprint, and a
scheduler that injects a snapshot only where that is estimated faster than prefilling."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from memos_client.cli.main import run
from memos_client.runtime.cost import TTFTCalibration, choose_injection

pytestmark = pytest.mark.slow

TEXTS = [
    "My cat is called Luna and she likes fish.",
    "The door code of the garden shed is 4411.",
    "The train to Lyon leaves from platform 7 on Monday.",
]
QUESTION = "what is my cat called"


def _costs(model: Any, **lines: float) -> TTFTCalibration:
    values = {
        "prefill_fixed_ms": 1.0,
        "prefill_ms_per_token": 0.01,
        "inject_fixed_ms": 1.0,
        "inject_ms_per_token": 0.0,
    }
    values.update(lines)
    return TTFTCalibration.from_lines(
        model.fingerprint.digest, model.fingerprint.model_id, **values
    )


def _runtime_with_snapshot(memos: Any, model: Any) -> list[str]:
    from tests.activation.test_budget import _snapshot

    ids = memos.add_many([{"text": text} for text in TEXTS], cube="me/notes")
    _snapshot(memos, model, "me/notes", "all", ids)
    return ids


def test_calibration_is_measured_once_per_fingerprint_and_cached_privately(
    tiny_model: Any, tmp_path: Path, load_fresh: Any
) -> None:
    from memos_client.runtime.activation.calibration import (
        cache_path,
        calibration_for,
        read_calibrations,
    )
    from tests.activation.conftest import build_tiny_llama

    home = tmp_path / "home"
    first = calibration_for(home, tiny_model)
    assert first.model_digest == tiny_model.fingerprint.digest
    assert [size for size, _ in first.prefill] == [size for size, _ in first.inject]
    sizes = [size for size, _ in first.prefill]
    assert sizes[:3] == [8, 32, 128]
    assert 128 < sizes[3] < 256  # 512, clipped to the model's context
    assert all(ms > 0 for _, ms in [*first.prefill, *first.inject])
    path = cache_path(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def must_not_measure(model: Any) -> TTFTCalibration:
        raise AssertionError("a cached calibration was measured again")

    assert calibration_for(home, tiny_model, measure_with=must_not_measure) == first
    # Another fingerprint is measured (once) and kept beside the first.
    other = load_fresh(build_tiny_llama(tmp_path / "other", seed=5))
    second = calibration_for(home, other, measure_with=lambda m: _costs(m))
    assert second.model_digest != first.model_digest
    assert set(read_calibrations(home)) == {first.model_digest, second.model_digest}
    # A damaged cache is not trusted, not fatal: measured again and rewritten whole.
    path.write_text("{not json", encoding="utf-8")
    again = calibration_for(home, tiny_model, measure_with=lambda m: _costs(m))
    assert again == _costs(tiny_model)
    assert json.loads(path.read_text())["models"][tiny_model.fingerprint.digest]


def test_expensive_injection_makes_the_scheduler_prefill_and_cheap_injection_inject(
    tiny_model: Any, tmp_path: Path
) -> None:
    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.calibration import write_calibrations
    from memos_client.runtime.activation.executor import run_generation

    with MemOS(tmp_path / "home", embedder="hashing") as memos:
        _runtime_with_snapshot(memos, tiny_model)
        slow_inject = _costs(tiny_model, inject_fixed_ms=500.0)
        plan = memos.plan(QUESTION, 500, model=tiny_model, min_score=0.0, costs=slow_inject)
        assert plan.activations == []
        assert plan.injected_tokens == 0
        assert plan.decision.startswith("prefill all is estimated fastest")
        assert any("estimated faster; its memories are prefilled" in r for r in plan.skipped)
        [prefill, inject] = plan.ttft_options
        assert prefill.chosen
        assert not inject.chosen
        assert prefill.ttft_ms is not None
        assert inject.ttft_ms is not None
        assert prefill.ttft_ms < inject.ttft_ms
        # generate follows the cached calibration of its model (written here: nothing measured).
        write_calibrations(memos.home, {slow_inject.model_digest: slow_inject})
        used = run_generation(memos, tiny_model, QUESTION, max_new_tokens=1, min_score=0.0).used
        assert used["snapshots"] == []
        assert used["decision"] == plan.decision

        slow_prefill = _costs(tiny_model, prefill_ms_per_token=50.0)
        plan = memos.plan(QUESTION, 500, model=tiny_model, min_score=0.0, costs=slow_prefill)
        assert [part.label for part in plan.activations] == ["me/notes:all"]
        assert plan.decision.startswith("inject me/notes:all is estimated fastest")
        write_calibrations(memos.home, {slow_prefill.model_digest: slow_prefill})
        result = run_generation(memos, tiny_model, QUESTION, max_new_tokens=4, min_score=0.0)
        assert result.used["snapshots"] == ["me/notes:all"]
        assert result.used["estimated_ttft_ms"] == pytest.approx(plan.ttft_options[1].ttft_ms)
        # form="inject" is today's rule whatever the calibration says.
        write_calibrations(memos.home, {slow_inject.model_digest: slow_inject})
        forced = run_generation(
            memos, tiny_model, QUESTION, max_new_tokens=1, min_score=0.0, form="inject"
        )
        assert forced.used["snapshots"] == ["me/notes:all"]


def test_no_option_over_the_budget_is_chosen_however_cheap() -> None:
    cheap_inject = TTFTCalibration.from_lines(
        "d",
        "m",
        prefill_fixed_ms=10.0,
        prefill_ms_per_token=1.0,
        inject_fixed_ms=0.1,
        inject_ms_per_token=0.0,
    )
    k, options, reason = choose_injection(
        cheap_inject, ["c:big"], [90], lambda k: 40 if k == 0 else 5, budget=60
    )
    assert k == 0
    assert options[0].chosen
    assert not options[1].fits
    assert "the only option within the budget" in reason
    k, options, reason = choose_injection(None, ["c:kv"], [30], lambda k: 20 - 20 * k, 60)
    assert k == 1
    assert all(option.ttft_ms is None for option in options)
    assert "estimate unavailable" in reason


def test_run_generation_rejects_an_unknown_form(tiny_model: Any, tmp_path: Path) -> None:
    from memos_client.errors import UsageError
    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.executor import run_generation

    with (
        MemOS(tmp_path / "home", embedder="hashing") as memos,
        pytest.raises(UsageError, match="form must be one of cost, inject"),
    ):
        run_generation(memos, tiny_model, QUESTION, form="fastest")


def test_plan_shows_each_options_estimate_and_the_reason(
    tiny_model: Any, tiny_model_dir: Path, cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memos_client.runtime import MemOS
    from memos_client.runtime.activation.calibration import write_calibrations

    home = cli_home
    with MemOS(home, embedder="hashing") as memos:
        _runtime_with_snapshot(memos, tiny_model)
    costs = _costs(tiny_model, prefill_ms_per_token=50.0)
    write_calibrations(home, {costs.model_digest: costs})
    model = str(tiny_model_dir)
    common = ["plan", QUESTION, "--min-score", "0", "--budget", "500"]
    assert run([*common, "--model", model, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["decision"].startswith("inject me/notes:all is estimated fastest")
    assert [(o["name"], o["chosen"]) for o in plan["ttft_options"]] == [
        ("prefill all", False),
        ("inject me/notes:all", True),
    ]
    assert all(isinstance(o["ttft_ms"], float) for o in plan["ttft_options"])
    assert run([*common, "--model", model]) == 0
    text = capsys.readouterr().out
    assert "form: inject me/notes:all is estimated fastest" in text
    assert "* inject me/notes:all: ~" in text
    assert run(common) == 0
    text = capsys.readouterr().out
    assert "TTFT estimate unavailable without a model" in text
    assert "prefill all: estimate unavailable" in text


def test_the_curves_are_linear_between_points_and_extend_their_end_segments() -> None:
    costs = TTFTCalibration(
        "d", "m", prefill=[(8, 10.0), (32, 12.0), (128, 30.0)], inject=[(8, 5.0)]
    )
    assert costs.prefill_ms(8) == 10.0
    assert costs.prefill_ms(20) == pytest.approx(11.0)
    assert costs.prefill_ms(0) == pytest.approx(10.0 - 8 * 2 / 24)
    assert costs.prefill_ms(224) == pytest.approx(48.0)
    assert costs.inject_ms(4000) == 5.0
    # Injecting, then the rest prefilled on top: the marginal prefill of the rest.
    assert costs.estimate_ms([100], 20) == pytest.approx(5.0 + 11.0 - costs.prefill_ms(0))


def test_a_point_slowed_by_load_does_not_bend_the_curve_down() -> None:
    from memos_client.runtime.activation.calibration import _monotone

    assert _monotone([(8, 171.0), (32, 272.0), (128, 342.0), (512, 211.0)]) == [
        (8, 171.0),
        (32, 211.0),
        (128, 211.0),
        (512, 211.0),
    ]
    costs = TTFTCalibration("d", "m", prefill=[(8, 10.0), (32, 9.0)], inject=[(8, 5.0)])
    assert costs.prefill_ms(4000) == 10.0  # a falling segment is not extended
