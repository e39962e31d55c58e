"""The process durations the wake benchmark draws from, with fixed seeds: every strategy of a
workload meets the very same durations, and every run the same as the last."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

#: The base of every random stream of the benchmark.
SEED = 20251122
LOGNORMAL_MEDIAN_MS = 1000.0
LOGNORMAL_SIGMA = 0.3
UNIFORM_MAX_MS = 5000.0


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    draw_ms: Callable[[random.Random], float]

    def durations_ms(self, count: int, *, stream: str) -> list[float]:
        """``count`` durations of the named stream (``waits``, ``history``): the same on every run."""
        # Not for security: a reproducible stream is the point.
        rng = random.Random(f"{SEED}:{self.name}:{stream}")  # noqa: S311
        return [self.draw_ms(rng) for _ in range(count)]


UNIFORM = Workload(
    "uniform",
    f"uniform in 0-{UNIFORM_MAX_MS / 1000:.0f} s",
    lambda rng: rng.uniform(0.0, UNIFORM_MAX_MS),
)
LOGNORMAL = Workload(
    "lognormal",
    f"log-normal, median {LOGNORMAL_MEDIAN_MS / 1000:.0f} s, sigma {LOGNORMAL_SIGMA}",
    lambda rng: rng.lognormvariate(math.log(LOGNORMAL_MEDIAN_MS), LOGNORMAL_SIGMA),
)
WORKLOADS = (UNIFORM, LOGNORMAL)
