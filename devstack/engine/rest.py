"""The Camunda REST resources: routing, request decoding, and Camunda's per-endpoint error mapping.

Each handler mirrors the corresponding Camunda ``*ResourceImpl``/``*RestServiceImpl`` method,
including which engine exceptions it rewraps into which status and message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from devstack.engine import dto, queries
from devstack.engine.clock import now_ms
from devstack.engine.engine import Engine
from devstack.engine.errors import (
    BadUserRequestException,
    HttpError,
    InvalidRequestException,
    NotFoundException,
    ProcessEngineException,
    RestException,
    error_body,
)
from devstack.engine.fetching import FetchRequest, TopicRequest
from devstack.engine.multipart import parse_form_data
from devstack.engine.variables import parse_variables

REST_API_VERSION = "7.24.0"
ENGINE_NAME = "default"
# Camunda's FetchAndLockHandlerImpl.MAX_REQUEST_TIMEOUT (30 minutes).
MAX_ASYNC_RESPONSE_TIMEOUT = 1_800_000
_DEPLOYMENT_FIELDS = frozenset(
    {"deployment-name", "deployment-source", "deploy-changed-only", "enable-duplicate-filtering", "tenant-id",
     "deployment-activation-time"}
)  # fmt: skip
_NAMED_ENGINE = re.compile(r"^/engine/(?P<name>[^/]+)(?P<rest>/.*)$")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # below the /engine-rest mount point
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    base_url: str  # the mount point's absolute URL, for links


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., HttpResponse]


class RestApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/engine", self.engines),
            ("GET", "/version", self.version),
            ("POST", "/deployment/create", self.create_deployment),
            ("GET", "/process-definition/key/{key}", self.get_definition),
            ("DELETE", "/process-definition/key/{key}", self.delete_definitions),
            ("POST", "/process-definition/key/{key}/start", self.start_instance),
            ("GET", "/process-instance/{instance_id}", self.get_instance),
            ("DELETE", "/process-instance/{instance_id}", self.delete_instance),
            ("GET", "/process-instance/{instance_id}/variables", self.get_variables),
            ("POST", "/process-instance/{instance_id}/variables", self.modify_variables),
            ("GET", "/history/process-instance", self.query_history),
            ("GET", "/history/process-instance/{instance_id}", self.get_history),
            ("DELETE", "/history/process-instance/{instance_id}", self.delete_history),
            ("POST", "/external-task/fetchAndLock", self.fetch_and_lock),
            ("GET", "/external-task", self.query_external_tasks),
            ("POST", "/external-task", self.query_external_tasks),
            ("GET", "/external-task/count", self.count_external_tasks),
            ("POST", "/external-task/count", self.count_external_tasks),
            ("GET", "/external-task/{task_id}", self.get_external_task),
            ("POST", "/external-task/{task_id}/complete", self.complete),
            ("POST", "/external-task/{task_id}/failure", self.handle_failure),
            ("POST", "/external-task/{task_id}/bpmnError", self.handle_bpmn_error),
            ("POST", "/external-task/{task_id}/extendLock", self.extend_lock),
            ("POST", "/external-task/{task_id}/unlock", self.unlock),
            ("GET", "/incident", self.query_incidents),
        ]
        self._routes = [
            (method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), handler)
            for method, path, handler in routes
        ]

    def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            return self._dispatch(request)
        except (ProcessEngineException, RestException) as error:
            status, body = error_body(error)
            return HttpResponse(status, body)

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        path = request.path.rstrip("/") or "/"
        named = _NAMED_ENGINE.match(path)
        if named is not None and path != "/engine":
            if named.group("name") != ENGINE_NAME:
                raise InvalidRequestException(404, f"Process engine {named.group('name')} not available")
            path = named.group("rest")
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if method == request.method:
                return handler(request, **match.groupdict())
            allowed = True
        raise HttpError(405, "NotAllowedException") if allowed else HttpError(404, "NotFoundException")

    # Engine and version ---------------------------------------------------------------------------

    def engines(self, _request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [{"name": ENGINE_NAME}])

    def version(self, _request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {"version": REST_API_VERSION})

    # Repository -----------------------------------------------------------------------------------

    def create_deployment(self, request: HttpRequest) -> HttpResponse:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise HttpError(415, "NotSupportedException")
        try:
            parts = parse_form_data(content_type, request.body)
        except ValueError as error:
            raise InvalidRequestException(400, str(error)) from error
        fields = {part.name: part.text for part in parts if part.name in _DEPLOYMENT_FIELDS}
        resources: dict[str, bytes] = {}
        for part in parts:
            if part.name in _DEPLOYMENT_FIELDS:
                continue
            if part.filename is None:
                raise InvalidRequestException(
                    400, "No file name found in the deployment resource described by form parameter 'null'."
                )
            resources[part.filename] = part.content
        for unsupported in ("tenant-id", "deployment-activation-time"):
            if fields.get(unsupported):
                raise InvalidRequestException(400, f"'{unsupported}' is not supported by the development engine")
        if not resources:
            raise InvalidRequestException(400, "No deployment resources contained in the form upload.")
        result = self._engine.deploy(
            name=fields.get("deployment-name"),
            source=fields.get("deployment-source"),
            resources=resources,
            duplicate_filtering=_java_boolean(fields.get("enable-duplicate-filtering")),
            changed_only=_java_boolean(fields.get("deploy-changed-only")),
        )
        return HttpResponse(200, dto.deployment(result, request.base_url))

    def get_definition(self, _request: HttpRequest, key: str) -> HttpResponse:
        definition = self._engine.latest_definition(key)
        if definition is None:
            raise RestException(404, f"No matching process definition with key: {key} and no tenant-id")
        return HttpResponse(200, dto.process_definition(definition))

    def delete_definitions(self, request: HttpRequest, key: str) -> HttpResponse:
        try:
            self._engine.delete_definitions(key, cascade=_flag(request, "cascade", False))
        except NotFoundException as error:
            raise InvalidRequestException(404, error.message) from error
        return HttpResponse(204)

    # Runtime --------------------------------------------------------------------------------------

    def start_instance(self, request: HttpRequest, key: str) -> HttpResponse:
        definition = self._engine.latest_definition(key)
        if definition is None:
            raise RestException(404, f"No matching process definition with key: {key} and no tenant-id")
        body = _json_object(request)
        prefix = f"Cannot instantiate process definition {definition.id}"
        try:
            variables = parse_variables(body.get("variables"))
        except RestException as error:
            raise InvalidRequestException(error.status, f"{prefix}: {error.message}", error) from error
        if body.get("startInstructions"):
            raise InvalidRequestException(400, "startInstructions are not supported by the development engine")
        try:
            result = self._engine.start(definition.id, _string(body, "businessKey"), variables)
        except ProcessEngineException as error:
            raise RestException(500, f"{prefix}: {error.message}", error) from error
        with_variables = _boolean(body, "withVariablesInReturn")
        return HttpResponse(200, dto.started_instance(result, with_variables, request.base_url))

    def get_instance(self, request: HttpRequest, instance_id: str) -> HttpResponse:
        instance = self._engine.instance(instance_id)
        if instance is None:
            raise InvalidRequestException(404, f"Process instance with id {instance_id} does not exist")
        return HttpResponse(200, dto.process_instance(instance, request.base_url))

    def delete_instance(self, request: HttpRequest, instance_id: str) -> HttpResponse:
        try:
            self._engine.delete_instance(instance_id, fail_if_not_exists=_flag(request, "failIfNotExists", True))
        except NotFoundException as error:
            raise InvalidRequestException(404, error.message, error) from error
        return HttpResponse(204)

    def get_variables(self, request: HttpRequest, instance_id: str) -> HttpResponse:
        variables = self._engine.variables(instance_id)
        return HttpResponse(200, dto.variables_dto(variables, _flag(request, "deserializeValues", True)))

    def modify_variables(self, request: HttpRequest, instance_id: str) -> HttpResponse:
        body = _json_object(request)
        try:
            modifications = parse_variables(body.get("modifications"))
        except RestException as error:
            message = f"Cannot modify variables for process instance: {error.message}"
            raise InvalidRequestException(error.status, message, error) from error
        try:
            self._engine.modify_variables(instance_id, modifications, _string_list(body, "deletions"))
        except ProcessEngineException as error:
            message = f"Cannot modify variables for process instance {instance_id}: {error.message}"
            raise RestException(500, message, error) from error
        return HttpResponse(204)

    # History --------------------------------------------------------------------------------------

    def query_history(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.HISTORIC_PROCESS_INSTANCES, request.query)
        found = query.run(queries.HISTORIC_PROCESS_INSTANCES, self._engine.historic_instances(), now_ms())
        return HttpResponse(200, [dto.historic_process_instance(history) for history in found])

    def get_history(self, _request: HttpRequest, instance_id: str) -> HttpResponse:
        history = self._engine.historic_instance(instance_id)
        if history is None:
            raise InvalidRequestException(404, f"Historic process instance with id {instance_id} does not exist")
        return HttpResponse(200, dto.historic_process_instance(history))

    def delete_history(self, request: HttpRequest, instance_id: str) -> HttpResponse:
        fail_if_not_exists = _flag(request, "failIfNotExists", True)
        try:
            self._engine.delete_historic_instance(instance_id, fail_if_not_exists=fail_if_not_exists)
        except ProcessEngineException as error:
            # Camunda answers 404 for any failure here, including "still running".
            message = f"Historic process instance with id {instance_id} does not exist"
            raise InvalidRequestException(404, message, error) from error
        return HttpResponse(204)

    # External tasks -------------------------------------------------------------------------------

    def fetch_and_lock(self, request: HttpRequest) -> HttpResponse:
        body = _json_object(request)
        timeout = _optional_integer(body, "asyncResponseTimeout")
        if timeout is not None and timeout > MAX_ASYNC_RESPONSE_TIMEOUT:
            raise InvalidRequestException(
                400,
                "The asynchronous response timeout cannot be set to a value greater than "
                f"{MAX_ASYNC_RESPONSE_TIMEOUT} milliseconds",
            )
        fetch = FetchRequest(
            worker_id=_string(body, "workerId"),
            max_tasks=_integer(body, "maxTasks"),
            topics=tuple(_topic(topic) for topic in _list(body, "topics")),
            use_priority=_boolean(body, "usePriority"),
            create_time_order=_fetch_sorting(_list(body, "sorting")),
            async_response_timeout=timeout,
        )
        locked = self._engine.fetch_and_lock(fetch)
        return HttpResponse(200, [dto.locked_external_task(task) for task in locked])

    def get_external_task(self, _request: HttpRequest, task_id: str) -> HttpResponse:
        task = self._engine.external_task(task_id)
        if task is None:
            raise RestException(404, f"External task with id {task_id} does not exist")
        return HttpResponse(200, dto.external_task(task))

    def query_external_tasks(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [dto.external_task(task) for task in self._external_task_query(request)])

    def count_external_tasks(self, request: HttpRequest) -> HttpResponse:
        """``/external-task/count``: the same filters as the list, the number of matches (how a
        dispatcher reads the backlog)."""
        return HttpResponse(200, {"count": len(self._external_task_query(request))})

    def _external_task_query(self, request: HttpRequest) -> list[Any]:
        query = (
            queries.from_body(queries.EXTERNAL_TASKS, _json_object(request), request.query)
            if request.method == "POST"
            else queries.from_query_string(queries.EXTERNAL_TASKS, request.query)
        )
        return query.run(queries.EXTERNAL_TASKS, self._engine.external_tasks(), now_ms())

    def complete(self, request: HttpRequest, task_id: str) -> HttpResponse:
        body = _json_object(request)
        variables = parse_variables(body.get("variables"))
        local_variables = parse_variables(body.get("localVariables"))
        with _task_errors(task_id):
            self._engine.complete(task_id, _string(body, "workerId"), variables, local_variables)
        return HttpResponse(204)

    def handle_failure(self, request: HttpRequest, task_id: str) -> HttpResponse:
        body = _json_object(request)
        variables = parse_variables(body.get("variables"))
        local_variables = parse_variables(body.get("localVariables"))
        with _task_errors(task_id):
            self._engine.handle_failure(
                task_id,
                _string(body, "workerId"),
                error_message=_string(body, "errorMessage"),
                error_details=_string(body, "errorDetails"),
                retries=_integer(body, "retries"),
                retry_timeout=_integer(body, "retryTimeout"),
                variables=variables,
                local_variables=local_variables,
            )
        return HttpResponse(204)

    def handle_bpmn_error(self, request: HttpRequest, task_id: str) -> HttpResponse:
        body = _json_object(request)
        variables = parse_variables(body.get("variables"))
        with _task_errors(task_id):
            self._engine.handle_bpmn_error(
                task_id, _string(body, "workerId"), _string(body, "errorCode"), _string(body, "errorMessage"), variables
            )
        return HttpResponse(204)

    def extend_lock(self, request: HttpRequest, task_id: str) -> HttpResponse:
        body = _json_object(request)
        with _task_errors(task_id):
            self._engine.extend_lock(task_id, _string(body, "workerId"), _integer(body, "newDuration"))
        return HttpResponse(204)

    def unlock(self, _request: HttpRequest, task_id: str) -> HttpResponse:
        with _task_errors(task_id):
            self._engine.unlock(task_id)
        return HttpResponse(204)

    # Incidents ------------------------------------------------------------------------------------

    def query_incidents(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.INCIDENTS, request.query)
        incidents = query.run(queries.INCIDENTS, self._engine.incidents(), now_ms())
        return HttpResponse(200, [dto.incident(incident) for incident in incidents])


@contextmanager
def _task_errors(task_id: str) -> Iterator[None]:
    """Camunda's ExternalTaskResourceImpl mapping: not found is 404, a bad request 400."""
    try:
        yield
    except NotFoundException as error:
        raise RestException(404, f"External task with id {task_id} does not exist", error) from error
    except BadUserRequestException as error:
        raise RestException(400, error.message, error) from error


