"""Camunda's input/output mappings (``camunda:inputOutput``), evaluated the way its IoMapping does.

Input parameters are evaluated in the enclosing scope and become the activity's local variables;
output parameters are evaluated in the activity's scope (its local variables over the enclosing
ones) and set in the enclosing scope, one after the other. A parameter that is just ``${name}``
keeps the variable's type; other expressions give the type of the Java object JUEL returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waitroom_dev_engine.errors import ProcessEngineException
from waitroom_dev_engine.feel import FeelExpression
from waitroom_dev_engine.juel import ExecutionIdentity, Expression, JuelError, Scope
from waitroom_dev_engine.parsing import MappingValue, Parameter
from waitroom_dev_engine.variables import TypedValue, from_python, to_python


def inputs(
    parameters: tuple[Parameter, ...], values: Mapping[str, TypedValue], execution: ExecutionIdentity, activity: str
) -> dict[str, TypedValue]:
    """The local variables the input parameters give an activity entered with ``values`` around it."""
    scope = Scope({name: to_python(value) for name, value in values.items()}, execution, activity)
    return {parameter.name: _typed(parameter.value, scope, values) for parameter in parameters}


def outputs(
    parameters: tuple[Parameter, ...],
    local: Mapping[str, TypedValue],
    values: dict[str, TypedValue],
    execution: ExecutionIdentity,
    activity: str,
) -> None:
    """Set the output parameters, evaluated over ``local`` and ``values``, into ``values``."""
    visible = {**values, **local}
    own = {name: to_python(value) for name, value in local.items()}
    for parameter in parameters:
        scope = Scope({name: to_python(value) for name, value in visible.items()}, execution, activity, own)
        value = _typed(parameter.value, scope, visible)
        values[parameter.name] = value
        if parameter.name not in local:
            visible[parameter.name] = value


def _typed(value: MappingValue, scope: Scope, values: Mapping[str, TypedValue]) -> TypedValue:
    name = value.variable_name if isinstance(value, Expression | FeelExpression) else None
    if name is not None and name in values:
        return values[name]
    return from_python(_evaluate(value, scope))


def _evaluate(value: MappingValue, scope: Scope) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_evaluate(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: _evaluate(item, scope) for key, item in value.items()}
    try:
        return value.evaluate_value(scope)
    except JuelError as error:
        raise ProcessEngineException(str(error)) from error
