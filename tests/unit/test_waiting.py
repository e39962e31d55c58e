"""The bounded wait loop, on a fake clock: it never pauses past its deadline."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from waitroom.domain.process import ProcessRecord, ProcessStatus
from waitroom.entrypoints.http.wait_budget import API_GATEWAY_TIMEOUT_MS, wait_budget_ms
from waitroom.service.waiting import (
    MIN_HISTORY,
    PollSchedule,
    plan_from_history,
    quantile,
    smoothed_quantiles,
    wait_for_final,
)

SEED = PollSchedule.parse("seed")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        assert seconds >= 0
        self.pauses.append(round(seconds, 6))
        self.now += seconds


def row(status: ProcessStatus) -> ProcessRecord:
    return ProcessRecord("id", status, "key", None, None, NOW, NOW)


def reader(clock: FakeClock, finishes_at: float | None) -> tuple[list[float], object]:
    reads: list[float] = []

    def read() -> ProcessRecord | None:
        reads.append(clock.now)
        done = finishes_at is not None and clock.now >= finishes_at
        return row(ProcessStatus.DONE if done else ProcessStatus.PENDING)

    return reads, read


def test_the_seed_schedule_backs_off_exponentially_then_holds_at_one_second() -> None:
    pauses = SEED.pauses_s()
    assert [next(pauses) for _ in range(7)] == [0.05, 0.1, 0.25, 0.5, 1.0, 1.0, 1.0]


def test_it_returns_as_soon_as_a_read_sees_the_row_final() -> None:
    clock = FakeClock()
    reads, read = reader(clock, finishes_at=0.3)
    record = wait_for_final(read, deadline=10, schedule=SEED, clock=clock, pause=clock.pause)  # type: ignore[arg-type]
    assert record is not None and record.status is ProcessStatus.DONE
    assert clock.pauses == [0.05, 0.1, 0.25]
    assert len(reads) == 4


def test_it_never_pauses_past_the_deadline_and_reads_once_at_it() -> None:
    clock = FakeClock()
    reads, read = reader(clock, finishes_at=None)
    record = wait_for_final(read, deadline=2.0, schedule=SEED, clock=clock, pause=clock.pause)  # type: ignore[arg-type]
    assert record is not None and record.status is ProcessStatus.PENDING
    assert clock.now == pytest.approx(2.0)
    assert clock.pauses == [0.05, 0.1, 0.25, 0.5, 1.0, 0.1]
    assert reads[-1] == pytest.approx(2.0), "a last read at the deadline itself"


def test_a_deadline_already_passed_reads_once_without_pausing() -> None:
    clock = FakeClock()
    clock.now = 5
    reads, read = reader(clock, finishes_at=None)
    wait_for_final(read, deadline=5, schedule=SEED, clock=clock, pause=clock.pause)  # type: ignore[arg-type]
    assert (len(reads), clock.pauses) == (1, [])


def test_a_vanished_row_ends_the_wait() -> None:
    clock = FakeClock()
    assert wait_for_final(lambda: None, deadline=5, schedule=SEED, clock=clock, pause=clock.pause) is None
    assert clock.pauses == []


#: The limits of a call through a Function URL, which API Gateway's 30 s does not cut.
LONG = {"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "long_wait_max_ms": 840_000}


@pytest.mark.parametrize(
    ("kwargs", "budget"),
    [
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500}, 25_000),
        ({"sync_timeout_ms": 60_000, "safety_margin_ms": 500}, API_GATEWAY_TIMEOUT_MS - 500),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "preferred_wait_ms": 3000}, 3000),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "preferred_wait_ms": 0}, 0),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "remaining_ms": 10_000}, 9_500),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "remaining_ms": 100}, 0),
        # On a Function URL (long_wait_max_ms set) the gateway's 30 s is gone: Prefer: wait may
        # exceed SYNC_TIMEOUT_MS up to the maximum and the function's remaining time.
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "long_wait_max_ms": 840_000}, 25_000),
        ({**LONG, "preferred_wait_ms": 35_000}, 35_000),
        ({**LONG, "long_wait_max_ms": 60_000, "preferred_wait_ms": 600_000}, 60_000),
        (
            {
                "sync_timeout_ms": 25_000,
                "safety_margin_ms": 500,
                "long_wait_max_ms": 840_000,
                "preferred_wait_ms": 840_000,
                "remaining_ms": 900_000,
            },
            840_000,
        ),
        (
            {
                "sync_timeout_ms": 25_000,
                "safety_margin_ms": 500,
                "long_wait_max_ms": 840_000,
                "preferred_wait_ms": 840_000,
                "remaining_ms": 100_000,
            },
            99_500,
        ),
    ],
)
def test_the_budget_is_the_smallest_limit(kwargs: dict[str, int], budget: int) -> None:
    assert wait_budget_ms(**kwargs) == budget


@pytest.mark.parametrize("spec", ["", "seed,", "fast", "0", "10,-5", "1.5"])
def test_bad_schedules_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"schedule|milliseconds"):
        PollSchedule.parse(spec)


def test_a_schedule_in_milliseconds() -> None:
    schedule = PollSchedule.parse(" 10,20 ")
    pauses = schedule.pauses_s()
    assert [next(pauses) for _ in range(4)] == [0.01, 0.02, 0.02, 0.02]


WORKLOADS: dict[str, Callable[[random.Random], float]] = {
    "uniform 0-5 s": lambda draw: draw.uniform(0, 5000),
    "log-normal, median 1 s": lambda draw: 1000 * draw.lognormvariate(0, 0.3),
    "bimodal": lambda draw: draw.choice((200.0, 3000.0)) * draw.uniform(0.9, 1.1),
}


def reads_and_p99(schedule: PollSchedule, durations: list[float]) -> tuple[float, float]:
    costs = [schedule.cost(duration) for duration in durations]
    late = sorted(lateness for _, lateness in costs)
    return statistics.mean(reads for reads, _ in costs), late[int(0.99 * (len(late) - 1))]


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_learnt_plan_reads_no_more_than_the_seed_on_new_durations_and_sees_finishes_sooner(
    workload: str, seed: int
) -> None:
    draw = random.Random(seed)  # noqa: S311 -- reproducible durations, not secrets
    history = [WORKLOADS[workload](draw) for _ in range(200)]
    plan = plan_from_history(history)
    assert plan is not None and plan.adaptive
    later = [WORKLOADS[workload](draw) for _ in range(2000)]
    plan_reads, plan_p99 = reads_and_p99(plan, later)
    seed_reads, seed_p99 = reads_and_p99(SEED, later)
    assert plan_reads <= seed_reads, f"{plan_reads:.2f} reads per wait against the seed's {seed_reads:.2f}"
    assert plan_p99 < seed_p99 / 2, f"p99 {plan_p99:.0f} ms after the finish against the seed's {seed_p99:.0f} ms"


def test_a_plan_does_not_read_before_the_fastest_processes_finish() -> None:
    plan = plan_from_history([900.0 + index for index in range(100)])
    assert plan is not None
    assert plan.delays_ms[0] >= 900
    assert plan.delays_ms[-1] == 1000, "beyond what the history knows it backs off to a read a second"


def test_the_smoothed_tails_of_a_sample_are_nearer_the_truth_than_its_extreme_values() -> None:
    """The 0.5th and 99.5th percentiles of log-normal durations (median 1 s, sigma 0.3), estimated
    from samples of 200: the kernel estimate misses them by less than the sample's own quantiles."""
    normal = statistics.NormalDist()
    truth = [1000 * math.exp(0.3 * normal.inv_cdf(q)) for q in (0.005, 0.995)]
    smoothed_error, sample_error = [0.0, 0.0], [0.0, 0.0]
    for seed in range(1, 11):
        draw = random.Random(seed)  # noqa: S311 -- reproducible durations, not secrets
        ordered = sorted(1000 * draw.lognormvariate(0, 0.3) for _ in range(200))
        smoothed = smoothed_quantiles(ordered, 0.005, 0.995)
        for tail in (0, 1):
            smoothed_error[tail] += abs(smoothed[tail] - truth[tail])
            sample_error[tail] += abs(quantile(ordered, (0.005, 0.995)[tail]) - truth[tail])
    assert smoothed_error[0] < sample_error[0] and smoothed_error[1] < sample_error[1], (smoothed_error, sample_error)


def test_too_little_history_gives_no_plan() -> None:
    assert plan_from_history([1000.0] * (MIN_HISTORY - 1)) is None
