"""The Retry-After of a 202, from the key's history of durations."""

from __future__ import annotations

import pytest

from waitroom.entrypoints.http.retry_after import RETRY_AFTER_MAX_S, RETRY_AFTER_MIN_S, retry_after_s


def test_without_enough_history_the_configured_value_bounded() -> None:
    assert retry_after_s([], 0, default_s=2) == 2
    assert retry_after_s([5000.0] * 4, 0, default_s=2) == 2
    assert retry_after_s([], 0, default_s=120) == RETRY_AFTER_MAX_S


def test_the_median_of_the_processes_still_running_at_this_age_less_the_age() -> None:
    durations = [2000.0, 4000.0, 6000.0, 8000.0, 10_000.0, 12_000.0, 14_000.0]
    # Just started: median 8 s.
    assert retry_after_s(durations, 0, default_s=1) == 8
    # At 5 s the ones still running then took 6..14 s: median 10 s, so 5 s more.
    assert retry_after_s(durations, 5000, default_s=1) == 5
    # Rounded up to whole seconds, never under 1.
    assert retry_after_s(durations, 1500, default_s=1) == 7
    assert retry_after_s([1000.0] * 10, 990, default_s=1) == RETRY_AFTER_MIN_S


def test_a_process_older_than_its_history_is_looked_at_again_after_as_long_as_it_has_run() -> None:
    durations = [1000.0] * 20
    assert retry_after_s(durations, 4200, default_s=1) == 5
    assert retry_after_s(durations, 600_000, default_s=1) == RETRY_AFTER_MAX_S


@pytest.mark.parametrize("elapsed_ms", [0, 10, 999, 5_000, 29_999, 31_000, 10**7])
def test_always_between_1_and_30_seconds(elapsed_ms: int) -> None:
    for durations in ([], [10.0] * 50, [float(10**8)] * 50, [float(n * 1000) for n in range(100)]):
        assert RETRY_AFTER_MIN_S <= retry_after_s(durations, elapsed_ms, default_s=1) <= RETRY_AFTER_MAX_S
