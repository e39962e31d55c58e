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


#: The prices the model applies, US East (N. Virginia), first tier; where each was read is in
#: docs/CAPACITY.md ("Prices and their sources").
@dataclass(frozen=True)
class Prices:
    gb_s: dict[str, float]
    """Lambda on-demand duration, USD per GB-second, by architecture."""
    per_million_lambda_requests: float
    per_million_http_api_requests: float
    """API Gateway HTTP API, first 300 million requests a month."""
    per_million_durable_operations: float
    durable_written_per_gb: float | None
    """Durable functions' data written; None: no stored source gives it, so it is left out of the sums."""
    durable_retained_per_gb_month: float | None
    """Durable functions' data retained; None as above."""
    read_on: str


PRICES = Prices(
    # aws.amazon.com/lambda/pricing (its worked example: "$0.00001667 per GB-s"), read 2026-11-29; arm64
    # from artillery 2.0.28's lib/platform/aws-lambda/prices.js, which cites the same page.
    gb_s={"x86_64": 0.0000166667, "arm64": 0.0000133334},
    per_million_lambda_requests=0.20,
    # AWS whitepaper "Best Practices for Designing Amazon API Gateway Private APIs and Private
    # Integration", Cost optimization, Table 4 (us-east-1).
    per_million_http_api_requests=1.00,
    # Transcribed from aws.amazon.com/lambda/pricing's durable functions example on 2026-09-20 by
    # api-evangelist/aws-lambda (plans/aws-lambda-plans-pricing.yml): a secondary source.
    per_million_durable_operations=8.00,
    durable_written_per_gb=None,
    durable_retained_per_gb_month=None,
    read_on="2026-12-06",
)
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
            "usd_per_million_starts": round(
                gb_s_per_million * PRICES.gb_s["x86_64"] + PRICES.per_million_lambda_requests, 2
            ),
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


# The durable mode: the start function saves, starts, creates a callback and suspends; the finish
# sends the outcome to the callback and Lambda invokes the function again to answer. A waiting start
# runs no invocation, so it is billed no duration and holds no concurrency and no connection; what a
# start costs is its two short invocations and the durable operations it checkpoints.

#: The durable operations one start makes, as the durable handler is designed (docs/CAPACITY.md,
#: "Cost per start"). AWS meters every operation the handler calls through DurableContext, and the
#: execution's start as one more (the Lambda Developer Guide's "How durable operations are metered").
#: Waiting on a created callback checkpoints nothing: the SDK's ``Callback.result()`` reads the
#: callback's state and suspends (aws-durable-execution-sdk-python, ``context.py``); the SDK's
#: ``wait_for_callback`` instead would add a child context and a submitter step. The durable
#: handler's author corrects these counts against the handler as built.
DURABLE_OPERATIONS_PER_START: dict[str, int] = {
    "execution started": 1,
    "save the row and start the instance (step)": 1,
    "create the callback": 1,
    "record the callback id with the row (step)": 1,
    "read the row again: a finish before the recording (step)": 1,
    "wait for the callback (Callback.result(): no checkpoint)": 0,
    "read the row for the answer (step)": 1,
}
#: Invocations per start: the first, until it suspends, and the one the callback (or its timeout) resumes.
DURABLE_INVOCATIONS_PER_START = 2


@dataclass(frozen=True)
class DurableProfile:
    """What a durable start does beside its operations, as ``make bench``'s durable cells measured it
    (bench/durable.py: the start function's invocations under dex-local-runner on the local stack,
    SQLite, the development engine as Camunda; the run of 2026-12-06 in docs/PERFORMANCE.md, "The
    durable wait", load average 12-16 on 2 cores: on a loaded laptop, so an upper bound of Lambda's)."""

    first_invocation_s: float = 0.380
    """From the invocation to the suspension (the save, Camunda's start, the callback, the checkpoints):
    the median of 120, ``first_invocation_p50_ms``."""
    resume_invocation_s: float = 0.047
    """The replay, the read of the row and the answer, with ``DURABLE_CHECKPOINT_POLL_MS`` at its
    default 5: the median of 97, ``resume_invocation_p50_ms`` (117.3 ms, of 82, with the SDK's own 100 ms)."""
    bytes_written_per_start: int = 2326
    """The checkpoint requests' bytes the runner received per start (``checkpoint_bytes_per_start``):
    the steps' results, the callback, the answer, as JSON on the wire."""
    retention_days: int = 1
    """DurableConfig's RetentionPeriodInDays: how long the checkpoints are kept after the end."""

    @property
    def active_s(self) -> float:
        return self.first_invocation_s + self.resume_invocation_s


