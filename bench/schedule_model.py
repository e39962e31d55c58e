"""The learnt schedule beyond one history: the wake benchmark learns from one fixed history per
workload, and a plan fit to 200 durations depends on which 200 they were. Here the planner learns
from many histories of the same distribution, and each plan meets fresh durations in the schedule's
cost model (``PollSchedule.cost``: the reads a wait makes, and how long after the finish the read
that sees it comes). No database and no clock: what the plan itself costs, without the milliseconds a
read takes."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from bench.stats import rounded
from bench.workloads import WORKLOADS
from waitroom.service.waiting import SEED, PollSchedule, plan_from_history


@dataclass(frozen=True)
class Config:
    histories: int = 20
    history: int = 200
    """Durations per history, as many as the wake benchmark's warm-up (and ``ADAPTIVE_HISTORY``)."""
    durations: int = 2000
    """Fresh durations each plan meets."""


def _cost(schedule: PollSchedule, durations: list[float]) -> tuple[float, float]:
    """Reads per wait, and the 99th percentile of how late the finish is seen (ms)."""
    costs = [schedule.cost(duration) for duration in durations]
    late = sorted(lateness for _, lateness in costs)
    return statistics.fmean(reads for reads, _ in costs), late[int(0.99 * (len(late) - 1))]


def run(config: Config) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for workload in WORKLOADS:
        seed_reads, p99s, reads = [], [], []
        for index in range(config.histories):
            plan = plan_from_history(workload.durations_ms(config.history, stream=f"model-history-{index}"))
            fresh = workload.durations_ms(config.durations, stream=f"model-waits-{index}")
            seed_reads.append(_cost(SEED, fresh)[0])
            plan_reads, plan_p99 = _cost(plan or SEED, fresh)
            reads.append(plan_reads)
            p99s.append(plan_p99)
        results[workload.name] = {
            "histories": config.histories,
            "wake_p99_ms": {
                "median": rounded(statistics.median(p99s)),
                "min": rounded(min(p99s)),
                "max": rounded(max(p99s)),
            },
            "reads_per_wait": {"median": round(statistics.median(reads), 2), "max": round(max(reads), 2)},
            "seed_reads_per_wait": round(statistics.fmean(seed_reads), 2),
            "histories_over_the_seeds_reads": sum(plan > seed for plan, seed in zip(reads, seed_reads, strict=True)),
        }
    return results
