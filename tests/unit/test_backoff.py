"""The retry delay ingest advertises grows with the refusal it answers (collector/backoff.py)."""

from __future__ import annotations

import random

from collector.backoff import JITTER, RetryAdvice


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_sender_that_waits_as_told_retries_exponentially_up_to_the_cap():
    clock = Clock()
    advice = RetryAdvice(1.0, 30.0, clock=clock, rng=lambda: 0.5)  # no jitter
    delays = []
    for _ in range(9):
        delays.append(advice.delay())
        clock.now += delays[-1]
    assert delays == [1, 1, 2, 4, 8, 16, 30, 30, 30]
    assert advice.lasting == sum(delays)


def test_clear_starts_over_and_jitter_stays_within_bounds():
    clock = Clock()
    rng = random.Random(7)
    advice = RetryAdvice(1.0, 30.0, clock=clock, rng=rng.random)
    assert 1.0 <= advice.delay() <= 1 + JITTER
    clock.now += 10
    seen = [advice.delay() for _ in range(200)]
    assert all(10 * (1 - JITTER) <= d <= 10 * (1 + JITTER) for d in seen) and len(set(seen)) > 100
    clock.now += 1000
    assert all(30 * (1 - JITTER) <= advice.delay() <= 30 for _ in range(100))
    advice.clear()
    assert advice.lasting == 0 and advice.delay() <= 1 + JITTER
