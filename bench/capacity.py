"""The capacity model of docs/CAPACITY.md, as code: the fleet simulation checks it, and the sizing
table is computed from it.

Little's law on the wait actually held: an environment of the start function holds one request at a
time, for the save, the wait and the answer, so the environments busy at once are ``C = λ·W`` with
``W`` the mean time a start holds its environment. Per wait the database runs the save (an insert
and the read of the row), the wait loop's reads, the finishing update, and per wake strategy:
LISTEN and UNLISTEN on the waiter's connection and ``pg_notify`` on the finisher's
(LISTEN/NOTIFY); nothing more (polling, Redis). Reads per wait: the schedule's count for the
process's duration (``PollSchedule.cost``); with a push channel, the first read and the read after
the notification, plus one per ``PUSH_FALLBACK_POLL_MS`` the process takes.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from waitroom.service.waiting import PollSchedule, plan_from_history

#: AWS Lambda's published on-demand duration price, x86, first tier, US East (N. Virginia), and the
#: price per request; read on 2026-11-29 from https://aws.amazon.com/lambda/pricing/ (its worked
#: example: "$0.00001667 per GB-s"; "$0.20 per 1 million requests"), see docs/CAPACITY.md.
PRICE_PER_GB_S = 0.0000166667
PRICE_PER_MILLION_REQUESTS = 0.20
PRICE_DATE = "2026-11-29"
#: The start function's memory in template.yaml (Globals: MemorySize).
START_MEMORY_GB = 0.5
#: The account's default concurrent executions per Region, shared by every function.
ACCOUNT_CONCURRENCY = 1000
#: API Gateway ends an integration after 30 s; Waitroom answers 202 before SYNC_TIMEOUT_MS (25 s).
SYNC_TIMEOUT_S = 25.0


@dataclass(frozen=True)
class Strategy:
    """A wake strategy as the model sees it."""

    name: str
    pushes: bool
    db_connections_per_environment: int
    redis_connections_per_environment: int
    statements_per_wait_fixed: int
    """Statements beside the reads: save (2), finish (1), and LISTEN, UNLISTEN, pg_notify."""


STRATEGIES = {
    "seed": Strategy("seed", pushes=False, db_connections_per_environment=1,
                     redis_connections_per_environment=0, statements_per_wait_fixed=3),
    "adaptive": Strategy("adaptive", pushes=False, db_connections_per_environment=1,
                         redis_connections_per_environment=0, statements_per_wait_fixed=3),
    "listen-notify": Strategy("listen-notify", pushes=True, db_connections_per_environment=1,
                              redis_connections_per_environment=0, statements_per_wait_fixed=6),
    "redis": Strategy("redis", pushes=True, db_connections_per_environment=1,
                      redis_connections_per_environment=1, statements_per_wait_fixed=3),
}  # fmt: skip


def reads_per_wait(strategy: Strategy, duration_ms: float, *, schedule: PollSchedule, fallback_ms: int) -> int:
    if strategy.pushes:
        return 2 + math.floor(duration_ms / fallback_ms)
    return schedule.cost(duration_ms)[0]


def statements_per_wait(
    strategy: Strategy, durations_ms: list[float], *, schedule: PollSchedule, fallback_ms: int
) -> float:
    """The mean statements of a wait over the durations of a key."""
    return strategy.statements_per_wait_fixed + statistics.fmean(
        reads_per_wait(strategy, duration, schedule=schedule, fallback_ms=fallback_ms) for duration in durations_ms
    )


def predict(
    strategy_name: str,
    *,
    arrival_per_s: float,
    environments: int,
    durations_ms: list[float],
    schedule: PollSchedule,
    fallback_ms: int,
) -> dict[str, float]:
    """Statements per second and the waiters' connections for a fleet of ``environments`` that
    starts ``arrival_per_s`` processes a second."""
    strategy = STRATEGIES[strategy_name]
    per_wait = statements_per_wait(strategy, durations_ms, schedule=schedule, fallback_ms=fallback_ms)
    return {
        "statements_per_wait": round(per_wait, 2),
        "statements_per_s": round(arrival_per_s * per_wait, 1),
        "db_connections": environments * strategy.db_connections_per_environment,
        "redis_connections": environments * strategy.redis_connections_per_environment,
    }


def lognormal_durations_ms(median_s: float, sigma: float, count: int = 4000) -> list[float]:
    """Evenly spaced quantiles of a log-normal: a deterministic stand-in for a key's durations."""
    normal = statistics.NormalDist()
    return [median_s * 1000 * math.exp(sigma * normal.inv_cdf((index + 0.5) / count)) for index in range(count)]


def held_wait_s(
    strategy: Strategy, durations_ms: list[float], *, schedule: PollSchedule, base_overhead_ms: float
) -> float:
    """The mean time a start holds its environment: the process (at most the sync timeout, after
    which it answers 202), how late the read that sees the finish comes (polling only; a push wakes
    at once), and the save, the wake-up and the answer (``base_overhead_ms``, measured)."""
    held_ms = statistics.fmean(
        min(duration, SYNC_TIMEOUT_S * 1000) + (0.0 if strategy.pushes else schedule.cost(duration)[1])
        for duration in durations_ms
    )
    return (held_ms + base_overhead_ms) / 1000


def sizing(
    arrival_per_s: float, median_s: float, *, sigma: float, fallback_ms: int, base_overhead_ms: float
) -> dict[str, Any]:
    """One row of the sizing table per wake strategy: environments, connections, statements, and
    Lambda's cost per million starts."""
    durations = lognormal_durations_ms(median_s, sigma)
    # The adaptive schedule learns from 200 finished processes of the key.
    learnt = plan_from_history(durations[:: len(durations) // 200]) or PollSchedule.parse("seed")
    schedules = {"seed": PollSchedule.parse("seed"), "adaptive": learnt}
    row: dict[str, Any] = {"arrival_per_s": arrival_per_s, "median_s": median_s, "strategies": {}}
    for name, strategy in STRATEGIES.items():
        schedule = schedules.get(name, schedules["seed"])
        held = held_wait_s(strategy, durations, schedule=schedule, base_overhead_ms=base_overhead_ms)
        environments = math.ceil(arrival_per_s * held)
        per_wait = statements_per_wait(strategy, durations, schedule=schedule, fallback_ms=fallback_ms)
        gb_s_per_million = held * START_MEMORY_GB * 1_000_000
        row["strategies"][name] = {
            "held_wait_s": round(held, 3),
            "concurrency": environments,
            "db_connections": environments * strategy.db_connections_per_environment,
            "redis_connections": environments * strategy.redis_connections_per_environment,
            "statements_per_s": round(arrival_per_s * per_wait),
            "gb_s_per_million_starts": round(gb_s_per_million),
            "usd_per_million_starts": round(gb_s_per_million * PRICE_PER_GB_S + PRICE_PER_MILLION_REQUESTS, 2),
            "over_default_account_concurrency": environments > ACCOUNT_CONCURRENCY,
        }
    return row


def sizing_table(*, sigma: float, fallback_ms: int, base_overhead_ms: float) -> list[dict[str, Any]]:
    """The table of docs/CAPACITY.md: 10, 100 and 1,000 starts a second, median 1 s and 10 s."""
    return [
        sizing(rate, median, sigma=sigma, fallback_ms=fallback_ms, base_overhead_ms=base_overhead_ms)
        for median in (1.0, 10.0)
        for rate in (10.0, 100.0, 1000.0)
    ]
