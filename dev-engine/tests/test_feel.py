"""The FEEL subset the development engine runs in Zeebe mappings (dev-engine/src/waitroom_dev_engine/feel.py)."""

from __future__ import annotations

from typing import Any

import pytest

from waitroom_dev_engine.feel import FeelError, FeelExpression

VARIABLES: dict[str, Any] = {"customer": {"address": {"city": "Berlin"}, "name": "Ada"}, "count": 3, "flag": None}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("=count", 3),
        ("= customer.address.city", "Berlin"),
        ("=customer.missing", None),
        ("=count.deeper", None),  # a path through a non-context is null in FEEL
        ("=absent", None),  # so is a variable that does not exist
        ("=null", None),
        ("=true", True),
        ("=false", False),
        ("=42", 42),
        ("=-1.5", -1.5),
        ('="say \\"hi\\"\\n"', 'say "hi"\n'),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_supported_expressions_evaluate_as_feel_does(source: str, value: Any) -> None:
    assert FeelExpression.parse(source).evaluate(VARIABLES) == value


def test_a_plain_variable_keeps_its_name_for_its_type() -> None:
    assert FeelExpression.parse("=count").variable_name == "count"
    assert FeelExpression.parse("=customer.name").variable_name is None
    assert FeelExpression.parse("=1").variable_name is None


@pytest.mark.parametrize(
    "source", ["=a + b", "=x > 5", "=upper case(name)", "={a: 1}", "=[1, 2]", "=if x then 1 else 2", "=items[1]"]
)
def test_everything_else_is_refused(source: str) -> None:
    with pytest.raises(FeelError, match="is not supported by the development engine"):
        FeelExpression.parse(source)