DURABLE = DurableProfile()
ARCHITECTURES = ("x86_64", "arm64")
#: The process medians of the cost table (docs/CAPACITY.md).
COST_MEDIANS_S = (0.5, 1.0, 5.0, 10.0, 25.0)
#: The rates of the sizing table of both modes.
SIZING_RATES = (10.0, 100.0, 1000.0)
#: The classic start's time beyond its process (the save, the wake-up, the answer) as the fleet measured
#: it on 2026-11-29 in postgresql/redis/100 (docs/CAPACITY.md, "Sizing"); a run with the fleet uses its own.
RECORDED_BASE_OVERHEAD_MS = 10.4


def classic_held_s(median_s: float, *, sigma: float, base_overhead_ms: float) -> float:
    """The mean time a classic start holds its environment when a push wakes it (Redis or
    LISTEN/NOTIFY: the least a classic start can hold; polling holds more, see ``sizing``)."""
    durations = lognormal_durations_ms(median_s, sigma)
    return held_wait_s(STRATEGIES["redis"], durations, schedule=PollSchedule.parse("seed"),
                       base_overhead_ms=base_overhead_ms)  # fmt: skip


def classic_cost_per_million(
    held_s: float, *, architecture: str = "x86_64", prices: Prices = PRICES, memory_gb: float = START_MEMORY_GB
) -> dict[str, float]:
    """USD per million classic starts: one invocation holding its environment for ``held_s``."""
    gb_s = held_s * memory_gb * 1_000_000
    parts = {
        "duration": gb_s * prices.gb_s[architecture],
        "lambda_requests": prices.per_million_lambda_requests,
        "http_api": prices.per_million_http_api_requests,
    }
    return {"gb_s": gb_s, **parts, "total": sum(parts.values())}


def durable_cost_per_million(
    *,
    architecture: str = "x86_64",
    prices: Prices = PRICES,
    profile: DurableProfile = DURABLE,
    operations: int | None = None,
    memory_gb: float = START_MEMORY_GB,
) -> dict[str, float]:
    """USD per million durable starts: two short invocations, the durable operations, and the data
    written and retained where a price for them is known (``None`` prices are left out, and the
    gigabytes are given so that they can be priced)."""
    operations = sum(DURABLE_OPERATIONS_PER_START.values()) if operations is None else operations
    gb_s = profile.active_s * memory_gb * 1_000_000
    written_gb = profile.bytes_written_per_start * 1_000_000 / 1e9
    retained_gb_months = written_gb * profile.retention_days / 30
    parts = {
        "duration": gb_s * prices.gb_s[architecture],
        "lambda_requests": DURABLE_INVOCATIONS_PER_START * prices.per_million_lambda_requests,
        "http_api": prices.per_million_http_api_requests,
        "durable_operations": operations * prices.per_million_durable_operations,
    }
    if prices.durable_written_per_gb is not None:
        parts["data_written"] = written_gb * prices.durable_written_per_gb
    if prices.durable_retained_per_gb_month is not None:
        parts["data_retained"] = retained_gb_months * prices.durable_retained_per_gb_month
    return {
        "gb_s": gb_s,
        "operations": operations,
        "written_gb": written_gb,
        "retained_gb_months": retained_gb_months,
        **parts,
        "total": sum(parts.values()),
    }


