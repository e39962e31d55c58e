"""Camunda's typed process variables: parsing REST values, rendering them back, storing them.

A variable travels as ``{"value": ..., "type": "String"|"Integer"|..., "valueInfo": {...}}``. The rules
mirror Camunda's ``VariableValueDto.toTypedValue``: the type name has its first letter lower-cased
and is looked up case-sensitively (so ``Json`` and ``json`` work, ``JSON`` does not), primitive
values are coerced the way Jackson reads ``"<value>"`` into the Java type, and serializable types
(``Json``, ``Xml``, ``Object``) only accept a string or null. Untyped values get their type from the
JSON value, like Camunda's untyped values.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from waitroom_dev_engine.clock import format_date, parse_date
from waitroom_dev_engine.errors import InvalidRequestException, ProcessEngineException, RestException

# Camunda stores String variables in ACT_RU_VARIABLE.TEXT_, a varchar(4000) in its default schema.
MAX_STRING_LENGTH = 4000
JSON_FORMAT = "application/json"
TRANSIENT = "transient"

_INT_RANGES = {
    "Short": (-(2**15), 2**15 - 1),
    "Integer": (-(2**31), 2**31 - 1),
    "Long": (-(2**63), 2**63 - 1),
}
_JAVA_TYPES = {
    "String": "java.lang.String",
    "Short": "java.lang.Short",
    "Integer": "java.lang.Integer",
    "Long": "java.lang.Long",
    "Double": "java.lang.Double",
    "Boolean": "java.lang.Boolean",
    "Date": "java.util.Date",
    "Bytes": "[B",
}
_PRIMITIVE_TYPES = {name[0].lower() + name[1:]: name for name in (*_JAVA_TYPES, "Null")}
_SERIALIZABLE_TYPES = {"json": "Json", "xml": "Xml", "object": "Object"}
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_DOUBLE_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(NaN|Infinity)$")


@dataclass(frozen=True)
class TypedValue:
    """A variable in its stored form.

    ``value`` holds what Camunda keeps in its tables: Python scalars for primitive types, epoch
    milliseconds for ``Date``, base64 text for ``Bytes`` and the serialized text for ``Json``,
    ``Xml`` and ``Object``.
    """

    type: str
    value: Any
    value_info: dict[str, Any] = field(default_factory=dict)
    transient: bool = False


def parse_variables(dtos: Any) -> dict[str, TypedValue] | None:
    """Parse a REST variables map; ``None`` stays ``None`` (Camunda distinguishes it from ``{}``)."""
    if dtos is None:
        return None
    if not isinstance(dtos, dict):
        raise InvalidRequestException(400, "Variables must be a JSON object of variable values.")
    return {str(name): parse_value(dto) for name, dto in dtos.items()}


def parse_value(dto: Any) -> TypedValue:
    if not isinstance(dto, dict):
        dto = {}
    value = dto.get("value")
    type_name = dto.get("type")
    value_info = dto.get("valueInfo") if isinstance(dto.get("valueInfo"), dict) else {}
    transient = value_info.get(TRANSIENT) is True
    if type_name is None or type_name == "":
        return _untyped(value, transient)
    if not isinstance(type_name, str):
        raise RestException(400, f"Unsupported value type '{type_name}'")
    lookup = type_name[0].lower() + type_name[1:]
    if lookup in _PRIMITIVE_TYPES:
        canonical = _PRIMITIVE_TYPES[lookup]
        return TypedValue(canonical, _coerce_primitive(canonical, type_name, value), {}, transient)
    if lookup in _SERIALIZABLE_TYPES:
        if value is not None and not isinstance(value, str):
            raise InvalidRequestException(
                400, f"Must provide 'null' or String value for value of SerializableValue type '{type_name}'."
            )
        canonical = _SERIALIZABLE_TYPES[lookup]
        info = _object_value_info(value_info) if canonical == "Object" else {}
        return TypedValue(canonical, value, info, transient)
    raise RestException(400, f"Unsupported value type '{type_name}'")


def to_dto(variable: TypedValue, deserialize: bool = True) -> dict[str, Any]:
    """Render a variable the way Camunda's ``VariableValueDto.fromTypedValue`` does."""
    value_info = dict(variable.value_info)
    if variable.transient:
        value_info[TRANSIENT] = True
    value = variable.value
    if variable.type == "Date" and value is not None:
        value = format_date(value)
    elif variable.type == "Object" and deserialize and value is not None:
        value = _deserialize_object(variable)
    return {"type": variable.type, "value": value, "valueInfo": value_info}


def to_python(variable: TypedValue) -> Any:
    """The value expressions see: scalars as they are, dates as datetimes, JSON parsed."""
    value = variable.value
    if value is None:
        return None
    if variable.type == "Date":
        return datetime.fromtimestamp(value / 1000, tz=UTC).astimezone()
    if variable.type == "Bytes":
        return base64.b64decode(value)
    if variable.type == "Json":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if variable.type == "Object":
        return _deserialize_object(variable)
    return value


def to_record(variable: TypedValue) -> dict[str, Any]:
    return {"type": variable.type, "value": variable.value, "valueInfo": variable.value_info}


def from_record(record: dict[str, Any]) -> TypedValue:
    return TypedValue(record["type"], record["value"], dict(record.get("valueInfo") or {}))


