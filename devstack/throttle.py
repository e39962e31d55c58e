"""API Gateway's route throttling (``RouteSettings``: ``ThrottlingBurstLimit``, ``ThrottlingRateLimit``),
for the local gateway: a token bucket per route. A request that finds it empty is answered 429
before anything runs, as API Gateway answers it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Throttle:
    rate: float
    """Requests per second let through in a steady stream."""
    burst: int
    """Requests let through at once (the bucket's size)."""


class TokenBucket:
    def __init__(self, throttle: Throttle, clock: Callable[[], float] = time.monotonic) -> None:
        self.throttle = throttle
        self._clock = clock
        self._tokens = float(throttle.burst)
        self._refilled = clock()
        self._guard = threading.Lock()

    def take(self) -> bool:
        """One request's token, if there is one."""
        with self._guard:
            now = self._clock()
            elapsed = max(0.0, now - self._refilled)
            self._tokens = min(float(self.throttle.burst), self._tokens + elapsed * self.throttle.rate)
            self._refilled = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
