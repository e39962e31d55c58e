"""Durations as the client takes them: seconds (``30``, ``2.5``) or a :class:`~datetime.timedelta`."""

from __future__ import annotations

import math
from datetime import timedelta

#: A length of time: seconds as a number, or a ``timedelta``.
Duration = float | int | timedelta


def to_seconds(value: Duration, name: str) -> float:
    """``value`` in seconds; a ``ValueError`` naming ``name`` if it is negative, NaN or infinite, a
    ``TypeError`` if it is not a duration at all."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{name}: expected seconds (int or float) or a timedelta, not {type(value).__name__}")
    if math.isnan(seconds):
        raise ValueError(f"{name}: must be a number of seconds, not NaN")
    if math.isinf(seconds):
        raise ValueError(f"{name}: must be a finite number of seconds, not {seconds}")
    if seconds < 0:
        raise ValueError(f"{name}: must not be negative, not {value!r}")
    return seconds


def optional_seconds(value: Duration | None, name: str) -> float | None:
    return None if value is None else to_seconds(value, name)
