"""A small evaluator for the JUEL (Java Unified Expression Language) that Camunda uses in expressions.

Sequence-flow conditions, input/output mappings and user task assignees in Camunda models are JUEL,
e.g. ``${approved && score >= 5}``. SpiffWorkflow would ``eval`` them as Python, which neither
understands JUEL operators nor coerces like EL, so this module parses the supported subset once (at
deployment, to reject what it cannot evaluate) and evaluates it against the variables with EL's
coercion rules.

Supported: literals, variables, ``a.b`` / ``a[b]`` on maps and lists, the arithmetic, relational,
equality and logical operators with their word forms (``eq``, ``and``, ``not`` ...), ``empty``,
``? :``, and a few common methods (``equals``, ``contains``, ``execution.getVariable`` ...).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_TEMPLATE = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)


class JuelError(Exception):
    """The expression could not be parsed or evaluated (JUEL's ELException); reads like Camunda's."""


class UnknownProperty(JuelError):
    """JUEL's PropertyNotFoundException: an identifier or property that does not resolve."""


class UnknownMethod(JuelError):
    """JUEL's MethodNotFoundException."""


@dataclass(frozen=True)
class ExecutionIdentity:
    """Who ``execution`` is in an expression: the process instance's own execution."""

    process_instance_id: str
    process_definition_id: str
    business_key: str | None


class Scope:
    """What identifiers resolve to: the process variables plus Camunda's ``execution``."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        execution: ExecutionIdentity | None = None,
        activity_id: str | None = None,
        local_variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.variables = variables
        local = variables if local_variables is None else local_variables
        self.execution = _Execution(variables, local, execution, activity_id)

    def resolve(self, name: str) -> Any:
        if name == "execution":
            return self.execution
        if name not in self.variables:
            raise UnknownProperty(f"Cannot resolve identifier '{name}'")
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
            parser = _Parser(match.group("body"))
            self._node = parser.parse()
            _check_execution_methods(parser.tokens)

    def evaluate(self, scope: Scope) -> Any:
        return self._node(scope)

    @property
    def variable_name(self) -> str | None:
        """The variable's name when the expression is just one (``${name}``), else None."""
        match = _TEMPLATE.match(self.text)
        body = match.group("body").strip() if match is not None else ""
        if _IDENTIFIER.fullmatch(body) and body not in _LITERALS and body not in _WORD_OPERATORS:
            return None if body in ("execution", "empty") else body
        return None

    def evaluate_value(self, scope: Scope) -> Any:
        """Evaluate as a value (a mapping, an assignee ...), with the failures of Camunda's JuelExpression."""
        try:
            return self._node(scope)
        except UnknownProperty as error:
            raise JuelError(f"Unknown property used in expression: {self.text}. Cause: {error}") from error
        except UnknownMethod as error:
            raise JuelError(f"Unknown method used in expression: {self.text}. Cause: {error}") from error
        except JuelError as error:
            raise JuelError(f"Error while evaluating expression: {self.text}. Cause: {error}") from error

    def evaluate_condition(self, scope: Scope) -> bool:
        """Evaluate as a sequence-flow condition, with the failures of Camunda's JuelExpression."""
        result = self.evaluate_value(scope)
        if result is None:
            raise JuelError("condition expression returns null: result is null")
        if not isinstance(result, bool):
            raise JuelError(
                "condition expression returns non-Boolean: result has class "
                f"{_java_class(result)} and not java.lang.Boolean"
            )
        return result


class _Execution:
    """The DelegateExecution methods a condition can call; properties read through their getters."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        local_variables: Mapping[str, Any],
        identity: ExecutionIdentity | None,
        activity_id: str | None,
    ) -> None:
        self.variables = variables
        self.local_variables = local_variables
        self.identity = identity
        self.activity_id = activity_id

    def call(self, method: str, args: list[Any]) -> Any:
        handler = _EXECUTION_METHODS.get((method, len(args)))
        if handler is None:
            raise UnknownMethod(f"Cannot find method '{method}' in 'class {_EXECUTION_CLASS}'")
        return handler(self, *args)

    def get_property(self, name: str) -> Any:
        getter = f"get{name[:1].upper()}{name[1:]}"
        if (getter, 0) not in _EXECUTION_METHODS:
            raise UnknownProperty(f"Property '{name}' not found on type {_EXECUTION_CLASS}")
        return self.call(getter, [])

    def identity_part(self, attribute: str) -> str | None:
        return None if self.identity is None else getattr(self.identity, attribute)


_EXECUTION_CLASS = "org.camunda.bpm.engine.impl.persistence.entity.ExecutionEntity"
# The local forms read the scope's own variables: an activity's in its output mapping, otherwise the
# process instance's (sub processes hold no variables of their own here).
_EXECUTION_METHODS: dict[tuple[str, int], Callable[..., Any]] = {
    ("getProcessInstanceId", 0): lambda execution: execution.identity_part("process_instance_id"),
    ("getProcessDefinitionId", 0): lambda execution: execution.identity_part("process_definition_id"),
    ("getBusinessKey", 0): lambda execution: execution.identity_part("business_key"),
    ("getProcessBusinessKey", 0): lambda execution: execution.identity_part("business_key"),
    ("getActivityId", 0): lambda execution: execution.activity_id,
    ("getCurrentActivityId", 0): lambda execution: execution.activity_id,
    ("getTenantId", 0): lambda _execution: None,
    ("getVariable", 1): lambda execution, name: execution.variables.get(_to_string(name)),
    ("getVariableLocal", 1): lambda execution, name: execution.local_variables.get(_to_string(name)),
    ("getVariables", 0): lambda execution: dict(execution.variables),
    ("getVariablesLocal", 0): lambda execution: dict(execution.local_variables),
    ("getVariableNames", 0): lambda execution: set(execution.variables),
    ("getVariableNamesLocal", 0): lambda execution: set(execution.local_variables),
    ("hasVariable", 1): lambda execution, name: _to_string(name) in execution.variables,
    ("hasVariableLocal", 1): lambda execution, name: _to_string(name) in execution.local_variables,
    ("hasVariables", 0): lambda execution: bool(execution.variables),
    ("hasVariablesLocal", 0): lambda execution: bool(execution.local_variables),
}


def _check_execution_methods(tokens: list[tuple[str, str]]) -> None:
    """Refuse at deployment an ``execution`` method or property this engine does not offer."""
    offered = {method for method, _arity in _EXECUTION_METHODS}
    for index, token in enumerate(tokens[:-2]):
        if token != ("name", "execution") or tokens[index + 1] != ("op", ".") or tokens[index + 2][0] != "name":
            continue
        name = tokens[index + 2][1]
        is_call = index + 3 < len(tokens) and tokens[index + 3] == ("op", "(")
        if (name if is_call else f"get{name[:1].upper()}{name[1:]}") not in offered:
            raise JuelError(f"execution.{name} is not supported by the development engine")


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
        return lambda scope: _negate(operand(scope))

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
        if isinstance(target, _Execution):
            return target.get_property(_to_string(name))
        if isinstance(target, Mapping):
            return target.get(name)
        if isinstance(target, list | tuple):
            index = _to_long(name)
            return target[index] if 0 <= index < len(target) else None
        raise UnknownProperty(f"Property '{name}' not found on type {_java_class(target)}")

    return evaluate


def _method_node(base: Node, method: str, arguments: list[Node]) -> Node:
    def evaluate(scope: Scope) -> Any:
        target = base(scope)
        args = [argument(scope) for argument in arguments]
        if isinstance(target, _Execution):
            return target.call(method, args)
        handler = _METHODS.get((method, len(args)))
        if handler is None or target is None:
            raise UnknownMethod(f"Cannot find method '{method}' in '{_java_class(target)}'")
        return handler(target, *args)

    return evaluate


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


# EL coercion and operators (EL 2.2 specification, sections 1.7 to 1.9 and 1.18), with the messages
# of the JUEL type converter Camunda uses. Java's Integer and Long are Python ints, Double a float.


def _java_class(value: Any) -> str:
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Long"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, Mapping):
        return "java.util.LinkedHashMap"
    if isinstance(value, list | tuple):
        return "java.util.ArrayList"
    if isinstance(value, set | frozenset):
        return "java.util.HashSet"
    if isinstance(value, _Execution):
        return _EXECUTION_CLASS
    return type(value).__name__


def _cannot_coerce_type(value: Any, target: str) -> JuelError:
    return JuelError(f"Cannot coerce from class {_java_class(value)} to class {target}")


def _cannot_coerce_value(value: Any, target: str) -> JuelError:
    return JuelError(f"Cannot coerce '{value}' to class {target}")


def _to_boolean(value: Any) -> bool:
    # EL: null and "" are false, strings are Boolean.valueOf, anything else cannot be coerced.
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    raise _cannot_coerce_type(value, "java.lang.Boolean")


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _to_long(value: Any) -> int:
    if value is None or value == "":
        return 0
    if _is_integer(value):
        return int(value)
    if isinstance(value, float):
        # Double.longValue: truncation, NaN is 0, infinities saturate.
        if math.isnan(value):
            return 0
        if math.isinf(value):
            return _LONG_MAX if value > 0 else -_LONG_MAX - 1
        return int(value)
    if isinstance(value, str):
        # Long.valueOf: an optional sign and decimal digits, nothing else ("5.0" and " 5" fail).
        if _LONG_TEXT.fullmatch(value) and -_LONG_MAX - 1 <= int(value) <= _LONG_MAX:
            return int(value)
        raise _cannot_coerce_value(value, "java.lang.Long")
    raise _cannot_coerce_type(value, "java.lang.Long")


def _to_double(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, float):
        return value
    if _is_integer(value):
        return float(value)
    if isinstance(value, str):
        # Double.valueOf trims blanks and accepts a trailing type suffix, NaN and Infinity.
        match = _DOUBLE_TEXT.fullmatch(value.strip())
        if match is None:
            raise _cannot_coerce_value(value, "java.lang.Double")
        return float(match.group("number").replace("Infinity", "inf"))
    raise _cannot_coerce_type(value, "java.lang.Double")


def _to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _has_dot_or_exponent(value: Any) -> bool:
    return isinstance(value, str) and any(mark in value for mark in ".eE")


def _equals(left: Any, right: Any) -> bool:
    if left is right:
        return True
    if left is None or right is None:
        return False
    if isinstance(left, float) or isinstance(right, float):
        return _to_double(left) == _to_double(right)
    if _is_integer(left) or _is_integer(right):
        return _to_long(left) == _to_long(right)
    if isinstance(left, bool) or isinstance(right, bool):
        return _to_boolean(left) == _to_boolean(right)
    if isinstance(left, str) or isinstance(right, str):
        return _to_string(left) == _to_string(right)
    return bool(left == right)


def _compare(symbol: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    a: Any
    b: Any
    if isinstance(left, float) or isinstance(right, float):
        a, b = _to_double(left), _to_double(right)
    elif _is_integer(left) or _is_integer(right):
        a, b = _to_long(left), _to_long(right)
    elif isinstance(left, str) or isinstance(right, str):
        a, b = _to_string(left), _to_string(right)
    else:
        a, b = left, right
    try:
        return bool(_COMPARISONS[symbol](a, b))
    except TypeError as error:
        raise JuelError(f"Cannot compare '{left}' and '{right}'") from error


_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _arithmetic(symbol: str, left: Any, right: Any) -> int | float:
    if left is None and right is None:
        return 0
    if symbol == "/":
        # EL divides as doubles, so dividing by zero yields an infinity (or NaN) rather than an error.
        a, b = _to_double(left), _to_double(right)
        if b == 0:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
        return a / b
    if any(isinstance(value, float) or _has_dot_or_exponent(value) for value in (left, right)):
        x, y = _to_double(left), _to_double(right)
        if symbol == "%":
            return math.fmod(x, y) if y != 0 else math.nan
        result: float = _OPERATIONS[symbol](x, y)
        return result
    m, n = _to_long(left), _to_long(right)
    if symbol == "%":
        if n == 0:
            raise JuelError("/ by zero")
        # Java's integer remainder takes the sign of the dividend.
        remainder = abs(m) % abs(n)
        return remainder if m >= 0 else -remainder
    return _wrap_long(_OPERATIONS[symbol](m, n))


_OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


def _negate(value: Any) -> int | float:
    if value is None:
        return 0
    if isinstance(value, str):
        return -_to_double(value) if _has_dot_or_exponent(value) else _wrap_long(-_to_long(value))
    if isinstance(value, float):
        return -value
    if _is_integer(value):
        return _wrap_long(-value)
    raise JuelError(f"Cannot negate '{value}'")


def _wrap_long(value: int) -> int:
    """Java long arithmetic overflows silently, wrapping around."""
    return (value + _LONG_MAX + 1) % (2 * (_LONG_MAX + 1)) - _LONG_MAX - 1


_LONG_MAX = 2**63 - 1
_LONG_TEXT = re.compile(r"[+-]?[0-9]+")
_DOUBLE_TEXT = re.compile(r"(?P<number>[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))[fFdD]?")

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
