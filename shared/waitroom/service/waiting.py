"""The bounded wait: read the row, pause, read again, until it is final or the deadline passes."""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from waitroom.domain.process import ProcessRecord


@dataclass(frozen=True)
class PollSchedule:
    """Pauses between reads, in milliseconds; the last one repeats for as long as the wait lasts."""

    name: str
    delays_ms: tuple[int, ...]

    #: The schedules known by name. ``seed`` is the exponential back-off of docs/seeds/; ``adaptive`` starts
    #: as the seed and becomes, per process key, the plan of :func:`plan_from_history`.
    NAMED = {"seed": (50, 100, 250, 500, 1000), "adaptive": (50, 100, 250, 500, 1000)}  # noqa: RUF012

    @classmethod
    def parse(cls, spec: str) -> PollSchedule:
        """A schedule by name (``seed``) or as milliseconds separated by commas (``50,100,200``)."""
        spec = spec.strip()
        if spec in cls.NAMED:
            return cls(spec, cls.NAMED[spec])
        try:
            delays = tuple(int(part) for part in spec.split(","))
        except ValueError:
            raise ValueError(
                f"neither a named schedule ({', '.join(cls.NAMED)}) nor pauses in milliseconds separated by commas"
            ) from None
        if any(delay <= 0 for delay in delays):
            raise ValueError("every pause must be a positive number of milliseconds")
        return cls(spec, delays)

    def pauses_s(self) -> Iterator[float]:
        """The pauses in seconds, endlessly."""
        last = self.delays_ms[-1] / 1000
        return itertools.chain((delay / 1000 for delay in self.delays_ms), itertools.repeat(last))

    @property
    def adaptive(self) -> bool:
        return self.name == "adaptive"

    def cost(self, duration_ms: float) -> tuple[int, float]:
        """For a process that finishes ``duration_ms`` after the wait began: how many reads the wait
        makes, and how long after the finish the read that sees it comes."""
        elapsed, reads = 0.0, 1
        if duration_ms <= 0:
            return reads, 0.0
        for pause in self.pauses_s():
            elapsed += pause * 1000
            reads += 1
            if elapsed >= duration_ms:
                return reads, elapsed - duration_ms
        raise AssertionError("unreachable: the pauses never end")


SEED = PollSchedule.parse("seed")
#: Below this many finished processes the history says too little; the seed's schedule is used.
MIN_HISTORY = 20
#: No plan reads more often than this.
MIN_STEP_MS = 10.0
#: A plan is fit to a sample of the key's durations and then meets new ones: it must read fewer
#: times than the seed on the sample by this many standard errors (one-sided 97.5%).
CONFIDENCE_Z = 2.0


def quantile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def smoothed_quantiles(ordered: list[float], *probabilities: float) -> list[float]:
    """Quantiles of the distribution a sample of durations comes from, its tails included.

    A sample of a few hundred places its extreme half percent only roughly: its first or second
    value, so that one outlier moves the estimate by a lot. Here each quantile is read off a kernel
    density estimate, on the logarithm of the durations (they are positive and skewed to the right),
    with Silverman's bandwidth: every value of the sample informs the tails a little.
    """
    logs = [math.log1p(duration) for duration in ordered]
    spread = min(statistics.stdev(logs), (quantile(logs, 0.75) - quantile(logs, 0.25)) / 1.34)
    bandwidth = max(0.9 * spread * len(logs) ** -0.2, 1e-3)
    cdf = statistics.kde(logs, h=bandwidth, kernel="normal", cumulative=True)
    found = []
    for probability in probabilities:
        below, above = logs[0] - 10 * bandwidth, logs[-1] + 10 * bandwidth
        for _ in range(60):
            middle = (below + above) / 2
            below, above = (middle, above) if cdf(middle) < probability else (below, middle)
        found.append(max(0.0, math.expm1((below + above) / 2)))
    return found


def plan_from_history(durations_ms: list[float]) -> PollSchedule | None:
    """A poll schedule learnt from how long a process key's recent processes took.

    For a step ``s``, the first read comes ``s`` after the 0.5th percentile of those durations and
    the next ones follow every ``s`` until the 99.5th (both from :func:`smoothed_quantiles`): a
    process of the central 99% is seen at most ``s`` after it ends, and no read is spent before one
    could have ended. Beyond
    that it backs off to one read a second. The step is the narrowest that makes fewer reads per
    wait than the seed's schedule on that history, by a margin of ``CONFIDENCE_Z`` standard errors
    of the difference: the plan is fit to a sample and then meets new durations of the key, on
    which it must still read no more than the seed. So the reads fall where the finishes fall,
    instead of ever further apart. None when the history is too short to say anything, or leaves
    no room for a plan that reads less.
    """
    if len(durations_ms) < MIN_HISTORY:
        return None
    ordered = sorted(max(0.0, duration) for duration in durations_ms)
    seed_reads = [SEED.cost(duration)[0] for duration in ordered]
    low, high = smoothed_quantiles(ordered, 0.005, 0.995)

    def plan(step_ms: float) -> PollSchedule:
        # The reads stay evenly spaced where the history has finishes: a gap between two of its
        # durations is a sample's accident, and new durations land in it.
        pauses = [low + step_ms, *[step_ms] * max(0, math.ceil((high - low) / step_ms) - 1)]
        while pauses[-1] < 1000:
            pauses.append(min(1000.0, max(step_ms, pauses[-1]) * 2))
        return PollSchedule("adaptive", tuple(max(1, round(pause)) for pause in pauses))

    def reads_no_more_than_the_seed(schedule: PollSchedule) -> bool:
        extra = [schedule.cost(duration)[0] - seed for duration, seed in zip(ordered, seed_reads, strict=True)]
        return statistics.fmean(extra) + CONFIDENCE_Z * statistics.stdev(extra) / math.sqrt(len(extra)) <= 0

    # Fewer reads the wider the step: the narrowest step that qualifies, to a millisecond.
    narrow, wide = MIN_STEP_MS, max(MIN_STEP_MS, high - low, 1000.0)
    if not reads_no_more_than_the_seed(plan(wide)):
        return None
    if reads_no_more_than_the_seed(plan(narrow)):
        return plan(narrow)
    while wide - narrow > 1:
        middle = (narrow + wide) / 2
        narrow, wide = (narrow, middle) if reads_no_more_than_the_seed(plan(middle)) else (middle, wide)
    return plan(wide)


def wait_for_final(
    read: Callable[[], ProcessRecord | None],
    *,
    deadline: float,
    schedule: PollSchedule,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] = time.sleep,
) -> ProcessRecord | None:
    """Read until the row is final, is gone, or ``deadline`` (on ``clock``) has passed.

    Returns the last row read: final, still PENDING at the deadline, or None if it vanished. The
    loop never pauses past the deadline, and reads once more at the deadline itself.
    """
    pauses = schedule.pauses_s()
    while True:
        record = read()
        if record is None or record.status.is_final:
            return record
        remaining = deadline - clock()
        if remaining <= 0:
            return record
        pause(min(next(pauses), remaining))
