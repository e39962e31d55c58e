"""The bounded wait loop, on a fake clock: it never pauses past its deadline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from waitroom.domain import ProcessRecord, ProcessStatus
from waitroom.waiting import API_GATEWAY_TIMEOUT_MS, PollSchedule, wait_budget_ms, wait_for_final

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


@pytest.mark.parametrize(
    ("kwargs", "budget"),
    [
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500}, 25_000),
        ({"sync_timeout_ms": 60_000, "safety_margin_ms": 500}, API_GATEWAY_TIMEOUT_MS - 500),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "preferred_wait_ms": 3000}, 3000),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "preferred_wait_ms": 0}, 0),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "remaining_ms": 10_000}, 9_500),
        ({"sync_timeout_ms": 25_000, "safety_margin_ms": 500, "remaining_ms": 100}, 0),
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
