"""The TTFT cost model the scheduler chooses a plan's form with (issue 19, "choose the form by cost").

A :class:`TTFTCalibration` is measured once per model fingerprint
(``activation.calibration``) and holds two curves, each measured at a few memory lengths with a
short question after the memory, linear between the points:

- *prefill*: ms to first token for the forward over that many plaintext memory tokens and the
  question;
- *inject*: ms to open and map one KV snapshot of that many tokens, turn it into a cache, and
  forward the question on top.

A plan that injects snapshots costs the first snapshot's injection plus the marginal prefill of
every token after it: further snapshots are recomputed on top of the first (``snapshots.combine``:
KV computed on its own is not valid after another segment), and the plaintext rest and the
question are forwarded over the injected cache. Pure arithmetic: nothing here imports a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from memos_client.runtime.memory_types import JsonFields

#: The version of the calibration's measurement; a cached calibration of another is re-measured.
CALIBRATION_VERSION = 2


class TTFTCalibration(msgspec.Struct, JsonFields, frozen=True):
    """Measured TTFT curves of one model (see the module docstring); times in milliseconds.

    ``prefill`` and ``inject`` are ``[tokens, ms]`` points; between them the curve is linear,
    beyond them it goes on along its first or last segment (never falling, never below 0).
    """

    model_digest: str
    model_id: str
    prefill: list[tuple[int, float]]
    inject: list[tuple[int, float]]
    measured_at: str = ""
    version: int = CALIBRATION_VERSION

    @classmethod
    def from_lines(
        cls,
        model_digest: str,
        model_id: str,
        *,
        prefill_fixed_ms: float,
        prefill_ms_per_token: float,
        inject_fixed_ms: float,
        inject_ms_per_token: float,
    ) -> TTFTCalibration:
        """A calibration of two straight lines (a fixed cost plus a cost per token)."""
        return cls(
            model_digest,
            model_id,
            prefill=[(0, prefill_fixed_ms), (1000, prefill_fixed_ms + 1000 * prefill_ms_per_token)],
            inject=[(0, inject_fixed_ms), (1000, inject_fixed_ms + 1000 * inject_ms_per_token)],
        )

    def prefill_ms(self, tokens: int) -> float:
        """Forward over ``tokens`` plaintext memory tokens and the question, from nothing."""
        return interpolate(self.prefill, tokens)

    def inject_ms(self, tokens: int) -> float:
        """Open, map and inject a snapshot of ``tokens`` tokens, then forward the question."""
        return interpolate(self.inject, tokens)

    def estimate_ms(self, injected: Sequence[int], prefill_tokens: int) -> float:
        """TTFT of a plan that injects snapshots of ``injected`` tokens (in order) and prefills
        ``prefill_tokens`` plaintext memory tokens after them."""
        if not injected:
            return self.prefill_ms(prefill_tokens)
        recomputed = sum(injected[1:]) + prefill_tokens
        on_top = self.prefill_ms(recomputed) - self.prefill_ms(0) if recomputed else 0.0
        return self.inject_ms(injected[0]) + max(on_top, 0.0)

    def summary(self) -> str:
        """The measured points in one line."""

        def points(curve: list[tuple[int, float]]) -> str:
            return ", ".join(f"{tokens}: {ms:.1f}" for tokens, ms in curve)

        return f"prefill ms by tokens {{{points(self.prefill)}}}; inject {{{points(self.inject)}}}"


def interpolate(points: Sequence[tuple[int, float]], tokens: int) -> float:
    """The piecewise-linear curve through ``points`` at ``tokens`` (see :class:`TTFTCalibration`)."""
    curve = sorted(points)
    if not curve:
        raise ValueError("no points")
    if len(curve) == 1:
        return curve[0][1]
    index = 1
    while index < len(curve) - 1 and tokens > curve[index][0]:
        index += 1
    (x0, y0), (x1, y1) = curve[index - 1], curve[index]
    slope = max((y1 - y0) / (x1 - x0), 0.0) if x1 != x0 else 0.0
    return max(y0 + slope * (tokens - x0), 0.0)


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
