"""Equality of JSON values by JSON's rules, not Python's.

Python holds ``True == 1 == 1.0``; in JSON ``true``, ``1`` and ``1.0`` are three different values
(a boolean, and two texts of a number that a client wrote differently). Key order never matters.
"""

from __future__ import annotations

from typing import Any


def same_json(left: Any, right: Any) -> bool:
    """Whether two parsed JSON values are the same value, kind for kind."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_json(item, right[key]) for key, item in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(same_json(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)
