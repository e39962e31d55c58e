"""The list queries: Camunda's filter parameters, sorting and paging, applied to the engine's records.

Both the GET form (query string, comma-separated lists) and the POST form (JSON body, arrays) are
normalised into the same parameters, then applied to the records in Python. A parameter Camunda
documents for an endpoint but no spec below applies is refused by the REST layer (see
``dev-engine/src/waitroom_dev_engine/openapi.py``), so no filter is ever dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from waitroom_dev_engine.clock import parse_date
from waitroom_dev_engine.errors import BadUserRequestException, InvalidRequestException
from waitroom_dev_engine.records import (
    Deployment,
    ExternalTask,
    Incident,
    ProcessInstance,
)
from waitroom_dev_engine.variables import TypedValue

PAGING_PARAMETERS = frozenset({"firstResult", "maxResults"})
SORTING_PARAMETERS = frozenset({"sortBy", "sortOrder"})
_NUMBER_TYPES = frozenset({"Short", "Integer", "Long", "Double"})
_VARIABLE_OPERATORS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "like", "notLike")


@dataclass(frozen=True)
class QueryContext:
    now: int
    params: Mapping[str, Any]


Predicate = Callable[[Any, Any, QueryContext], bool]


@dataclass(frozen=True)
class Filter:
    kind: str  # "string", "list", "boolean", "integer", "date" or "variables"
    test: Predicate


@dataclass(frozen=True)
class QuerySpec:
    filters: Mapping[str, Filter]
    sort_keys: Mapping[str, Callable[[Any], Any]]
    # None keeps insertion order, which is creation order in the store.
    default_sort: str | None
    # Operators the "variables"-kind filters accept (the external task query also has notLike).
    variable_operators: tuple[str, ...] = _VARIABLE_OPERATORS[:-1]
    validate: Callable[[Mapping[str, Any]], None] | None = None

    @property
    def parameters(self) -> frozenset[str]:
        """Every query-string parameter the list form of this query applies."""
        return frozenset(self.filters) | PAGING_PARAMETERS | SORTING_PARAMETERS

    @property
    def body_properties(self) -> frozenset[str]:
        """Every JSON property the POST form of this query applies."""
        return frozenset(self.filters) | {"sorting"}


@dataclass(frozen=True)
class VariableCondition:
    name: str
    operator: str
    value: Any
    is_date: bool = False


@dataclass(frozen=True)
class Query:
    params: dict[str, Any]
    sorting: list[tuple[str, str]]
    first_result: int | None = None
    max_results: int | None = None

    def matching[R](self, spec: QuerySpec, records: Sequence[R], now: int) -> list[R]:
        if spec.validate is not None:
            spec.validate(self.params)
        context = QueryContext(now, self.params)
        return [
            record
            for record in records
            if all(spec.filters[name].test(record, value, context) for name, value in self.params.items())
        ]

    def run[R](self, spec: QuerySpec, records: Sequence[R], now: int) -> list[R]:
        matching = self.matching(spec, records, now)
        default = [] if spec.default_sort is None else [(spec.default_sort, "asc")]
        # Sorting by the least significant criterion first; Python's sort is stable.
        for sort_by, sort_order in reversed(self.sorting or default):
            matching.sort(key=_sort_key(spec.sort_keys[sort_by]), reverse=sort_order == "desc")
        start = self.first_result or 0
        end = None if self.max_results is None else start + self.max_results
        return matching[start:end]


def from_query_string(spec: QuerySpec, query: Mapping[str, list[str]], *, counting: bool = False) -> Query:
    params: dict[str, Any] = {}
    for name, values in query.items():
        if name in spec.filters:
            converted = _convert(spec, name, spec.filters[name].kind, values[-1])
            if converted is not None:
                params[name] = converted
    if counting:
        # The /count forms document neither sorting nor paging, so Camunda ignores them there.
        return Query(params, [])
    sort_by, sort_order = _last(query, "sortBy"), _last(query, "sortOrder")
    if (sort_by is None) != (sort_order is None):
        raise _single_sorting_parameter()
    sorting = [] if sort_by is None or sort_order is None else [_sorting(spec, sort_by, sort_order)]
    return Query(params, sorting, *_paging(query))


def from_body(
    spec: QuerySpec, body: Mapping[str, Any], query: Mapping[str, list[str]], *, counting: bool = False
) -> Query:
    params: dict[str, Any] = {}
    for name, value in body.items():
        if name in spec.filters and value is not None:
            kind = spec.filters[name].kind
            if kind == "variables":
                converted: Any = _conditions_from_body(spec, name, value)
            elif kind == "list" and isinstance(value, list):
                converted = [str(item) for item in value]
            else:
                converted = _convert(spec, name, kind, value)
            if converted is not None:
                params[name] = converted
    sorting = []
    for entry in body.get("sorting") or []:
        sort_by, sort_order = entry.get("sortBy"), entry.get("sortOrder")
        if sort_by is None or sort_order is None:
            raise _single_sorting_parameter()
        sorting.append(_sorting(spec, sort_by, sort_order))
    if counting:
        return Query(params, [])
    return Query(params, sorting, *_paging(query))


def _single_sorting_parameter() -> InvalidRequestException:
    return InvalidRequestException(400, "Only a single sorting parameter specified. sortBy and sortOrder required")


def _convert(spec: QuerySpec, name: str, kind: str, raw: Any) -> Any:
    text = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)
    try:
        if kind == "list":
            return text.split(",")
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError(text)
            # Camunda: "Value may only be true, as false matches any" record.
            return True if text == "true" else None
        if kind == "integer":
            return int(text)
        if kind == "date":
            return parse_date(text)
        if kind == "variables":
            return _conditions_from_text(spec, text)
    except ValueError:
        raise InvalidRequestException(400, f"Cannot set query parameter '{name}' to value '{text}'") from None
    return text


def _conditions_from_text(spec: QuerySpec, text: str) -> list[VariableCondition]:
    """Camunda's VariableListConverter: ``name_operator_value`` expressions, comma-separated."""
    conditions = []
    for expression in text.split(","):
        parts = expression.split("_")
        if len(parts) != 3:
            raise InvalidRequestException(400, "variable query parameter has to have format KEY_OPERATOR_VALUE.")
        name, operator, value = parts
        # The value stays a String unless it reads as a date, as Camunda's resolveValue does.
        try:
            conditions.append(_condition(spec, name, operator, parse_date(value), is_date=True))
        except ValueError:
            conditions.append(_condition(spec, name, operator, value))
    return conditions