def _topic(raw: Any) -> TopicRequest:
    topic = raw if isinstance(raw, dict) else {}
    return TopicRequest(
        topic_name=_string(topic, "topicName"),
        lock_duration=_integer(topic, "lockDuration"),
        variables=_string_list(topic, "variables"),
        local_variables=_boolean(topic, "localVariables"),
        business_key=_string(topic, "businessKey"),
        process_definition_id=_string(topic, "processDefinitionId"),
        process_definition_id_in=_string_list(topic, "processDefinitionIdIn"),
        process_definition_key=_string(topic, "processDefinitionKey"),
        process_definition_key_in=_string_list(topic, "processDefinitionKeyIn"),
        process_definition_version_tag=_string(topic, "processDefinitionVersionTag"),
        tenant_id_in=_string_list(topic, "tenantIdIn"),
        process_variables=topic.get("processVariables") if isinstance(topic.get("processVariables"), dict) else None,
        deserialize_values=_boolean(topic, "deserializeValues"),
        include_extension_properties=_boolean(topic, "includeExtensionProperties"),
    )


def _fetch_sorting(entries: list[Any]) -> str | None:
    order = None
    for entry in entries:
        sort_by = entry.get("sortBy") if isinstance(entry, dict) else None
        sort_order = entry.get("sortOrder") if isinstance(entry, dict) else None
        if sort_by != "createTime":
            raise InvalidRequestException(400, f"Cannot set query sortBy parameter to value {sort_by}")
        if sort_order is not None and sort_order not in ("asc", "desc"):
            raise InvalidRequestException(400, f"Cannot set query sortOrder parameter to value {sort_order}")
        order = sort_order or "asc"
    return order


# Request decoding: lenient in the ways Jackson is (numbers and booleans given as strings). ---------


def _json_object(request: HttpRequest) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as error:
        raise InvalidRequestException(400, f"The request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise InvalidRequestException(400, "The request body must be a JSON object.")
    return body


def _mapping_error(name: str, value: Any) -> InvalidRequestException:
    return InvalidRequestException(400, f"Cannot deserialize property '{name}' from value {json.dumps(value)}")


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _mapping_error(name, value)


def _optional_integer(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _mapping_error(name, value)


def _integer(body: Mapping[str, Any], name: str) -> int:
    # Camunda's DTOs declare these as Java primitives, so a missing value is 0.
    value = _optional_integer(body, name)
    return 0 if value is None else value


def _boolean(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    raise _mapping_error(name, value)


def _list(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise _mapping_error(name, value)


def _string_list(body: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise _mapping_error(name, value)


def _flag(request: HttpRequest, name: str, default: bool) -> bool:
    values = request.query.get(name)
    return default if not values else _java_boolean(values[-1])


def _java_boolean(text: str | None) -> bool:
    """Java's Boolean.parseBoolean: true only for "true", ignoring case."""
    return text is not None and text.lower() == "true"
