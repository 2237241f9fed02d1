"""The TTFT cost model the scheduler chooses a plan's form with (issue 19, "choose the form by cost").

A :class:`TTFTCalibration` is measured once per model fingerprint
(``activation.calibration``) and holds two straight lines, both measured with a short question
after the memory:

- *prefill*: ``prefill_fixed_ms + prefill_ms_per_token x tokens`` — the forward over plaintext
  memory tokens and the question;
- *inject*: ``inject_fixed_ms + inject_ms_per_token x tokens`` — opening and mapping one KV
  snapshot of that many tokens, turning it into a cache, and the forward over the question on top.

A plan that injects snapshots costs the first snapshot's injection plus the prefill of every
token after it: further snapshots are recomputed on top of the first (``snapshots.combine``:
KV computed on its own is not valid after another segment), and the plaintext rest and the
question are forwarded over the injected cache. Pure arithmetic: nothing here imports a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

#: The version of the calibration's measurement; a cached calibration of another is re-measured.
CALIBRATION_VERSION = 1


class TTFTCalibration(msgspec.Struct, frozen=True):
    """Measured TTFT lines of one model (see the module docstring); times in milliseconds."""

    model_digest: str
    model_id: str
    prefill_fixed_ms: float
    prefill_ms_per_token: float
    inject_fixed_ms: float
    inject_ms_per_token: float
    measured_at: str = ""
    version: int = CALIBRATION_VERSION

    def prefill_ms(self, tokens: int) -> float:
        """Forward over ``tokens`` plaintext memory tokens and the question, from nothing."""
        return self.prefill_fixed_ms + self.prefill_ms_per_token * tokens

    def estimate_ms(self, injected: Sequence[int], prefill_tokens: int) -> float:
        """TTFT of a plan that injects snapshots of ``injected`` tokens (in order) and prefills
        ``prefill_tokens`` plaintext memory tokens after them."""
        if not injected:
            return self.prefill_ms(prefill_tokens)
        recomputed = sum(injected[1:]) + prefill_tokens
        return (
            self.inject_fixed_ms
            + self.inject_ms_per_token * injected[0]
            + self.prefill_ms_per_token * recomputed
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the cached form, and ``--json`` output)."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class TTFTOption(msgspec.Struct, frozen=True):
    """One form a plan could take, with what it would cost."""

    name: str
    snapshots: list[str]
    injected_tokens: int
    prefill_tokens: int
    ttft_ms: float | None
    fits: bool = True
    chosen: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--json`` output."""
        return {
            "name": self.name,
            "snapshots": list(self.snapshots),
            "injected_tokens": self.injected_tokens,
            "prefill_tokens": self.prefill_tokens,
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 2),
            "fits": self.fits,
            "chosen": self.chosen,
        }


#: What a plan says when no calibration is at hand (no model).
NO_ESTIMATE = (
    "TTFT estimate unavailable without a model (pass --model): every fresh snapshot that fits "
    "the budget is injected"
)


def fit_line(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``(fixed, per_token)`` through ``(tokens, ms)`` points, both >= 0."""
    if not points:
        raise ValueError("no points to fit")
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    slope = max(slope, 0.0)
    fixed = max(mean_y - slope * mean_x, 0.0)
    return fixed, slope


def choose_injection(
    costs: TTFTCalibration | None,
    labels: Sequence[str],
    tokens: Sequence[int],
    prefill: Callable[[int], int],
    budget: float,
) -> tuple[int, list[TTFTOption], str]:
    """How many of the eligible snapshots (``labels``, in injection order) to inject.

    Option ``k`` injects the first ``k`` snapshots (``tokens`` each) and prefills
    ``prefill(k)`` plaintext memory tokens; option 0 prefills everything. With ``costs`` the
    cheapest option within ``budget`` wins (ties: fewer snapshots); without, today's rule
    (every eligible snapshot). Returns ``(k, every option, the reason for the choice)``.
    """
    options: list[TTFTOption] = []
    for k in range(len(labels) + 1):
        prefill_tokens = prefill(k)
        injected = list(tokens[:k])
        names = list(labels[:k])
        options.append(
            TTFTOption(
                name="inject " + " + ".join(names) if names else "prefill all",
                snapshots=names,
                injected_tokens=sum(injected),
                prefill_tokens=prefill_tokens,
                ttft_ms=None if costs is None else costs.estimate_ms(injected, prefill_tokens),
                fits=sum(injected) + prefill_tokens <= budget,
            )
        )
    if costs is None:
        chosen = len(labels)
        reason = NO_ESTIMATE
    else:
        chosen = min(
            (k for k, option in enumerate(options) if option.fits),
            key=lambda k: (options[k].ttft_ms, k),
            default=0,
        )
        best = options[chosen]
        others = [o for o in options if o is not best and o.fits and o.ttft_ms is not None]
        if others:
            runner = min(others, key=lambda o: o.ttft_ms or 0.0)
            reason = (
                f"{best.name} is estimated fastest: {best.ttft_ms:.1f} ms to first token "
                f"against {runner.ttft_ms:.1f} ms to {runner.name} (calibration of "
                f"{costs.model_id})"
            )
        else:
            reason = (
                f"{best.name}: the only option within the budget, estimated "
                f"{best.ttft_ms:.1f} ms to first token"
            )
    options[chosen] = msgspec.structs.replace(options[chosen], chosen=True)
    return chosen, options, reason
