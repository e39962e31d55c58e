"""Percentiles, computed one way everywhere so that every figure of the report is comparable."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated linearly between the two nearest samples."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    position = q / 100 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rounded(value: float, digits: int = 1) -> float:
    """Figures go to the JSON with a precision the measurement can carry."""
    return round(value, digits)
