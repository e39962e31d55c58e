"""Waiting in a test for something another process does: bounded by attempts, not by the clock, so
that a loaded machine, on which each attempt takes longer, is given as many of them."""

from __future__ import annotations

import time
from collections.abc import Callable

#: Attempts, a quarter of a second apart: two minutes on an idle machine.
ATTEMPTS = 480
PAUSE_S = 0.25


def eventually[T](read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """``read()`` until ``done`` holds of its value, at most ``ATTEMPTS`` times."""
    for _ in range(ATTEMPTS):
        value = read()
        if done(value):
            return value
        time.sleep(PAUSE_S)
    raise AssertionError(f"{what}: not after {ATTEMPTS} attempts; last {value!r}")
