"""A short fuzz run of every reader of untrusted bytes (the long run: bench/fuzz_mip.py).

Each input is a seed from spec/vectors with random edits (hypothesis picks the seed, the seed of
the edits and how many rounds of edits); each must be refused or accepted within 1 s and 256 MB,
never crash. A finding is fixed with a regression test beside the code it fixes.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import TARGETS, mutate, run_with_budget, seeds


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_passes_within_budget(name: str) -> None:
    for data in seeds(name):
        run_with_budget(name, data)


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(
    max_examples=40,
    deadline=None,  # the harness enforces its own budget, with memory
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # CI runs the same inputs every time; the long run explores
)
@given(choice=st.integers(0, 10_000), rng_seed=st.integers(0, 2**32), rounds=st.integers(1, 3))
def test_mutated_inputs_are_refused_or_accepted_within_budget(
    name: str, choice: int, rng_seed: int, rounds: int
) -> None:
    corpus = seeds(name)
    rng = random.Random(rng_seed)
    data = corpus[choice % len(corpus)]
    for _ in range(rounds):
        data = mutate(data, rng, corpus)
    run_with_budget(name, data)
