"""A small evaluator for the JUEL (Java Unified Expression Language) that Camunda uses in conditions.

Sequence-flow conditions in Camunda models are JUEL, e.g. ``${approved && score >= 5}``. SpiffWorkflow
would ``eval`` them as Python, which neither understands JUEL operators nor coerces like EL, so this
module parses the supported subset once (at deployment, to reject what it cannot evaluate) and
evaluates it against the process variables with EL's coercion rules.

Supported: literals, variables, ``a.b`` / ``a[b]`` on maps and lists, the arithmetic, relational,
equality and logical operators with their word forms (``eq``, ``and``, ``not`` ...), ``empty``,
``? :``, and a few common methods (``equals``, ``contains``, ``execution.getVariable`` ...).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

Node = Callable[["Scope"], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<op>==|!=|<=|>=|&&|\|\||[!<>+\-*/%?:.\[\](),])
    )""",
    re.VERBOSE,
)
_WORD_OPERATORS = {
    "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=",
    "and": "&&", "or": "||", "not": "!", "div": "/", "mod": "%",
}  # fmt: skip
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_TEMPLATE = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)


class JuelError(Exception):
    """The expression could not be parsed or evaluated; the message reads like Camunda's."""


class Scope:
    """What identifiers resolve to: the process variables plus Camunda's ``execution``."""

    def __init__(self, variables: Mapping[str, Any], business_key: str | None = None) -> None:
        self.variables = variables
        self.execution = _Execution(variables, business_key)

    def resolve(self, name: str) -> Any:
        if name == "execution":
            return self.execution
        if name not in self.variables:
            raise JuelError(f"Cannot resolve identifier '{name}'")
        return self.variables[name]


class Expression:
    """A parsed condition text, evaluable many times."""

    def __init__(self, text: str) -> None:
        self.text = text
        match = _TEMPLATE.match(text)
        if match is None:
            if "${" in text or "#{" in text:
                raise JuelError(f"Composite expressions are not supported: {text}")
            self._node: Node = _constant(text)
        else:
            self._node = _Parser(match.group("body")).parse()

    def evaluate(self, scope: Scope) -> Any:
        return self._node(scope)

    def evaluate_condition(self, scope: Scope) -> bool:
        """Evaluate as a sequence-flow condition: the result must be a Boolean, as in Camunda."""
        try:
            result = self._node(scope)
        except JuelError as error:
            raise JuelError(f"Unknown property used in expression: {self.text}. Cause: {error}") from error
        if result is None:
            raise JuelError("condition expression returns null: result is null")
        if not isinstance(result, bool):
            raise JuelError(
                "condition expression returns non-Boolean: result has class "
                f"{type(result).__name__} and not java.lang.Boolean"
            )
        return result


