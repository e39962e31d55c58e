"""The part of FEEL the engine runs in Zeebe input/output mappings: a variable, a path, a literal.

Camunda 8 writes a mapping's ``source`` as a FEEL expression after ``=`` (``=customer.email``), or
as a plain text that is the value itself. What runs here, with FEEL's semantics:

* a variable (``=name``) or a path into a context (``=customer.address.city``); a variable that
  does not exist, or a path through something that is not a context, is ``null``, as FEEL answers;
* the literals ``null``, ``true``, ``false``, numbers (``=42``, ``=-1.5``) and strings (``="text"``
  with ``\\"``, ``\\\\``, ``\\n``, ``\\t`` escapes);
* a source without ``=``: that text, as a string.

Every other expression (arithmetic, comparisons, function calls, filters, contexts, lists, ``if``)
is refused at deployment with a ``ParseException`` naming the element, since running it
differently from Camunda's FEEL engine would be a silent difference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from waitroom_dev_engine.juel import Scope

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_LITERALS: dict[str, Any] = {"null": None, "true": True, "false": False}


class FeelError(ValueError):
    """An expression outside the subset the engine runs."""


class FeelExpression:
    """A mapping source the engine can evaluate: a variable path or a literal value."""

    def __init__(self, path: tuple[str, ...] | None, literal: Any = None) -> None:
        self.path = path
        self.literal = literal

    @classmethod
    def parse(cls, source: str) -> FeelExpression:
        if not source.startswith("="):
            return cls(None, source)
        text = source[1:].strip()
        if text in _LITERALS:
            return cls(None, _LITERALS[text])
        if _NUMBER.fullmatch(text):
            return cls(None, float(text) if "." in text else int(text))
        if _STRING.fullmatch(text):
            return cls(None, _unescape(text[1:-1]))
        if _PATH.fullmatch(text):
            return cls(tuple(text.split(".")))
        raise FeelError(f"FEEL expression '{source}' is not supported by the development engine")

    @property
    def variable_name(self) -> str | None:
        """The variable a plain ``=name`` reads, whose value keeps its type."""
        return self.path[0] if self.path is not None and len(self.path) == 1 else None

    def evaluate_value(self, scope: Scope) -> Any:
        return self.evaluate(scope.variables)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        if self.path is None:
            return self.literal
        value: Any = variables
        for name in self.path:
            if not isinstance(value, Mapping) or name not in value:
                return None
            value = value[name]
        return value


def is_plain_name(target: str) -> bool:
    return re.fullmatch(_NAME, target) is not None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match.group(1), match.group(0)), text)
