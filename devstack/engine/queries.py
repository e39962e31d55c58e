"""The list queries (external tasks, incidents): Camunda's filter parameters, sorting and paging.

Both the GET form (query string, comma-separated lists) and the POST form (JSON body, arrays) are
normalised into the same parameters, then applied to the records in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devstack.engine.clock import parse_date
from devstack.engine.errors import InvalidRequestException
from devstack.engine.records import ExternalTask

Predicate = Callable[[Any, Any, int], bool]


@dataclass(frozen=True)
class Filter:
    kind: str  # "string", "list", "boolean", "integer" or "date"
    test: Predicate


@dataclass(frozen=True)
class QuerySpec:
    filters: Mapping[str, Filter]
    sort_keys: Mapping[str, Callable[[Any], Any]]
    default_sort: str


@dataclass(frozen=True)
class Query:
    params: dict[str, Any]
    sorting: list[tuple[str, str]]
    first_result: int | None = None
    max_results: int | None = None

    def run[R](self, spec: QuerySpec, records: Sequence[R], now: int) -> list[R]:
        matching = [
            record
            for record in records
            if all(spec.filters[name].test(record, value, now) for name, value in self.params.items())
        ]
        # Sorting by the least significant criterion first; Python's sort is stable.
        for sort_by, sort_order in reversed(self.sorting or [(spec.default_sort, "asc")]):
            matching.sort(key=_sort_key(spec.sort_keys[sort_by]), reverse=sort_order == "desc")
        start = self.first_result or 0
        end = None if self.max_results is None else start + self.max_results
        return matching[start:end]


def from_query_string(spec: QuerySpec, query: Mapping[str, list[str]]) -> Query:
    params: dict[str, Any] = {}
    for name, values in query.items():
        if name in spec.filters:
            converted = _convert(name, spec.filters[name].kind, values[-1])
            if converted is not None:
                params[name] = converted
    sort_by, sort_order = _last(query, "sortBy"), _last(query, "sortOrder")
    if (sort_by is None) != (sort_order is None):
        raise _single_sorting_parameter()
    sorting = [] if sort_by is None or sort_order is None else [_sorting(spec, sort_by, sort_order)]
    return Query(params, sorting, *_paging(query))


def from_body(spec: QuerySpec, body: Mapping[str, Any], query: Mapping[str, list[str]]) -> Query:
    params: dict[str, Any] = {}
    for name, value in body.items():
        if name in spec.filters and value is not None:
            kind = spec.filters[name].kind
            converted = value if kind == "list" and isinstance(value, list) else _convert(name, kind, value)
            if converted is not None:
                params[name] = converted
    sorting = []
    for entry in body.get("sorting") or []:
        sort_by, sort_order = entry.get("sortBy"), entry.get("sortOrder")
        if sort_by is None or sort_order is None:
            raise _single_sorting_parameter()
        sorting.append(_sorting(spec, sort_by, sort_order))
    return Query(params, sorting, *_paging(query))


def _single_sorting_parameter() -> InvalidRequestException:
    return InvalidRequestException(400, "Only a single sorting parameter specified. sortBy and sortOrder required")


def _convert(name: str, kind: str, raw: Any) -> Any:
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
    except ValueError:
        raise InvalidRequestException(400, f"Cannot set query parameter '{name}' to value '{text}'") from None
    return text


def _sorting(spec: QuerySpec, sort_by: str, sort_order: str) -> tuple[str, str]:
    if sort_by not in spec.sort_keys:
        raise InvalidRequestException(400, f"Cannot set query parameter 'sortBy' to value '{sort_by}'")
    if sort_order not in ("asc", "desc"):
        raise InvalidRequestException(400, f"Cannot set query parameter 'sortOrder' to value '{sort_order}'")
    return sort_by, sort_order


def _paging(query: Mapping[str, list[str]]) -> tuple[int | None, int | None]:
    first, most = _last(query, "firstResult"), _last(query, "maxResults")
    return (
        _convert("firstResult", "integer", first) if first is not None else None,
        _convert("maxResults", "integer", most) if most is not None else None,
    )


def _last(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _sort_key(attribute: Callable[[Any], Any]) -> Callable[[Any], tuple[bool, Any]]:
    def key(record: Any) -> tuple[bool, Any]:
        # Nulls sort first, and are never compared with values.
        value = attribute(record)
        return (value is not None, value if value is not None else 0)

    return key


def _equals(attribute: str) -> Filter:
    return Filter("string", lambda record, value, _now: getattr(record, attribute) == value)


def _member(attribute: str) -> Filter:
    return Filter("list", lambda record, value, _now: getattr(record, attribute) in value)


def _like(pattern: str, text: str | None) -> bool:
    if text is None:
        return False
    parts = pattern.split("%")
    if len(parts) == 1:
        return text == pattern
    if not text.startswith(parts[0]) or not text.endswith(parts[-1]):
        return False
    position = len(parts[0])
    for part in parts[1:-1]:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return position <= len(text) - len(parts[-1])


def _locked(task: ExternalTask, now: int) -> bool:
    return task.lock_expiration_time is not None and task.lock_expiration_time > now


_NO_MATCH = Filter("list", lambda _record, _value, _now: False)  # tenant and job filters: none here
_ALWAYS = Filter("boolean", lambda _record, _value, _now: True)
_NEVER = Filter("boolean", lambda _record, _value, _now: False)

EXTERNAL_TASKS = QuerySpec(
    filters={
        "externalTaskId": _equals("id"),
        "externalTaskIdIn": _member("id"),
        "topicName": _equals("topic_name"),
        "workerId": _equals("worker_id"),
        "locked": Filter("boolean", lambda task, _value, now: _locked(task, now)),
        "notLocked": Filter("boolean", lambda task, _value, now: not _locked(task, now)),
        "withRetriesLeft": Filter("boolean", lambda task, _value, _now: task.has_retries_left),
        "noRetriesLeft": Filter("boolean", lambda task, _value, _now: task.retries is not None and task.retries <= 0),
        "lockExpirationAfter": Filter("date", lambda task, value, _now: (task.lock_expiration_time or 0) > value),
        "lockExpirationBefore": Filter(
            "date",
            lambda task, value, _now: task.lock_expiration_time is not None and task.lock_expiration_time < value,
        ),
        "activityId": _equals("activity_id"),
        "activityIdIn": _member("activity_id"),
        "executionId": _equals("execution_id"),
        "processInstanceId": _equals("process_instance_id"),
        "processInstanceIdIn": _member("process_instance_id"),
        "processDefinitionId": _equals("definition_id"),
        "processDefinitionKey": _equals("definition_key"),
        "processDefinitionKeyIn": _member("definition_key"),
        "tenantIdIn": _NO_MATCH,
        "active": _ALWAYS,
        "suspended": _NEVER,
        "priorityHigherThanOrEquals": Filter("integer", lambda task, value, _now: task.priority >= value),
        "priorityLowerThanOrEquals": Filter("integer", lambda task, value, _now: task.priority <= value),
    },
    sort_keys={
        "id": lambda task: task.id,
        "lockExpirationTime": lambda task: task.lock_expiration_time,
        "processInstanceId": lambda task: task.process_instance_id,
        "processDefinitionId": lambda task: task.definition_id,
        "processDefinitionKey": lambda task: task.definition_key,
        "taskPriority": lambda task: task.priority,
        "createTime": lambda task: task.create_time,
        "tenantId": lambda _task: None,
    },
    default_sort="id",
)

INCIDENTS = QuerySpec(
    filters={
        "incidentId": _equals("id"),
        "incidentType": _equals("incident_type"),
        "incidentMessage": _equals("incident_message"),
        "incidentMessageLike": Filter("string", lambda incident, value, _now: _like(value, incident.incident_message)),
        "processDefinitionId": _equals("process_definition_id"),
        "processDefinitionKeyIn": _member("process_definition_key"),
        "processInstanceId": _equals("process_instance_id"),
        "executionId": _equals("execution_id"),
        "incidentTimestampBefore": Filter("date", lambda incident, value, _now: incident.incident_timestamp < value),
        "incidentTimestampAfter": Filter("date", lambda incident, value, _now: incident.incident_timestamp > value),
        "activityId": _equals("activity_id"),
        "failedActivityId": _equals("activity_id"),
        "causeIncidentId": _equals("id"),
        "rootCauseIncidentId": _equals("id"),
        "configuration": _equals("configuration"),
        "tenantIdIn": _NO_MATCH,
        "jobDefinitionIdIn": _NO_MATCH,
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

#: ``GET /history/process-instance``: the filters Waitroom uses to find a process by its business key.
HISTORIC_PROCESS_INSTANCES = QuerySpec(
    filters={
        "processInstanceId": _equals("id"),
        "processInstanceBusinessKey": _equals("business_key"),
        "processInstanceBusinessKeyLike": Filter(
            "string", lambda history, value, _now: _like(value, history.business_key)
        ),
        "processDefinitionKey": _equals("definition_key"),
        "processDefinitionId": _equals("definition_id"),
        "finished": Filter("boolean", lambda history, value, _now: (history.end_time is not None) == value),
        "unfinished": Filter("boolean", lambda history, value, _now: (history.end_time is None) == value),
        "tenantIdIn": _NO_MATCH,
    },
    sort_keys={
        "instanceId": lambda history: history.id,
        "businessKey": lambda history: history.business_key,
        "definitionKey": lambda history: history.definition_key,
        "startTime": lambda history: history.start_time,
        "endTime": lambda history: history.end_time,
    },
    default_sort="startTime",
)