class _Execution:
    def __init__(self, variables: Mapping[str, Any], business_key: str | None) -> None:
        self.variables = variables
        self.business_key = business_key

    def call(self, method: str, args: list[Any]) -> Any:
        if method == "getVariable" and len(args) == 1:
            return self.variables.get(str(args[0]))
        if method == "hasVariable" and len(args) == 1:
            return str(args[0]) in self.variables
        if method in ("getBusinessKey", "getProcessBusinessKey") and not args:
            return self.business_key
        raise JuelError(f"Method not found: execution.{method}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def parse(self) -> Node:
        node = self._ternary()
        if self.position != len(self.tokens):
            raise JuelError(f"Unexpected token '{self.tokens[self.position][1]}'")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _accept(self, *operators: str) -> str | None:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in operators:
            self.position += 1
            return token[1]
        return None

    def _expect(self, operator: str) -> None:
        if self._accept(operator) is None:
            raise JuelError(f"Expected '{operator}'")

    def _ternary(self) -> Node:
        condition = self._binary(0)
        if self._accept("?") is None:
            return condition
        when_true = self._ternary()
        self._expect(":")
        when_false = self._ternary()
        return lambda scope: when_true(scope) if _to_boolean(condition(scope)) else when_false(scope)

    def _binary(self, level: int) -> Node:
        if level == len(_PRECEDENCE):
            return self._unary()
        node = self._binary(level + 1)
        while (symbol := self._accept(*_PRECEDENCE[level])) is not None:
            node = _binary_node(symbol, node, self._binary(level + 1))
        return node

    def _unary(self) -> Node:
        token = self._peek()
        if token is not None and token == ("name", "empty"):
            self.position += 1
            operand = self._unary()
            return lambda scope: _is_empty(operand(scope))
        symbol = self._accept("!", "-")
        if symbol is None:
            return self._value()
        operand = self._unary()
        if symbol == "!":
            return lambda scope: not _to_boolean(operand(scope))
        return lambda scope: -_to_number(operand(scope))

    def _value(self) -> Node:
        node = self._primary()
        while True:
            if self._accept(".") is not None:
                token = self._peek()
                if token is None or token[0] != "name":
                    raise JuelError("Expected a property name after '.'")
                self.position += 1
                name = token[1]
                if self._accept("(") is not None:
                    node = _method_node(node, name, self._arguments())
                else:
                    node = _property_node(node, _constant(name))
            elif self._accept("[") is not None:
                key = self._ternary()
                self._expect("]")
                node = _property_node(node, key)
            else:
                return node

    def _arguments(self) -> list[Node]:
        arguments: list[Node] = []
        if self._accept(")") is not None:
            return arguments
        arguments.append(self._ternary())
        while self._accept(",") is not None:
            arguments.append(self._ternary())
        self._expect(")")
        return arguments

    def _primary(self) -> Node:
        token = self._peek()
        if token is None:
            raise JuelError("Unexpected end of expression")
        kind, text = token
        self.position += 1
        if kind == "number":
            return _constant(float(text) if any(mark in text for mark in ".eE") else int(text))
        if kind == "string":
            return _constant(re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "name":
            if text in _LITERALS:
                return _constant(_LITERALS[text])
            if self._peek() == ("op", "("):
                raise JuelError(f"Functions are not supported: {text}()")
            return lambda scope: scope.resolve(text)
        if text == "(":
            node = self._ternary()
            self._expect(")")
            return node
        raise JuelError(f"Unexpected token '{text}'")


_PRECEDENCE: list[tuple[str, ...]] = [
    ("||",),
    ("&&",),
    ("==", "!="),
    ("<", ">", "<=", ">="),
    ("+", "-"),
    ("*", "/", "%"),
]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            raise JuelError(f"Unexpected character at position {position + 1} in '{text}'")
        position = match.end()
        kind = match.lastgroup or "op"
        value = match.group(kind)
        if kind == "name" and value in _WORD_OPERATORS:
            kind, value = "op", _WORD_OPERATORS[value]
        tokens.append((kind, value))
    return tokens


def _constant(value: Any) -> Node:
    return lambda _scope: value


def _binary_node(symbol: str, left: Node, right: Node) -> Node:
    if symbol == "&&":
        return lambda scope: _to_boolean(left(scope)) and _to_boolean(right(scope))
    if symbol == "||":
        return lambda scope: _to_boolean(left(scope)) or _to_boolean(right(scope))
    if symbol == "==":
        return lambda scope: _equals(left(scope), right(scope))
    if symbol == "!=":
        return lambda scope: not _equals(left(scope), right(scope))
    if symbol in _COMPARISONS:
        return lambda scope: _compare(symbol, left(scope), right(scope))
    return lambda scope: _arithmetic(symbol, left(scope), right(scope))


def _property_node(base: Node, key: Node) -> Node:
    def evaluate(scope: Scope) -> Any:
        target = base(scope)
        name = key(scope)
        if target is None:
            return None
        if isinstance(target, Mapping):
            return target.get(name)
        if isinstance(target, list | tuple):
            index = int(_to_number(name))
            return target[index] if 0 <= index < len(target) else None
        raise JuelError(f"Property '{name}' not found on type {type(target).__name__}")

    return evaluate


def _method_node(base: Node, method: str, arguments: list[Node]) -> Node:
    def evaluate(scope: Scope) -> Any:
        target = base(scope)
        args = [argument(scope) for argument in arguments]
        if isinstance(target, _Execution):
            return target.call(method, args)
        handler = _METHODS.get((method, len(args)))
        if handler is None or target is None:
            raise JuelError(f"Method not found: {type(target).__name__}.{method}")
        return handler(target, *args)

    return evaluate


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


def _to_boolean(value: Any) -> bool:
    # EL: null and "" are false, strings are Boolean.valueOf, anything else cannot be coerced.
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    raise JuelError(f"Cannot coerce from {type(value).__name__} to Boolean")


def _to_number(value: Any) -> int | float:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise JuelError("Cannot coerce from Boolean to Number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise JuelError(f"Cannot coerce '{value}' to Number") from None
    raise JuelError(f"Cannot coerce from {type(value).__name__} to Number")


def _to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equals(left: Any, right: Any) -> bool:
    if left is right:
        return True
    if left is None or right is None:
        return False
    if isinstance(left, bool) or isinstance(right, bool):
        return _to_boolean(left) == _to_boolean(right)
    if isinstance(left, int | float) or isinstance(right, int | float):
        return _to_number(left) == _to_number(right)
    if isinstance(left, str) or isinstance(right, str):
        return _to_string(left) == _to_string(right)
    return bool(left == right)


def _compare(symbol: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    if isinstance(left, int | float) or isinstance(right, int | float):
        a: Any = _to_number(left)
        b: Any = _to_number(right)
    elif isinstance(left, str) or isinstance(right, str):
        a, b = _to_string(left), _to_string(right)
    else:
        a, b = left, right
    try:
        return bool(_COMPARISONS[symbol](a, b))
    except TypeError as error:
        raise JuelError(f"Cannot compare {type(left).__name__} and {type(right).__name__}") from error


_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _arithmetic(symbol: str, left: Any, right: Any) -> int | float:
    if symbol == "+" and isinstance(left, str) and isinstance(right, str):
        raise JuelError("String concatenation with '+' is not EL; use a composite expression")
    a, b = _to_number(left), _to_number(right)
    if symbol == "+":
        return a + b
    if symbol == "-":
        return a - b
    if symbol == "*":
        return a * b
    if symbol == "/":
        # EL divides as doubles, so dividing by zero yields an infinity rather than an error.
        if b == 0:
            return math.nan if a == 0 else math.copysign(math.inf, a)
        return a / b
    if isinstance(a, float) or isinstance(b, float):
        return math.fmod(a, b) if b != 0 else math.nan
    if b == 0:
        raise JuelError("Division by zero")
    # Java's integer remainder takes the sign of the dividend.
    remainder = abs(a) % abs(b)
    return remainder if a >= 0 else -remainder


_METHODS: dict[tuple[str, int], Callable[..., Any]] = {
    ("equals", 1): lambda target, other: target == other,
    ("equalsIgnoreCase", 1): lambda target, other: str(target).lower() == str(other).lower(),
    ("contains", 1): lambda target, other: other in target,
    ("containsKey", 1): lambda target, other: other in target,
    ("startsWith", 1): lambda target, other: str(target).startswith(str(other)),
    ("endsWith", 1): lambda target, other: str(target).endswith(str(other)),
    ("isEmpty", 0): lambda target: len(target) == 0,
    ("length", 0): len,
    ("size", 0): len,
    ("toLowerCase", 0): lambda target: str(target).lower(),
    ("toUpperCase", 0): lambda target: str(target).upper(),
    ("trim", 0): lambda target: str(target).strip(),
    ("toString", 0): _to_string,
}
