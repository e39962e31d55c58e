"""The capacity model of docs/CAPACITY.md (bench/capacity.py): its arithmetic, on cases worked by hand."""

from __future__ import annotations

import dataclasses
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
    prices = capacity.PRICES
    expected_usd = redis["held_wait_s"] * 0.5 * 1e6 * prices.gb_s["x86_64"] + prices.per_million_lambda_requests
    assert math.isclose(redis["usd_per_million_starts"], round(expected_usd, 2))
    assert row["strategies"]["listen-notify"]["db_connections"] == row["strategies"]["listen-notify"]["concurrency"]


# The two modes' cost, on round prices so that every figure can be worked by hand.
ROUND = capacity.Prices(
    gb_s={"x86_64": 0.00001, "arm64": 0.000008},
    per_million_lambda_requests=0.20,
    per_million_http_api_requests=1.00,
    per_million_durable_operations=8.00,
    durable_written_per_gb=None,
    durable_retained_per_gb_month=None,
    read_on="test",
)
PROFILE = capacity.DurableProfile(
    first_invocation_s=0.15, resume_invocation_s=0.05, bytes_written_per_start=4000, retention_days=3
)


def test_a_classic_start_pays_its_whole_wait_once() -> None:
    cost = capacity.classic_cost_per_million(10.0, prices=ROUND)
    # 10 s x 0.5 GB x 1e6 = 5e6 GB-s at $0.00001; one Lambda request and one HTTP API request.
    assert cost["gb_s"] == 5_000_000
    assert math.isclose(cost["total"], 50 + 0.20 + 1.00)
    assert math.isclose(capacity.classic_cost_per_million(10.0, prices=ROUND, architecture="arm64")["total"], 41.20)


def test_a_durable_start_pays_two_short_invocations_and_its_operations() -> None:
    cost = capacity.durable_cost_per_million(prices=ROUND, profile=PROFILE, operations=7)
    # 0.2 s x 0.5 GB x 1e6 = 1e5 GB-s ($1.00), two Lambda requests ($0.40), one HTTP API request ($1.00),
    # 7 operations at $8 per million ($56).
    assert cost["gb_s"] == 100_000
    assert math.isclose(cost["durable_operations"], 56.0)
    assert math.isclose(cost["lambda_requests"], 0.40)
    assert math.isclose(cost["total"], 1.00 + 0.40 + 1.00 + 56.0)
    # 4,000 bytes a start: 4 GB per million, kept 3 days = 0.4 GB-month; unpriced, so not in the total.
    assert math.isclose(cost["written_gb"], 4.0)
    assert math.isclose(cost["retained_gb_months"], 0.4)
    assert "data_written" not in cost


def test_the_data_is_priced_when_a_price_is_given() -> None:
    priced = dataclasses.replace(ROUND, durable_written_per_gb=0.25, durable_retained_per_gb_month=0.15)
    cost = capacity.durable_cost_per_million(prices=priced, profile=PROFILE, operations=7)
    assert math.isclose(cost["data_written"], 1.00)
    assert math.isclose(cost["data_retained"], 0.06)
    assert math.isclose(cost["total"], 58.40 + 1.00 + 0.06)


def test_the_durable_operations_count_is_the_designs() -> None:
    # The execution's start, four steps and the callback's creation; waiting on the callback checkpoints nothing.
    assert sum(capacity.DURABLE_OPERATIONS_PER_START.values()) == 6
    cost = capacity.durable_cost_per_million(prices=ROUND, profile=PROFILE)
    assert math.isclose(cost["durable_operations"], 6 * 8.0)


def test_the_crossover_is_where_the_classic_wait_costs_what_the_durable_start_does() -> None:
    # Durable, with 7 operations: $58.40 per million. Classic with every process at the median (sigma 0): 5 x W + 1.20,
    # so the two meet at W = 57.20 / 5 = 11.44 s.
    crossover = capacity.crossover_median_s(sigma=0.0, base_overhead_ms=0, prices=ROUND, profile=PROFILE, operations=7)
    assert crossover is not None
    assert math.isclose(crossover, 11.44, abs_tol=1e-6)
    # The time a start takes beyond its process counts in the classic's wait: 440 ms of it brings it to 11 s.
    with_overhead = capacity.crossover_median_s(
        sigma=0.0, base_overhead_ms=440, prices=ROUND, profile=PROFILE, operations=7
    )
    assert with_overhead is not None
    assert math.isclose(with_overhead, 11.0, abs_tol=1e-6)


def test_no_crossover_below_the_sync_timeout_when_durable_costs_more_than_25_s_of_waiting() -> None:
    dear = dataclasses.replace(ROUND, per_million_durable_operations=100.0)
    assert (
        capacity.crossover_median_s(sigma=0.0, base_overhead_ms=0, prices=dear, profile=PROFILE, operations=7) is None
    )


def test_a_waiting_durable_start_holds_no_environment_and_no_connection() -> None:
    sized = capacity.mode_sizing(100, 10.0, sigma=0.0, base_overhead_ms=0, profile=PROFILE)
    # Classic: 100/s x 10 s = 1,000 environments, each with its connection. Durable: 100/s x 0.2 s = 20.
    assert sized["classic"] == {"concurrency": 1000, "db_connections": 1000, "over_default_account_concurrency": False}
    assert sized["durable"] == {"concurrency": 20, "db_connections": 20, "over_default_account_concurrency": False}
    at_1000 = capacity.mode_sizing(1000, 10.0, sigma=0.0, base_overhead_ms=0, profile=PROFILE)
    assert at_1000["classic"]["concurrency"] == 10_000 and at_1000["classic"]["over_default_account_concurrency"]
    assert at_1000["durable"]["concurrency"] == 200
