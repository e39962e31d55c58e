"""The capacity model of docs/CAPACITY.md (bench/capacity.py): its arithmetic, on cases worked by hand."""

from __future__ import annotations

import math

from bench import capacity
from waitroom.service.waiting import PollSchedule

SEED = PollSchedule.parse("seed")


def test_a_push_wait_shorter_than_the_fallback_reads_twice() -> None:
    redis = capacity.STRATEGIES["redis"]
    # Save (2) + finish (1) + the read before the wake and the one after it.
    assert capacity.statements_per_wait(redis, [800.0, 1200.0], schedule=SEED, fallback_ms=5000) == 5
    # A 12 s process also meets two fallback reads.
    assert capacity.reads_per_wait(redis, 12_000.0, schedule=SEED, fallback_ms=5000) == 4


def test_listen_notify_adds_listen_unlisten_and_the_notify() -> None:
    listen = capacity.STRATEGIES["listen-notify"]
    assert capacity.statements_per_wait(listen, [1000.0], schedule=SEED, fallback_ms=5000) == 8


def test_a_polled_wait_reads_as_the_schedule_says() -> None:
    seed = capacity.STRATEGIES["seed"]
    # Reads at 0, 50, 150, 400, 900 and 1900 ms: the sixth sees a process that took 1 s.
    assert capacity.statements_per_wait(seed, [1000.0], schedule=SEED, fallback_ms=5000) == 3 + 6


def test_the_predicted_rate_is_the_arrival_rate_times_the_statements_of_a_wait() -> None:
    predicted = capacity.predict(
        "listen-notify", arrival_per_s=100, environments=40, durations_ms=[1000.0], schedule=SEED, fallback_ms=5000
    )
    assert predicted["statements_per_s"] == 800
    assert predicted["db_connections"] == 40, "one per environment: it listens on the connection it reads on"


def test_a_polled_wait_holds_its_environment_until_the_read_that_sees_the_finish() -> None:
    seed, redis = capacity.STRATEGIES["seed"], capacity.STRATEGIES["redis"]
    polled = capacity.held_wait_s(seed, [1000.0], schedule=SEED, base_overhead_ms=20)
    pushed = capacity.held_wait_s(redis, [1000.0], schedule=SEED, base_overhead_ms=20)
    assert math.isclose(polled, 1.92)  # the read at 1900 ms sees it
    assert math.isclose(pushed, 1.02)


def test_a_start_holds_its_environment_no_longer_than_the_sync_timeout() -> None:
    redis = capacity.STRATEGIES["redis"]
    assert capacity.held_wait_s(redis, [60_000.0], schedule=SEED, base_overhead_ms=0) == capacity.SYNC_TIMEOUT_S


def test_the_sizing_row_applies_littles_law_and_the_price() -> None:
    row = capacity.sizing(100, 1.0, sigma=0.3, fallback_ms=5000, base_overhead_ms=20)
    redis = row["strategies"]["redis"]
    # held_wait_s is rounded to a millisecond in the row: the environments are within one of λ·W.
    assert abs(redis["concurrency"] - 100 * redis["held_wait_s"]) <= 1
    assert redis["db_connections"] == redis["concurrency"] == redis["redis_connections"]
    expected_usd = redis["held_wait_s"] * 0.5 * 1e6 * capacity.PRICE_PER_GB_S + capacity.PRICE_PER_MILLION_REQUESTS
    assert math.isclose(redis["usd_per_million_starts"], round(expected_usd, 2))
    assert row["strategies"]["listen-notify"]["db_connections"] == row["strategies"]["listen-notify"]["concurrency"]
