"""Python values ↔ Camunda 7 typed variables (``{"value": ..., "type": ...}``).

Type names are case-sensitive (``Json``, not ``JSON``); a ``Json`` value travels as a JSON *string*
(Camunda rejects an object there); dates use ``yyyy-MM-dd'T'HH:mm:ss.SSS+hhmm`` with exactly three
fraction digits. Camunda keeps a ``String`` in a 4000-character column, so longer text is sent as
``Json`` (a JSON string), which Camunda stores as a byte array, instead of failing in the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from waitroom.domain.errors import InvalidRequest

INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)
DEFAULT_STRING_MAX_CHARS = 4000
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


class VariableError(ValueError):
    """A value that cannot become a Camunda variable; ``name`` says which one."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def format_date(value: datetime) -> str:
    """Camunda's date format. A naive datetime is taken to be UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}" + value.strftime("%z")


def to_typed(name: str, value: Any, *, string_max_chars: int = DEFAULT_STRING_MAX_CHARS) -> dict[str, Any]:
    # bool before int: bool is a subclass of int.
    if value is None:
        return {"value": None, "type": "Null"}
    if isinstance(value, bool):
        return {"value": value, "type": "Boolean"}
    if isinstance(value, int):
        if value in INT32:
            return {"value": value, "type": "Integer"}
        if value in INT64:
            return {"value": value, "type": "Long"}
        raise VariableError(name, "integer outside the range of a 64-bit Long")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise VariableError(name, "NaN and infinity are not numbers Camunda can store")
        return {"value": value, "type": "Double"}
    if isinstance(value, str):
        if len(value) <= string_max_chars:
            return {"value": value, "type": "String"}
        return {"value": json.dumps(value, ensure_ascii=False), "type": "Json"}
    if isinstance(value, datetime):
        return {"value": format_date(value), "type": "Date"}
    if isinstance(value, (dict, list)):
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise VariableError(name, "NaN and infinity are not valid JSON") from None
        return {"value": encoded, "type": "Json"}
    raise VariableError(name, f"a {type(value).__name__} cannot be sent to Camunda")


def to_typed_variables(
    variables: Mapping[str, Any], *, string_max_chars: int = DEFAULT_STRING_MAX_CHARS
) -> dict[str, dict[str, Any]]:
    return {name: to_typed(name, value, string_max_chars=string_max_chars) for name, value in variables.items()}


def to_typed_variables_or_invalid(
    variables: Mapping[str, Any], *, string_max_chars: int = DEFAULT_STRING_MAX_CHARS
) -> dict[str, dict[str, Any]]:
    """:func:`to_typed_variables`, a value it cannot type refused as the ports' check promises: an
    :class:`InvalidRequest` naming the variable."""
    try:
        return to_typed_variables(variables, string_max_chars=string_max_chars)
    except VariableError as exc:
        raise InvalidRequest(
            f"variable {exc.name!r} cannot be sent to Camunda: {exc.reason}",
            details=[{"field": f"variables.{exc.name}", "reason": exc.reason}],
        ) from None


def from_typed(typed: Mapping[str, Any]) -> Any:
    """A typed variable as Camunda returns it → a Python value. Unknown types keep their raw value."""
    kind, value = typed.get("type"), typed.get("value")
    if value is None:
        return None
    if kind == "Json":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "Date" and isinstance(value, str):
        return datetime.strptime(value, _DATE_FORMAT)
    return value


def from_typed_variables(variables: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    return {name: from_typed(typed) for name, typed in (variables or {}).items()}
