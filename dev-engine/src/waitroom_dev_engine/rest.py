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

from waitroom_dev_engine import dto, openapi, queries
from waitroom_dev_engine.engine import Engine, MessageCorrelation
from waitroom_dev_engine.errors import (
    BadUserRequestException,
    HttpError,
    InvalidRequestException,
    MismatchingMessageCorrelationException,
    NotFoundException,
    ProcessEngineException,
    RestException,
    error_body,
)
from waitroom_dev_engine.fetching import FetchRequest, TopicRequest
from waitroom_dev_engine.multipart import parse_form_data
from waitroom_dev_engine.records import HistoricVariableInstance
from waitroom_dev_engine.variables import parse_variables

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
_NONE: frozenset[str] = frozenset()
# No execution listener deploys (parsing refuses them), so skipping them is what happens anyway.
# Deleting an instance never runs the output mappings of its active activities here, as with
# skipIoMappings=true (what Waitroom sends); without it, Camunda would run them, and the variables they
# set would show in the instance's variable history only. A start respects the flag only with
# startInstructions, which are refused: these flags are applied by being accepted.
_SKIP_FLAGS = frozenset({"skipCustomListeners", "skipIoMappings"})
# Local variables and local correlation keys need scopes of their own, which no wait state here has.
_MESSAGE_PROPERTIES = frozenset(
    {"messageName", "businessKey", "tenantId", "withoutTenantId", "processInstanceId", "correlationKeys",
     "processVariables", "all", "resultEnabled", "variablesInResultEnabled"}
)  # fmt: skip


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in Camunda's OpenAPI document, placeholders named for the handler's arguments
    handler: Handler
    # The documented query parameters and JSON body properties the handler applies; the REST layer
    # refuses every other documented one with a 400 that names it.
    query: frozenset[str] = _NONE
    body: frozenset[str] | None = None  # None: every documented property is applied


class RestApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        history, instances = queries.HISTORIC_PROCESS_INSTANCES, queries.PROCESS_INSTANCES
        tasks, incidents, deployments = queries.EXTERNAL_TASKS, queries.INCIDENTS, queries.DEPLOYMENTS
        activities, variables = queries.HISTORIC_ACTIVITY_INSTANCES, queries.HISTORIC_VARIABLE_INSTANCES
        paging = queries.PAGING_PARAMETERS
        routes = [
            Route("GET", "/engine", self.engines),
            Route("GET", "/version", self.version),
            Route("GET", "/deployment", self.query_deployments, deployments.parameters),
            Route("GET", "/deployment/count", self.count_deployments, frozenset(deployments.filters)),
            Route("POST", "/deployment/create", self.create_deployment),
            Route("GET", "/deployment/{deployment_id}", self.get_deployment),
            Route("GET", "/process-definition/key/{key}", self.get_definition),
            Route("DELETE", "/process-definition/key/{key}", self.delete_definitions, _SKIP_FLAGS | {"cascade"}),
            Route(
                "POST",
                "/process-definition/key/{key}/start",
                self.start_instance,
                body=_SKIP_FLAGS | {"businessKey", "variables", "withVariablesInReturn"},
            ),
            Route("GET", "/process-definition/key/{key}/xml", self.get_definition_xml_by_key),
            Route("GET", "/process-definition/{definition_id}/xml", self.get_definition_xml),
            Route("GET", "/process-instance", self.query_instances, instances.parameters),
            Route("POST", "/process-instance", self.query_instances, paging, instances.body_properties),
            Route("GET", "/process-instance/count", self.count_instances, frozenset(instances.filters)),
            Route("POST", "/process-instance/count", self.count_instances, body=instances.body_properties),
            Route("GET", "/process-instance/{instance_id}", self.get_instance),
            Route(
                "DELETE",
                "/process-instance/{instance_id}",
                self.delete_instance,
                _SKIP_FLAGS | {"failIfNotExists", "skipSubprocesses"},
            ),
            Route(
                "GET", "/process-instance/{instance_id}/variables", self.get_variables, frozenset({"deserializeValues"})
            ),
            Route("POST", "/process-instance/{instance_id}/variables", self.modify_variables),
            Route("GET", "/history/process-instance", self.query_history, history.parameters),
            Route("POST", "/history/process-instance", self.query_history, paging, history.body_properties),
            Route("GET", "/history/process-instance/count", self.count_history, frozenset(history.filters)),
            Route("POST", "/history/process-instance/count", self.count_history, body=history.body_properties),
            Route("GET", "/history/process-instance/{instance_id}", self.get_history),
            Route("GET", "/history/activity-instance", self.query_activity_history, activities.parameters),
            Route(
                "GET", "/history/activity-instance/count", self.count_activity_history, frozenset(activities.filters)
            ),
            Route(
                "GET",
                "/history/variable-instance",
                self.query_variable_history,
                variables.parameters | {"deserializeValues"},
            ),
            Route("GET", "/history/variable-instance/count", self.count_variable_history, frozenset(variables.filters)),
            Route(
                "DELETE", "/history/process-instance/{instance_id}", self.delete_history, frozenset({"failIfNotExists"})
            ),
            Route("POST", "/external-task/fetchAndLock", self.fetch_and_lock),
            Route("GET", "/external-task", self.query_external_tasks, tasks.parameters),
            Route("POST", "/external-task", self.query_external_tasks, paging, tasks.body_properties),
            Route("GET", "/external-task/count", self.count_external_tasks, frozenset(tasks.filters)),
            Route("POST", "/external-task/count", self.count_external_tasks, body=tasks.body_properties),
            Route("GET", "/external-task/{task_id}", self.get_external_task),
            Route("POST", "/external-task/{task_id}/complete", self.complete),
            Route("POST", "/external-task/{task_id}/failure", self.handle_failure),
            Route("POST", "/external-task/{task_id}/bpmnError", self.handle_bpmn_error),
            Route("POST", "/external-task/{task_id}/extendLock", self.extend_lock),
            Route("POST", "/external-task/{task_id}/unlock", self.unlock),
            Route(
                "POST",
                "/message",
                self.correlate_message,
                body=_MESSAGE_PROPERTIES,
            ),
            Route("GET", "/task", self.query_tasks, queries.TASKS.parameters),
            Route("GET", "/task/count", self.count_tasks, frozenset(queries.TASKS.filters)),
            Route("GET", "/task/{task_id}", self.get_task),
            Route("POST", "/task/{task_id}/complete", self.complete_task),
            Route("GET", "/incident", self.query_incidents, incidents.parameters),
            Route("GET", "/incident/count", self.count_incidents, frozenset(incidents.filters)),
        ]
        self.routes = routes
        self._routes = [
            (
                route,
                re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$"),
                openapi.query_parameters(route.method, route.path) - route.query,
                frozenset() if route.body is None else openapi.body_properties(route.method, route.path) - route.body,
            )
            for route in routes
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
        for route, pattern, refused_query, refused_body in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route.method == request.method:
                _refuse(refused_query, refused_body, request)
                return route.handler(request, **match.groupdict())
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

    def query_deployments(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.DEPLOYMENTS, request.query)
        found = query.run(queries.DEPLOYMENTS, self._engine.deployments(), self._engine.clock.now_ms())
        return HttpResponse(200, [dto.deployment_summary(deployment) for deployment in found])

    def count_deployments(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.DEPLOYMENTS, request.query, counting=True)
        return _count(query.matching(queries.DEPLOYMENTS, self._engine.deployments(), self._engine.clock.now_ms()))

    def get_deployment(self, _request: HttpRequest, deployment_id: str) -> HttpResponse:
        deployment = self._engine.deployment(deployment_id)
        if deployment is None:
            raise InvalidRequestException(404, f"Deployment with id '{deployment_id}' does not exist")
        return HttpResponse(200, dto.deployment_summary(deployment))

    def get_definition_xml(self, _request: HttpRequest, definition_id: str) -> HttpResponse:
        try:
            xml = self._engine.definition_xml(definition_id)
        except NotFoundException as error:
            raise InvalidRequestException(404, error.message, error) from error
        return HttpResponse(200, {"id": definition_id, "bpmn20Xml": xml.decode("utf-8")})

    def get_definition_xml_by_key(self, request: HttpRequest, key: str) -> HttpResponse:
        definition = self._engine.latest_definition(key)
        if definition is None:
            raise RestException(404, f"No matching process definition with key: {key} and no tenant-id")
        return self.get_definition_xml(request, definition.id)

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
        try:
            result = self._engine.start(definition.id, _string(body, "businessKey"), variables)
        except ProcessEngineException as error:
            raise RestException(500, f"{prefix}: {error.message}", error) from error
        with_variables = _boolean(body, "withVariablesInReturn")
        return HttpResponse(200, dto.started_instance(result, with_variables, request.base_url))

    def query_instances(self, request: HttpRequest) -> HttpResponse:
        spec = queries.PROCESS_INSTANCES
        found = _query(spec, request).run(spec, self._engine.instance_rows(), self._engine.clock.now_ms())
        return HttpResponse(200, [dto.listed_process_instance(row.instance) for row in found])

    def count_instances(self, request: HttpRequest) -> HttpResponse:
        spec = queries.PROCESS_INSTANCES
        return _count(
            _query(spec, request, counting=True).matching(
                spec, self._engine.instance_rows(), self._engine.clock.now_ms()
            )
        )

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
        spec = queries.HISTORIC_PROCESS_INSTANCES
        found = _query(spec, request).run(spec, self._engine.historic_instances(), self._engine.clock.now_ms())
        return HttpResponse(200, [dto.historic_process_instance(history) for history in found])

    def count_history(self, request: HttpRequest) -> HttpResponse:
        spec = queries.HISTORIC_PROCESS_INSTANCES
        return _count(
            _query(spec, request, counting=True).matching(
                spec, self._engine.historic_instances(), self._engine.clock.now_ms()
            )
        )

    def get_history(self, _request: HttpRequest, instance_id: str) -> HttpResponse:
        history = self._engine.historic_instance(instance_id)
        if history is None:
            raise InvalidRequestException(404, f"Historic process instance with id {instance_id} does not exist")
        return HttpResponse(200, dto.historic_process_instance(history))

    def query_activity_history(self, request: HttpRequest) -> HttpResponse:
        spec = queries.HISTORIC_ACTIVITY_INSTANCES
        found = _query(spec, request).run(spec, self._engine.historic_activity_instances(), self._engine.clock.now_ms())
        return HttpResponse(200, [dto.historic_activity_instance(activity) for activity in found])

    def count_activity_history(self, request: HttpRequest) -> HttpResponse:
        spec = queries.HISTORIC_ACTIVITY_INSTANCES
        query = _query(spec, request, counting=True)
        return _count(query.matching(spec, self._engine.historic_activity_instances(), self._engine.clock.now_ms()))

    def query_variable_history(self, request: HttpRequest) -> HttpResponse:
        spec = queries.HISTORIC_VARIABLE_INSTANCES
        query = _query(spec, request)
        found = query.run(spec, self._historic_variables(query), self._engine.clock.now_ms())
        deserialize = _flag(request, "deserializeValues", True)
        return HttpResponse(200, [dto.historic_variable_instance(variable, deserialize) for variable in found])

    def count_variable_history(self, request: HttpRequest) -> HttpResponse:
        spec = queries.HISTORIC_VARIABLE_INSTANCES
        query = _query(spec, request, counting=True)
        return _count(query.matching(spec, self._historic_variables(query), self._engine.clock.now_ms()))

    def _historic_variables(self, query: queries.Query) -> list[HistoricVariableInstance]:
        """Camunda leaves a deleted variable's history out unless ``includeDeleted``."""
        found = self._engine.historic_variable_instances()
        if query.params.get("includeDeleted"):
            return found
        return [variable for variable in found if variable.state != "DELETED"]

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
        spec = queries.EXTERNAL_TASKS
        rows = _query(spec, request).run(spec, self._engine.external_task_rows(), self._engine.clock.now_ms())
        return HttpResponse(200, [dto.external_task(row.task) for row in rows])

    def count_external_tasks(self, request: HttpRequest) -> HttpResponse:
        spec = queries.EXTERNAL_TASKS
        return _count(
            _query(spec, request, counting=True).matching(
                spec, self._engine.external_task_rows(), self._engine.clock.now_ms()
            )
        )

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

    # Messages -------------------------------------------------------------------------------------

    def correlate_message(self, request: HttpRequest) -> HttpResponse:
        body = _json_object(request)
        name = _string(body, "messageName")
        if name is None:
            raise InvalidRequestException(400, "No message name supplied")
        tenant_id = _string(body, "tenantId")
        if tenant_id is not None and _boolean(body, "withoutTenantId"):
            raise InvalidRequestException(
                400, "Parameter 'tenantId' cannot be used together with parameter 'withoutTenantId'."
            )
        try:
            message = MessageCorrelation(
                name=name,
                business_key=_string(body, "businessKey"),
                process_instance_id=_string(body, "processInstanceId"),
                tenant_id=tenant_id,
                correlation_keys=parse_variables(body.get("correlationKeys")),
                variables=parse_variables(body.get("processVariables")) or {},
                all=_boolean(body, "all"),
            )
        except RestException as error:
            raise InvalidRequestException(error.status, f"Cannot deliver message: {error.message}", error) from error
        try:
            results = self._engine.correlate(message)
        except MismatchingMessageCorrelationException as error:
            # Camunda wraps it in a RestException, whose message is the cause's toString().
            raise RestException(400, f"{error.qualified_name}: {error.message}", error) from error
        if not _boolean(body, "resultEnabled"):
            return HttpResponse(204)
        with_variables = _boolean(body, "variablesInResultEnabled")
        return HttpResponse(200, [dto.correlation_result(result, with_variables) for result in results])

    # User tasks -----------------------------------------------------------------------------------

    def query_tasks(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.TASKS, request.query)
        found = query.run(queries.TASKS, self._engine.user_tasks(), self._engine.clock.now_ms())
        return HttpResponse(200, [dto.task(task) for task in found])

    def count_tasks(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.TASKS, request.query, counting=True)
        return _count(query.matching(queries.TASKS, self._engine.user_tasks(), self._engine.clock.now_ms()))

    def get_task(self, _request: HttpRequest, task_id: str) -> HttpResponse:
        task = self._engine.user_task(task_id)
        if task is None:
            raise InvalidRequestException(404, f"No matching task with id {task_id}")
        return HttpResponse(200, dto.task(task))

    def complete_task(self, request: HttpRequest, task_id: str) -> HttpResponse:
        """Camunda's TaskResourceImpl.complete: bad variables 400, any engine failure 500."""
        body = _json_object(request)
        prefix = f"Cannot complete task {task_id}"
        try:
            variables = parse_variables(body.get("variables"))
        except RestException as error:
            raise InvalidRequestException(error.status, f"{prefix}: {error.message}", error) from error
        try:
            values = self._engine.complete_user_task(task_id, variables)
        except ProcessEngineException as error:
            raise RestException(500, f"{prefix}: {error.message}", error) from error
        if not _boolean(body, "withVariablesInReturn"):
            return HttpResponse(204)
        return HttpResponse(200, dto.variables_dto(values))

    # Incidents ------------------------------------------------------------------------------------

    def query_incidents(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.INCIDENTS, request.query)
        incidents = query.run(queries.INCIDENTS, self._engine.incidents(), self._engine.clock.now_ms())
        return HttpResponse(200, [dto.incident(incident) for incident in incidents])

    def count_incidents(self, request: HttpRequest) -> HttpResponse:
        query = queries.from_query_string(queries.INCIDENTS, request.query, counting=True)
        return _count(query.matching(queries.INCIDENTS, self._engine.incidents(), self._engine.clock.now_ms()))


def _query(spec: queries.QuerySpec, request: HttpRequest, *, counting: bool = False) -> queries.Query:
    """The GET form reads the query string, the POST form the JSON body (paging stays in the query)."""
    if request.method == "POST":
        return queries.from_body(spec, _json_object(request), request.query, counting=counting)
    return queries.from_query_string(spec, request.query, counting=counting)


def _count(found: list[Any]) -> HttpResponse:
    return HttpResponse(200, {"count": len(found)})


def _refuse(refused_query: frozenset[str], refused_body: frozenset[str], request: HttpRequest) -> None:
    """Refuse what Camunda documents for the route but this engine does not apply: never ignore it."""
    for name in sorted(refused_query & set(request.query)):
        raise InvalidRequestException(400, f"Query parameter '{name}' is not supported by the development engine")
    if refused_body and request.body.strip():
        body = _json_object(request)
        for name in sorted(refused_body):
            if body.get(name) is not None:
                raise InvalidRequestException(400, f"Property '{name}' is not supported by the development engine")


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
