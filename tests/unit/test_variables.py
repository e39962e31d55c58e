"""Python values ↔ Camunda typed variables (shared/waitroom/adapters/camunda/variables.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from waitroom.adapters.camunda.variables import (
    VariableError,
    format_date,
    from_typed,
    from_typed_variables,
    to_typed,
    to_typed_variables,
)


@pytest.mark.parametrize(
    ("value", "typed"),
    [
        ("text", {"value": "text", "type": "String"}),
        (True, {"value": True, "type": "Boolean"}),
        (False, {"value": False, "type": "Boolean"}),
        (0, {"value": 0, "type": "Integer"}),
        (2**31 - 1, {"value": 2**31 - 1, "type": "Integer"}),
        (-(2**31), {"value": -(2**31), "type": "Integer"}),
        (2**31, {"value": 2**31, "type": "Long"}),
        (-(2**63), {"value": -(2**63), "type": "Long"}),
        (1.5, {"value": 1.5, "type": "Double"}),
        (None, {"value": None, "type": "Null"}),
        ({"a": [1, "x"]}, {"value": '{"a": [1, "x"]}', "type": "Json"}),
        ([1, 2], {"value": "[1, 2]", "type": "Json"}),
    ],
)
def test_python_values_become_typed_variables(value: object, typed: dict[str, object]) -> None:
    assert to_typed("v", value) == typed


def test_json_values_travel_as_strings_with_the_case_sensitive_type_name() -> None:
    typed = to_typed("v", {"nested": {"ok": True}})
    assert typed["type"] == "Json"
    assert isinstance(typed["value"], str)
    assert json.loads(typed["value"]) == {"nested": {"ok": True}}


def test_strings_over_the_limit_travel_as_json_and_come_back_as_strings() -> None:
    text = "ü" * 4001
    typed = to_typed("note", text)
    assert typed["type"] == "Json"
    assert from_typed(typed) == text
    assert to_typed("note", "ü" * 4000)["type"] == "String"
    assert to_typed("note", "abc", string_max_chars=2)["type"] == "Json"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, float("nan"), float("inf"), {"x": float("nan")}, object()])
def test_values_camunda_cannot_hold_are_refused_with_their_name(value: object) -> None:
    with pytest.raises(VariableError) as failure:
        to_typed("amount", value)
    assert failure.value.name == "amount"


def test_dates_have_exactly_three_fraction_digits_and_an_hhmm_offset() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    assert format_date(moment) == "2026-01-02T03:04:05.678+0200"
    assert to_typed("d", moment) == {"value": "2026-01-02T03:04:05.678+0200", "type": "Date"}
    assert format_date(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000+0000", "naive is UTC"


def test_typed_variables_come_back_as_python_values() -> None:
    typed = to_typed_variables({"s": "x", "n": 3, "big": 2**40, "f": 0.25, "b": True, "none": None, "obj": {"k": [1]}})
    assert from_typed_variables(typed) == {
        "s": "x",
        "n": 3,
        "big": 2**40,
        "f": 0.25,
        "b": True,
        "none": None,
        "obj": {"k": [1]},
    }
    assert from_typed({"type": "Date", "value": "2026-01-02T03:04:05.678+0000"}) == datetime(
        2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC
    )
    assert from_typed_variables(None) == {}
