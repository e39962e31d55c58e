"""The ``Retry-After`` of a 202: when a process still running is expected to end, from its key's history."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

#: RFC 9110 delay-seconds are whole seconds; below 1 s a poll is a waste, above 30 s a client learns late.
RETRY_AFTER_MIN_S = 1
RETRY_AFTER_MAX_S = 30
#: Fewer durations than this say too little about a key (or about its processes of this age).
MIN_SAMPLES = 5


def retry_after_s(durations_ms: Sequence[float], elapsed_ms: float, *, default_s: int) -> int:
    """Seconds until a process that has run ``elapsed_ms`` is expected to end, bounded to 1 to 30.

    The key's recent durations that exceed ``elapsed_ms`` are the processes that were still running
    at this age; the median of them, less ``elapsed_ms``, is when this one is expected to end. A
    process older than (almost) all of its key's history has outlived what is known: look again
    after as long as it has run so far. Without enough history, ``default_s`` (``RETRY_AFTER_S``).
    """
    if len(durations_ms) < MIN_SAMPLES:
        return _bounded(default_s)
    longer = [duration for duration in durations_ms if duration > elapsed_ms]
    if len(longer) < MIN_SAMPLES:
        return _bounded(math.ceil(elapsed_ms / 1000))
    return _bounded(math.ceil((statistics.median(longer) - elapsed_ms) / 1000))


def _bounded(seconds: int) -> int:
    return max(RETRY_AFTER_MIN_S, min(RETRY_AFTER_MAX_S, seconds))