def string_value(value: str | None) -> TypedValue:
    return TypedValue("String", value)


def ensure_storable(name: str, variable: TypedValue) -> None:
    """Fail like a Camunda with its default schema when a String does not fit its column."""
    if variable.type == "String" and isinstance(variable.value, str) and len(variable.value) > MAX_STRING_LENGTH:
        raise ProcessEngineException(
            "ENGINE-03083 Unexpected exception while executing database operations with message "
            "'ERROR: value too long for type character varying(4000)'. "
            f"Variable '{name}' is a String of {len(variable.value)} characters; Camunda stores String "
            f"variables in the {MAX_STRING_LENGTH}-character column ACT_RU_VARIABLE.TEXT_ "
            "(use type Json or Object for longer values)."
        )


def _untyped(value: Any, transient: bool) -> TypedValue:
    # Jackson reads JSON into Java objects; Camunda then picks the variable type from their class.
    if value is None:
        return TypedValue("Null", None, {}, transient)
    if isinstance(value, bool):
        return TypedValue("Boolean", value, {}, transient)
    if isinstance(value, int):
        low, high = _INT_RANGES["Integer"]
        if low <= value <= high:
            return TypedValue("Integer", value, {}, transient)
        low, high = _INT_RANGES["Long"]
        if low <= value <= high:
            return TypedValue("Long", value, {}, transient)
        return _json_object(value, "java.math.BigInteger", transient)
    if isinstance(value, float):
        return TypedValue("Double", value, {}, transient)
    if isinstance(value, str):
        return TypedValue("String", value, {}, transient)
    java_type = "java.util.LinkedHashMap" if isinstance(value, dict) else "java.util.ArrayList"
    return _json_object(value, java_type, transient)


def _json_object(value: Any, java_type: str, transient: bool) -> TypedValue:
    # Untyped maps and lists become Object variables; this engine serializes them as JSON, the format
    # Camunda Run and the Spring Boot starter are usually configured with.
    info = {"objectTypeName": java_type, "serializationDataFormat": JSON_FORMAT}
    return TypedValue("Object", json.dumps(value, separators=(",", ":")), info, transient)


def _object_value_info(value_info: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for key in ("objectTypeName", "serializationDataFormat"):
        if value_info.get(key) is not None:
            info[key] = value_info[key]
    return info


def _deserialize_object(variable: TypedValue) -> Any:
    if variable.value_info.get("serializationDataFormat") != JSON_FORMAT:
        return variable.value
    try:
        return json.loads(variable.value)
    except ValueError:
        return variable.value


def _coerce_primitive(canonical: str, type_name: str, value: Any) -> Any:
    if value is None or canonical == "Null":
        return None
    try:
        return _COERCIONS[canonical](value)
    except (ValueError, binascii.Error) as error:
        java_type = _JAVA_TYPES[canonical]
        raise InvalidRequestException(
            400,
            f"Cannot convert value '{_java_text(value)}' of type '{type_name}' to java type {java_type}",
            error,
        ) from error


def _to_integer(canonical: str) -> Callable[[Any], int]:
    low, high = _INT_RANGES[canonical]

    def coerce(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = _java_text(value)
            if not _INTEGER_TEXT.match(text):
                raise ValueError(text)
            number = int(text)
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range")
        return number

    return coerce


def _to_double(value: Any) -> float:
    if isinstance(value, float):
        return value
    text = _java_text(value)
    if not _DOUBLE_TEXT.match(text):
        raise ValueError(text)
    return float(text.replace("Infinity", "inf"))


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _java_text(value)
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    raise ValueError(text)


def _to_bytes(value: Any) -> str:
    raw = base64.b64decode(_java_text(value), validate=True)
    return base64.b64encode(raw).decode("ascii")


_COERCIONS: dict[str, Callable[[Any], Any]] = {
    "String": lambda value: value if isinstance(value, str) else _java_text(value),
    "Short": _to_integer("Short"),
    "Integer": _to_integer("Integer"),
    "Long": _to_integer("Long"),
    "Double": _to_double,
    "Boolean": _to_boolean,
    "Date": lambda value: parse_date(_java_text(value)),
    "Bytes": _to_bytes,
}


def _java_text(value: Any) -> str:
    """``String.valueOf`` of the Java object Jackson would have built from this JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_java_text(item)}" for key, item in value.items()) + "}"
    return str(value)


def from_python(value: Any) -> TypedValue:
    """The variable Camunda stores for the Java object an expression returned.

    JUEL's integers are Longs; a list or map (a camunda:list or camunda:map mapping) is an Object
    variable, serialized as JSON as Camunda Run and the Spring Boot starter configure it.
    """
    if value is None:
        return TypedValue("Null", None)
    if isinstance(value, bool):
        return TypedValue("Boolean", value)
    if isinstance(value, int):
        return TypedValue("Long", value)
    if isinstance(value, float):
        return TypedValue("Double", value)
    if isinstance(value, str):
        return TypedValue("String", value)
    if isinstance(value, datetime):
        return TypedValue("Date", int(value.timestamp() * 1000))
    if isinstance(value, bytes):
        return TypedValue("Bytes", base64.b64encode(value).decode("ascii"))
    java_type = "java.util.LinkedHashMap" if isinstance(value, dict) else "java.util.ArrayList"
    return _json_object(value, java_type, False)
