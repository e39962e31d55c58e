"""Properties of the typed-variable serialiser, over every JSON value hypothesis can think of."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waitroom.adapters.camunda.variables import INT64, VariableError, from_typed, to_typed

CAMUNDA_TYPES = {"String", "Boolean", "Integer", "Long", "Double", "Null", "Json"}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=INT64.start, max_value=INT64.stop - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4100)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=400, derandomize=True)
@given(json_values)
def test_every_json_value_round_trips_through_a_camunda_type(value: Any) -> None:
    typed = to_typed("v", value)
    assert typed["type"] in CAMUNDA_TYPES
    if typed["type"] == "Json":
        assert isinstance(typed["value"], str), "Camunda rejects a Json variable whose value is not a string"
        json.loads(typed["value"])
    if typed["type"] == "String":
        assert len(typed["value"]) <= 4000, "Camunda keeps a String in a 4000-character column"
    assert from_typed(typed) == value
    assert json.dumps(typed, allow_nan=False), "what is sent is JSON"


@settings(max_examples=200, derandomize=True)
@given(
    st.integers(min_value=INT64.stop)
    | st.integers(max_value=INT64.start - 1)
    | st.sampled_from([float("nan"), float("inf"), float("-inf")])
)
def test_numbers_camunda_cannot_hold_are_refused_not_mangled(value: Any) -> None:
    with pytest.raises(VariableError) as refused:
        to_typed("amount", value)
    assert refused.value.name == "amount"


@settings(max_examples=200, derandomize=True)
@given(st.integers(min_value=INT64.start, max_value=INT64.stop - 1))
def test_integers_get_the_narrowest_type(number: int) -> None:
    kind = to_typed("n", number)["type"]
    assert kind == ("Integer" if -(2**31) <= number < 2**31 else "Long")