def _conditions_from_body(spec: QuerySpec, name: str, raw: Any) -> list[VariableCondition]:
    if not isinstance(raw, list) or not all(isinstance(entry, dict) for entry in raw):
        raise InvalidRequestException(400, f"Cannot set query parameter '{name}' to value '{raw}'")
    return [_condition(spec, str(entry.get("name")), str(entry.get("operator")), entry.get("value")) for entry in raw]


def _condition(spec: QuerySpec, name: str, operator: str, value: Any, *, is_date: bool = False) -> VariableCondition:
    if operator not in spec.variable_operators:
        raise InvalidRequestException(400, f"Invalid variable comparator specified: {operator}")
    if operator not in ("eq", "neq") and (value is None or isinstance(value, bool)):
        raise InvalidRequestException(400, f"Booleans and null cannot be used in '{operator}' condition")
    if operator in ("like", "notLike") and not isinstance(value, str):
        raise InvalidRequestException(400, f"Only string values can be used with '{operator}' condition.")
    return VariableCondition(name, operator, value, is_date)


def _sorting(spec: QuerySpec, sort_by: str, sort_order: str) -> tuple[str, str]:
    if sort_by not in spec.sort_keys:
        raise InvalidRequestException(400, f"Cannot set query parameter 'sortBy' to value '{sort_by}'")
    if sort_order not in ("asc", "desc"):
        raise InvalidRequestException(400, f"Cannot set query parameter 'sortOrder' to value '{sort_order}'")
    return sort_by, sort_order


