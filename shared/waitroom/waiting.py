"""The bounded wait: read the row, pause, read again, until it is final or the deadline passes."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from waitroom.domain import ProcessRecord

#: API Gateway HTTP APIs end every integration after 30 s; a wait must answer before that.
API_GATEWAY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class PollSchedule:
    """Pauses between reads, in milliseconds; the last one repeats for as long as the wait lasts."""

    name: str
    delays_ms: tuple[int, ...]

    #: The schedules known by name. ``seed`` is the seed's exponential back-off; ``adaptive`` starts
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


def quantile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def plan_from_history(durations_ms: list[float]) -> PollSchedule | None:
    """A poll schedule learnt from how long a process key's recent processes took.

    It reads evenly across the central 99% of those durations, as often as it can while making, on
    that history, no more reads per wait than the seed's schedule would: so the reads fall where
    the finishes fall, instead of ever further apart. Beyond the 99.5th percentile it backs off to
    one read a second. None when the history is too short to say anything.
    """
    if len(durations_ms) < MIN_HISTORY:
        return None
    ordered = sorted(max(0.0, duration) for duration in durations_ms)
    budget = sum(SEED.cost(duration)[0] for duration in ordered) / len(ordered)
    low, high = quantile(ordered, 0.005), quantile(ordered, 0.995)
    best = None
    for reads in range(2, 1000):
        step = (high - low) / (reads - 1)
        if step < MIN_STEP_MS:
            break
        tail: list[float] = []
        while (tail[-1] if tail else step) < 1000:
            tail.append(min(1000.0, (tail[-1] if tail else step) * 2))
        pauses = (max(low, step), *([step] * (reads - 1)), *tail)
        plan = PollSchedule("adaptive", tuple(max(1, round(pause)) for pause in pauses))
        if sum(plan.cost(duration)[0] for duration in ordered) / len(ordered) > budget:
            break
        best = plan
    return best


def wait_budget_ms(
    *,
    sync_timeout_ms: int,
    safety_margin_ms: int,
    preferred_wait_ms: int | None = None,
    remaining_ms: int | None = None,
) -> int:
    """How long a request may wait: the smallest of the configured timeout, the client's
    ``Prefer: wait``, the Lambda's remaining time and the gateway's limit, the last two less a margin
    to write the answer."""
    limits = [sync_timeout_ms, API_GATEWAY_TIMEOUT_MS - safety_margin_ms]
    if preferred_wait_ms is not None:
        limits.append(preferred_wait_ms)
    if remaining_ms is not None:
        limits.append(remaining_ms - safety_margin_ms)
    return max(0, min(limits))


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
