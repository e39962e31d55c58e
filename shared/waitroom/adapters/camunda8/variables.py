"""Python values → Camunda 8 variables, which are plain JSON (Zeebe keeps them as MessagePack): no
typed values as in Camunda 7, and no 4000-character limit on text. A ``datetime`` travels as its ISO
8601 text, the form FEEL reads as a date and time."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from waitroom.domain.errors import InvalidRequest

INT64 = range(-(2**63), 2**63)


def to_json_variables(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables as JSON values, or an :class:`InvalidRequest` naming the first one Camunda 8
    cannot take (what the ports' ``check_variables`` promise)."""
    return {name: _json_value(name, value) for name, value in variables.items()}


def _json_value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    try:
        json.dumps(value, allow_nan=False, default=_refuse)
    except (TypeError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, TypeError) else "NaN and infinity are not valid JSON"
        raise _invalid(name, reason) from None
    if not _integers_fit(value):
        raise _invalid(name, "integer outside the range of a 64-bit long")
    return value


def _refuse(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} cannot be sent to Camunda")


def _integers_fit(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in INT64
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_integers_fit(item) for item in value.values())
    if isinstance(value, list):
        return all(_integers_fit(item) for item in value)
    return True


def _invalid(name: str, reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"variable {name!r} cannot be sent to Camunda: {reason}",
        details=[{"field": f"variables.{name}", "reason": reason}],
    )