def _paging(query: Mapping[str, list[str]]) -> tuple[int | None, int | None]:
    first, most = _last(query, "firstResult"), _last(query, "maxResults")
    return (
        int(_integer_parameter("firstResult", first)) if first is not None else None,
        int(_integer_parameter("maxResults", most)) if most is not None else None,
    )


def _integer_parameter(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidRequestException(400, f"Cannot set query parameter '{name}' to value '{text}'") from None


def _last(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _sort_key(attribute: Callable[[Any], Any]) -> Callable[[Any], tuple[bool, Any]]:
    def key(record: Any) -> tuple[bool, Any]:
        # Nulls sort first, and are never compared with values.
        value = attribute(record)
        return (value is not None, value if value is not None else 0)

    return key


def like(pattern: str, text: str | None, *, ignore_case: bool = False) -> bool:
    """SQL LIKE as Camunda's queries run it: ``%`` any run, ``_`` one character, ``\\`` escapes."""
    if text is None:
        return False
    expression = "".join(
        ".*" if part == "%" else "." if part == "_" else re.escape(part[-1])
        for part in re.findall(r"\\.|%|_|.", pattern, re.DOTALL)
    )
    return re.fullmatch(expression, text, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


# Variable conditions -----------------------------------------------------------------------------


def variables_match(
    variables: Mapping[str, TypedValue], conditions: Sequence[VariableCondition], context: QueryContext
) -> bool:
    names_ignore_case = bool(context.params.get("variableNamesIgnoreCase"))
    values_ignore_case = bool(context.params.get("variableValuesIgnoreCase"))
    return all(
        any(
            _same_name(name, condition.name, names_ignore_case)
            and _compare_variable(variable, condition, values_ignore_case)
            for name, variable in variables.items()
        )
        for condition in conditions
    )


def _same_name(name: str, wanted: str, ignore_case: bool) -> bool:
    return name.lower() == wanted.lower() if ignore_case else name == wanted


def _compare_variable(variable: TypedValue, condition: VariableCondition, ignore_case: bool) -> bool:
    """Typed, as in Camunda: a String value matches String variables, a number any numeric one."""
    wanted, actual = condition.value, variable.value
    if wanted is None:
        return (actual is None) == (condition.operator == "eq")
    if isinstance(wanted, bool):
        if variable.type != "Boolean" or actual is None:
            return False
        return bool(actual == wanted) == (condition.operator == "eq")
    if condition.is_date:
        if variable.type != "Date" or actual is None:
            return False
    elif isinstance(wanted, int | float):
        if variable.type not in _NUMBER_TYPES or actual is None:
            return False
    elif isinstance(wanted, str):
        if variable.type != "String" or actual is None:
            return False
        if ignore_case:
            wanted, actual = wanted.lower(), actual.lower()
        if condition.operator in ("like", "notLike"):
            return like(wanted, actual) == (condition.operator == "like")
    else:
        return False
    return bool(_ORDERINGS[condition.operator](actual, wanted))


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
}


# Rows: a record with what its filters need from around it ----------------------------------------


@dataclass(frozen=True)
class InstanceRow:
    instance: ProcessInstance
    deployment_id: str | None
    incidents: tuple[Incident, ...]
    variables: Mapping[str, TypedValue]


@dataclass(frozen=True)
class ExternalTaskRow:
    task: ExternalTask
    definition_name: str | None
    variables: Mapping[str, TypedValue]


# Filter builders ---------------------------------------------------------------------------------


def _equals(path: str) -> Filter:
    get = attrgetter(path)
    return Filter("string", lambda record, value, _context: get(record) == value)


def _member(path: str) -> Filter:
    get = attrgetter(path)
    return Filter("list", lambda record, value, _context: get(record) in value)


def _not_member(path: str) -> Filter:
    get = attrgetter(path)
    return Filter("list", lambda record, value, _context: get(record) not in value)


def _like(path: str) -> Filter:
    get = attrgetter(path)
    return Filter("string", lambda record, value, _context: like(value, get(record)))


def _at_or_before(path: str) -> Filter:
    get = attrgetter(path)
    return Filter("date", lambda record, value, _context: get(record) is not None and get(record) <= value)


def _at_or_after(path: str) -> Filter:
    get = attrgetter(path)
    return Filter("date", lambda record, value, _context: get(record) is not None and get(record) >= value)


def _variables(path: str) -> Filter:
    get = attrgetter(path)
    return Filter("variables", lambda record, value, context: variables_match(get(record), value, context))


def _locked(task: ExternalTask, now: int) -> bool:
    return task.lock_expiration_time is not None and task.lock_expiration_time > now


# Tenants, jobs, cases and called sub process instances do not exist here: filters for them match nothing
# (or everything, for "without tenant", "root" and "leaf").
_NO_MATCH_LIST = Filter("list", lambda _record, _value, _context: False)
_NO_MATCH_STRING = Filter("string", lambda _record, _value, _context: False)
_NO_MATCH_DATE = Filter("date", lambda _record, _value, _context: False)
_ALWAYS = Filter("boolean", lambda _record, _value, _context: True)
_NEVER = Filter("boolean", lambda _record, _value, _context: False)

EXTERNAL_TASKS = QuerySpec(
    filters={
        "externalTaskId": _equals("task.id"),
        "externalTaskIdIn": _member("task.id"),
        "topicName": _equals("task.topic_name"),
        "workerId": _equals("task.worker_id"),
        "locked": Filter("boolean", lambda row, _value, context: _locked(row.task, context.now)),
        "notLocked": Filter("boolean", lambda row, _value, context: not _locked(row.task, context.now)),
        "withRetriesLeft": Filter("boolean", lambda row, _value, _context: row.task.has_retries_left),
        "noRetriesLeft": Filter(
            "boolean", lambda row, _value, _context: row.task.retries is not None and row.task.retries <= 0
        ),
        "lockExpirationAfter": Filter(
            "date", lambda row, value, _context: (row.task.lock_expiration_time or 0) > value
        ),
        "lockExpirationBefore": Filter(
            "date",
            lambda row, value, _context: (
                row.task.lock_expiration_time is not None and row.task.lock_expiration_time < value
            ),
        ),
        "activityId": _equals("task.activity_id"),
        "activityIdIn": _member("task.activity_id"),
        "executionId": _equals("task.execution_id"),
        "processInstanceId": _equals("task.process_instance_id"),
        "processInstanceIdIn": _member("task.process_instance_id"),
        "processDefinitionId": _equals("task.definition_id"),
        "processDefinitionKey": _equals("task.definition_key"),
        "processDefinitionKeyIn": _member("task.definition_key"),
        "processDefinitionName": _equals("definition_name"),
        "processDefinitionNameLike": _like("definition_name"),
        "tenantIdIn": _NO_MATCH_LIST,
        "active": _ALWAYS,
        "suspended": _NEVER,
        "priorityHigherThanOrEquals": Filter("integer", lambda row, value, _context: row.task.priority >= value),
        "priorityLowerThanOrEquals": Filter("integer", lambda row, value, _context: row.task.priority <= value),
        "processVariables": _variables("variables"),
        "variableNamesIgnoreCase": _ALWAYS,
        "variableValuesIgnoreCase": _ALWAYS,
    },
    sort_keys={
        "id": lambda row: row.task.id,
        "lockExpirationTime": lambda row: row.task.lock_expiration_time,
        "processInstanceId": lambda row: row.task.process_instance_id,
        "processDefinitionId": lambda row: row.task.definition_id,
        "processDefinitionKey": lambda row: row.task.definition_key,
        "taskPriority": lambda row: row.task.priority,
        "createTime": lambda row: row.task.create_time,
        "tenantId": lambda _row: None,
    },
    default_sort="id",
    variable_operators=_VARIABLE_OPERATORS,
)

# GET /task: the filters on what a user task here has (no owner, due or follow-up date); candidate,
# delegation, expression, variable and case filters are refused by the REST layer.
TASKS = QuerySpec(
    filters={
        "taskId": _equals("id"),
        "taskIdIn": _member("id"),
        "processInstanceId": _equals("process_instance_id"),
        "processInstanceIdIn": _member("process_instance_id"),
        "processInstanceBusinessKey": _equals("business_key"),
        "processInstanceBusinessKeyIn": _member("business_key"),
        "processInstanceBusinessKeyLike": _like("business_key"),
        "processDefinitionId": _equals("definition_id"),
        "processDefinitionKey": _equals("definition_key"),
        "processDefinitionKeyIn": _member("definition_key"),
        "executionId": _equals("execution_id"),
        "assignee": _equals("assignee"),
        "assigneeLike": _like("assignee"),
        "assigneeIn": _member("assignee"),
        "assigneeNotIn": Filter(
            "list", lambda task, value, _context: task.assignee is not None and task.assignee not in value
        ),
        "owner": _NO_MATCH_STRING,
        "createdOn": Filter("date", lambda task, value, _context: task.created == value),
        "createdAfter": Filter("date", lambda task, value, _context: task.created > value),
        "createdBefore": Filter("date", lambda task, value, _context: task.created < value),
        # User tasks with due or follow-up dates do not deploy here (parsing refuses them).
        "withoutDueDate": _ALWAYS,
        "dueDate": _NO_MATCH_DATE,
        "dueAfter": _NO_MATCH_DATE,
        "dueBefore": _NO_MATCH_DATE,
        "followUpDate": _NO_MATCH_DATE,
        "followUpAfter": _NO_MATCH_DATE,
        "followUpBefore": _NO_MATCH_DATE,
        "followUpBeforeOrNotExistent": Filter("date", lambda _task, _value, _context: True),
        "assigned": Filter("boolean", lambda task, value, _context: (task.assignee is not None) == value),
        "unassigned": Filter("boolean", lambda task, value, _context: (task.assignee is None) == value),
        "taskDefinitionKey": _equals("activity_id"),
        "taskDefinitionKeyIn": _member("activity_id"),
        "taskDefinitionKeyLike": _like("activity_id"),
        "taskDefinitionKeyNotIn": _not_member("activity_id"),
        "name": _equals("name"),
        "nameLike": _like("name"),
        # SQL's comparisons with NULL are never true, so a task without a name passes neither.
        "nameNotEqual": Filter("string", lambda task, value, _context: task.name is not None and task.name != value),
        "nameNotLike": Filter(
            "string", lambda task, value, _context: task.name is not None and not like(value, task.name)
        ),
        "description": _equals("description"),
        "descriptionLike": _like("description"),
        "priority": Filter("integer", lambda task, value, _context: task.priority == value),
        "maxPriority": Filter("integer", lambda task, value, _context: task.priority <= value),
        "minPriority": Filter("integer", lambda task, value, _context: task.priority >= value),
        "tenantIdIn": _NO_MATCH_LIST,
        "withoutTenantId": _ALWAYS,
        "active": _ALWAYS,
        "suspended": _NEVER,
    },
    sort_keys={
        "id": lambda task: task.id,
        "name": lambda task: task.name,
        "nameCaseInsensitive": lambda task: (task.name or "").lower(),
        "description": lambda task: task.description,
        "priority": lambda task: task.priority,
        "created": lambda task: task.created,
        "assignee": lambda task: task.assignee,
        "executionId": lambda task: task.execution_id,
        "instanceId": lambda task: task.process_instance_id,
        "tenantId": lambda _task: None,
    },
    default_sort="id",
)

INCIDENTS = QuerySpec(
    filters={
        "incidentId": _equals("id"),
        "incidentType": _equals("incident_type"),
        "incidentMessage": _equals("incident_message"),
        "incidentMessageLike": _like("incident_message"),
        "processDefinitionId": _equals("process_definition_id"),
        "processDefinitionKeyIn": _member("process_definition_key"),
        "processInstanceId": _equals("process_instance_id"),
        "executionId": _equals("execution_id"),
        "incidentTimestampBefore": Filter("date", lambda incident, value, _ctx: incident.incident_timestamp < value),
        "incidentTimestampAfter": Filter("date", lambda incident, value, _ctx: incident.incident_timestamp > value),
        "activityId": _equals("activity_id"),
        "failedActivityId": _equals("activity_id"),
        "causeIncidentId": _equals("id"),
        "rootCauseIncidentId": _equals("id"),
        "configuration": _equals("configuration"),
        "tenantIdIn": _NO_MATCH_LIST,
        "jobDefinitionIdIn": _NO_MATCH_LIST,
    },
    sort_keys={
        "incidentId": lambda incident: incident.id,
        "incidentMessage": lambda incident: incident.incident_message,
        "incidentTimestamp": lambda incident: incident.incident_timestamp,
        "incidentType": lambda incident: incident.incident_type,
        "executionId": lambda incident: incident.execution_id,
        "activityId": lambda incident: incident.activity_id,
        "processInstanceId": lambda incident: incident.process_instance_id,
        "processDefinitionId": lambda incident: incident.process_definition_id,
        "causeIncidentId": lambda incident: incident.id,
        "rootCauseIncidentId": lambda incident: incident.id,
        "configuration": lambda incident: incident.configuration,
        "tenantId": lambda _incident: None,
    },
    default_sort="incidentId",
)

# The DTO applies these in this order; a second one fails, as HistoricProcessInstanceQueryImpl does.
_HISTORIC_STATES = {
    "active": "ACTIVE",
    "suspended": "SUSPENDED",
    "completed": "COMPLETED",
    "externallyTerminated": "EXTERNALLY_TERMINATED",
    "internallyTerminated": "INTERNALLY_TERMINATED",
}


def _one_historic_state(params: Mapping[str, Any]) -> None:
    chosen = [state for name, state in _HISTORIC_STATES.items() if params.get(name)]
    if len(chosen) > 1:
        raise BadUserRequestException(
            f"Already querying for historic process instance with another state: {chosen[0]} is not null"
        )


def _state(state: str) -> Filter:
    return Filter("boolean", lambda history, _value, _context: history.state == state)


HISTORIC_PROCESS_INSTANCES = QuerySpec(
    filters={
        "processInstanceId": _equals("id"),
        "processInstanceIds": _member("id"),
        "processInstanceIdNotIn": _not_member("id"),
        "processDefinitionId": _equals("definition_id"),
        "processDefinitionKey": _equals("definition_key"),
        "processDefinitionKeyIn": _member("definition_key"),
        "processDefinitionKeyNotIn": _not_member("definition_key"),
        "processDefinitionName": _equals("definition_name"),
        "processDefinitionNameLike": _like("definition_name"),
        "processInstanceBusinessKey": _equals("business_key"),
        "processInstanceBusinessKeyIn": _member("business_key"),
        "processInstanceBusinessKeyLike": _like("business_key"),
        "rootProcessInstances": _ALWAYS,
        "rootProcessInstanceId": _equals("id"),
        "finished": Filter("boolean", lambda history, _value, _context: history.end_time is not None),
        "unfinished": Filter("boolean", lambda history, _value, _context: history.end_time is None),
        # Historic incidents outlive their resolution, so an instance that ever had one matches.
        "withIncidents": Filter("boolean", lambda history, _value, _context: history.had_incident),
        "withRootIncidents": Filter("boolean", lambda history, _value, _context: history.had_incident),
        "startedBefore": _at_or_before("start_time"),
        "startedAfter": _at_or_after("start_time"),
        "finishedBefore": _at_or_before("end_time"),
        "finishedAfter": _at_or_after("end_time"),
        "superProcessInstanceId": _NO_MATCH_STRING,
        "subProcessInstanceId": _NO_MATCH_STRING,
        "superCaseInstanceId": _NO_MATCH_STRING,
        "subCaseInstanceId": _NO_MATCH_STRING,
        "caseInstanceId": _NO_MATCH_STRING,
        "tenantIdIn": _NO_MATCH_LIST,
        "withoutTenantId": _ALWAYS,
        **{name: _state(state) for name, state in _HISTORIC_STATES.items()},
    },
    sort_keys={
        "instanceId": lambda history: history.id,
        "definitionId": lambda history: history.definition_id,
        "definitionKey": lambda history: history.definition_key,
        "definitionName": lambda history: history.definition_name,
        "definitionVersion": lambda history: history.definition_version,
        "businessKey": lambda history: history.business_key,
        "startTime": lambda history: history.start_time,
        "endTime": lambda history: history.end_time,
        "duration": lambda history: None if history.end_time is None else history.end_time - history.start_time,
        "tenantId": lambda _history: None,
    },
    default_sort="startTime",
    validate=_one_historic_state,
)

PROCESS_INSTANCES = QuerySpec(
    filters={
        "processInstanceIds": _member("instance.id"),
        "businessKey": _equals("instance.business_key"),
        "businessKeyLike": _like("instance.business_key"),
        "caseInstanceId": _NO_MATCH_STRING,
        "processDefinitionId": _equals("instance.definition_id"),
        "processDefinitionKey": _equals("instance.definition_key"),
        "processDefinitionKeyIn": _member("instance.definition_key"),
        "processDefinitionKeyNotIn": _not_member("instance.definition_key"),
        "deploymentId": _equals("deployment_id"),
        "superProcessInstance": _NO_MATCH_STRING,
        "subProcessInstance": _NO_MATCH_STRING,
        "superCaseInstance": _NO_MATCH_STRING,
        "subCaseInstance": _NO_MATCH_STRING,
        "active": _ALWAYS,
        "suspended": _NEVER,
        "withIncident": Filter("boolean", lambda row, _value, _context: bool(row.incidents)),
        "incidentId": Filter("string", lambda row, value, _context: any(i.id == value for i in row.incidents)),
        "incidentType": Filter(
            "string", lambda row, value, _context: any(i.incident_type == value for i in row.incidents)
        ),
        "incidentMessage": Filter(
            "string", lambda row, value, _context: any(i.incident_message == value for i in row.incidents)
        ),
        "incidentMessageLike": Filter(
            "string", lambda row, value, _context: any(like(value, i.incident_message) for i in row.incidents)
        ),
        "tenantIdIn": _NO_MATCH_LIST,
        "withoutTenantId": _ALWAYS,
        "processDefinitionWithoutTenantId": _ALWAYS,
        "rootProcessInstances": _ALWAYS,
        "rootProcessInstanceId": _equals("instance.id"),
        "leafProcessInstances": _ALWAYS,
        "variables": _variables("variables"),
        "variableNamesIgnoreCase": _ALWAYS,
        "variableValuesIgnoreCase": _ALWAYS,
    },
    sort_keys={
        "instanceId": lambda row: row.instance.id,
        "definitionKey": lambda row: row.instance.definition_key,
        "definitionId": lambda row: row.instance.definition_id,
        "tenantId": lambda _row: None,
        "businessKey": lambda row: row.instance.business_key,
    },
    default_sort=None,
)


def _tenant_in_deployments(_deployment: Deployment, _value: Any, context: QueryContext) -> bool:
    # No deployment has a tenant; includeDeploymentsWithoutTenantId adds them to a tenant filter.
    return bool(context.params.get("includeDeploymentsWithoutTenantId"))


DEPLOYMENTS = QuerySpec(
    filters={
        "id": _equals("id"),
        "name": _equals("name"),
        "nameLike": _like("name"),
        "source": _equals("source"),
        "withoutSource": Filter("boolean", lambda deployment, _value, _context: deployment.source is None),
        "tenantIdIn": Filter("list", _tenant_in_deployments),
        "withoutTenantId": _ALWAYS,
        "includeDeploymentsWithoutTenantId": _ALWAYS,
        "after": Filter("date", lambda deployment, value, _context: deployment.deployment_time > value),
        "before": Filter("date", lambda deployment, value, _context: deployment.deployment_time < value),
    },
    sort_keys={
        "id": lambda deployment: deployment.id,
        "name": lambda deployment: deployment.name,
        "deploymentTime": lambda deployment: deployment.deployment_time,
        "tenantId": lambda _deployment: None,
    },
    default_sort=None,
)


def _complete_scope_only(params: Mapping[str, Any]) -> None:
    """The engine keeps only the activity instances that completed a scope, so it answers only for them."""
    if not params.get("completeScope"):
        raise InvalidRequestException(
            400,
            "The development engine keeps only the activity instances that completed a scope: "
            "query parameter 'completeScope' must be true",
        )


# GET /history/activity-instance, for the activity instances that completed a scope (completeScope=true,
# required): such an instance is finished and never canceled, and no user task completes a scope.
HISTORIC_ACTIVITY_INSTANCES = QuerySpec(
    filters={
        "activityInstanceId": _equals("id"),
        "processInstanceId": _equals("process_instance_id"),
        "processDefinitionId": _equals("process_definition_id"),
        "executionId": _equals("execution_id"),
        "activityId": _equals("activity_id"),
        "activityName": _equals("activity_name"),
        "activityType": _equals("activity_type"),
        "taskAssignee": _NO_MATCH_STRING,
        "finished": _ALWAYS,
        "unfinished": _NEVER,
        "canceled": _NEVER,
        "completeScope": _ALWAYS,
        "startedBefore": _at_or_before("start_time"),
        "startedAfter": _at_or_after("start_time"),
        "finishedBefore": _at_or_before("end_time"),
        "finishedAfter": _at_or_after("end_time"),
        "tenantIdIn": _NO_MATCH_LIST,
        "withoutTenantId": _ALWAYS,
    },
    sort_keys={
        "activityInstanceId": lambda activity: activity.id,
        "instanceId": lambda activity: activity.process_instance_id,
        "executionId": lambda activity: activity.execution_id,
        "activityId": lambda activity: activity.activity_id,
        "activityName": lambda activity: activity.activity_name,
        "activityType": lambda activity: activity.activity_type,
        "startTime": lambda activity: activity.start_time,
        "endTime": lambda activity: activity.end_time,
        "duration": lambda activity: activity.end_time - activity.start_time,
        "definitionId": lambda activity: activity.process_definition_id,
        "tenantId": lambda _activity: None,
    },
    default_sort=None,
    validate=_complete_scope_only,
)


# GET /history/variable-instance, over the variables of the instances' own scopes (the only ones the
# engine keeps: an instance's scope is the activity instance and execution whose id is the instance's).
# A DELETED variable is left out unless includeDeleted (rest.py); value filters and case-insensitive
# names are refused by the REST layer.
HISTORIC_VARIABLE_INSTANCES = QuerySpec(
    filters={
        "variableName": _equals("name"),
        "variableNameLike": _like("name"),
        "variableNameIn": _member("name"),
        "variableTypeIn": Filter("list", lambda variable, value, _context: variable.value["type"] in value),
        "includeDeleted": _ALWAYS,
        "processInstanceId": _equals("process_instance_id"),
        "processInstanceIdIn": _member("process_instance_id"),
        "processDefinitionId": _equals("process_definition_id"),
        "processDefinitionKey": _equals("process_definition_key"),
        "executionIdIn": _member("process_instance_id"),
        "activityInstanceIdIn": _member("process_instance_id"),
        "caseInstanceId": _NO_MATCH_STRING,
        "caseExecutionIdIn": _NO_MATCH_LIST,
        "caseActivityIdIn": _NO_MATCH_LIST,
        "taskIdIn": _NO_MATCH_LIST,
        "tenantIdIn": _NO_MATCH_LIST,
        "withoutTenantId": _ALWAYS,
    },
    sort_keys={
        "instanceId": lambda variable: variable.process_instance_id,
        "variableName": lambda variable: variable.name,
        "tenantId": lambda _variable: None,
    },
    default_sort=None,
)