def crossover_median_s(
    *,
    sigma: float,
    base_overhead_ms: float,
    architecture: str = "x86_64",
    prices: Prices = PRICES,
    profile: DurableProfile = DURABLE,
    operations: int | None = None,
    low_s: float = 0.01,
    high_s: float = SYNC_TIMEOUT_S,
) -> float | None:
    """The process median above which a durable start costs less than a classic one (None: not
    between ``low_s`` and ``high_s``). A classic start's cost grows with the median, a durable one's
    does not, so the two cross once at most."""
    durable = durable_cost_per_million(
        architecture=architecture, prices=prices, profile=profile, operations=operations
    )["total"]

    def classic_minus_durable(median_s: float) -> float:
        held = classic_held_s(median_s, sigma=sigma, base_overhead_ms=base_overhead_ms)
        return classic_cost_per_million(held, architecture=architecture, prices=prices)["total"] - durable

    if classic_minus_durable(low_s) >= 0 or classic_minus_durable(high_s) <= 0:
        return None
    for _ in range(60):
        middle = (low_s + high_s) / 2
        if classic_minus_durable(middle) < 0:
            low_s = middle
        else:
            high_s = middle
    return (low_s + high_s) / 2


def mode_sizing(
    arrival_per_s: float, median_s: float, *, sigma: float, base_overhead_ms: float, profile: DurableProfile = DURABLE
) -> dict[str, dict[str, Any]]:
    """Concurrency and database connections of each mode for a rate (Little's law on the time an
    invocation runs): a classic start runs for its whole wait, a durable one only for its two
    invocations; each running environment keeps one database connection."""
    classic = math.ceil(arrival_per_s * classic_held_s(median_s, sigma=sigma, base_overhead_ms=base_overhead_ms))
    durable = math.ceil(arrival_per_s * profile.active_s)
    return {
        mode: {
            "concurrency": environments,
            "db_connections": environments,
            "over_default_account_concurrency": environments > ACCOUNT_CONCURRENCY,
        }
        for mode, environments in (("classic", classic), ("durable", durable))
    }


def cost_report(*, sigma: float, base_overhead_ms: float, measured_in: str) -> dict[str, Any]:
    """Everything ``make bench`` prints and draws of the two modes' cost: the table at the medians,
    a curve over the process's median for the picture, the crossover, and the sizing of both modes."""

    def costs(median_s: float) -> dict[str, Any]:
        held = classic_held_s(median_s, sigma=sigma, base_overhead_ms=base_overhead_ms)
        return {
            "median_s": median_s,
            "classic_held_s": round(held, 3),
            "classic": {arch: classic_cost_per_million(held, architecture=arch) for arch in ARCHITECTURES},
            "durable": {arch: durable_cost_per_million(architecture=arch) for arch in ARCHITECTURES},
        }

    curve_medians = [round(0.1 * 1.1**step, 3) for step in range(60) if 0.1 * 1.1**step <= 30]
    return {
        "sigma": sigma,
        "base_overhead_ms": round(base_overhead_ms, 1),
        "measured_in": measured_in,
        "prices": {
            "gb_s": PRICES.gb_s,
            "per_million_lambda_requests": PRICES.per_million_lambda_requests,
            "per_million_http_api_requests": PRICES.per_million_http_api_requests,
            "per_million_durable_operations": PRICES.per_million_durable_operations,
            "durable_written_per_gb": PRICES.durable_written_per_gb,
            "durable_retained_per_gb_month": PRICES.durable_retained_per_gb_month,
        },
        "durable_operations_per_start": DURABLE_OPERATIONS_PER_START,
        "durable_profile": {
            "first_invocation_s": DURABLE.first_invocation_s,
            "resume_invocation_s": DURABLE.resume_invocation_s,
            "bytes_written_per_start": DURABLE.bytes_written_per_start,
            "retention_days": DURABLE.retention_days,
        },
        "table": [costs(median) for median in COST_MEDIANS_S],
        "curve": [costs(median) for median in curve_medians],
        "crossover_median_s": {
            arch: crossover_median_s(sigma=sigma, base_overhead_ms=base_overhead_ms, architecture=arch)
            for arch in ARCHITECTURES
        },
        "sizing": [
            {
                "arrival_per_s": rate,
                "median_s": median,
                **mode_sizing(rate, median, sigma=sigma, base_overhead_ms=base_overhead_ms),
            }
            for median in (1.0, 10.0)
            for rate in SIZING_RATES
        ],
    }
