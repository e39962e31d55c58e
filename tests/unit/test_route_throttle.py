"""The local gateway's route throttle is API Gateway's token bucket: ``burst`` at once, then
``rate`` a second."""

from __future__ import annotations

from devstack.throttle import Throttle, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_refills_it_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(Throttle(rate=2.0, burst=3), clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token at 2 a second
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 60  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
