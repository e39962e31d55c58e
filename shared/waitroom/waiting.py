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

    #: The schedules known by name. ``seed`` is the seed's exponential back-off.
    NAMED = {"seed": (50, 100, 250, 500, 1000)}  # noqa: RUF012 -- a constant table, never mutated

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
    pause: Callable[[float], None] = time.sleep,
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
