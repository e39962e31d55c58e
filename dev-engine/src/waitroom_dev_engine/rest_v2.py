"""The Camunda 8 subset: Camunda's Orchestration Cluster API (REST v2, 8.8) below ``/v2``.

It runs on the same engine as the Camunda 7 API: a process deployed through either runs in the same
execution. A Camunda 8 job is the engine's external task for a ``zeebe:taskDefinition`` task; keys
are the int64 strings Camunda 8 uses, derived from the engine's ids (``key_of``). Errors are RFC 9457
problem details as Camunda's gateway writes them: a rejected command has the rejection type as its
title and ``Command '<intent>' rejected with code '<type>': <reason>`` as its detail.

``reference/camunda8-orchestration-cluster-api.openapi.json`` is the part of Camunda's document
covering these routes. Every body property a route does not apply is refused with a 400 naming it,
as the Camunda 7 side refuses what it does not apply.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from waitroom_dev_engine.engine import UNHANDLED_ERROR_INCIDENT_TYPE, Engine
from waitroom_dev_engine.errors import CommandRejection, NotFoundException, ParseException, ProcessEngineException
from waitroom_dev_engine.multipart import parse_form_data
from waitroom_dev_engine.parsing import BPMN_SUFFIXES, parse_resource
from waitroom_dev_engine.records import (
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    ProcessDefinition,
)
from waitroom_dev_engine.rest import HttpRequest, HttpResponse
from waitroom_dev_engine.variables import MAX_STRING_LENGTH, TypedValue, from_python, from_record, to_python

GATEWAY_VERSION = "8.8.0"
TENANT = "<default>"
# Camunda 8's default long-polling timeout for job activation when requestTimeout is 0 (10 s).
DEFAULT_REQUEST_TIMEOUT = 10_000
# The search APIs' default page size.
DEFAULT_PAGE_LIMIT = 100
PROBLEM_JSON = "application/problem+json"
_STATES = {"ACTIVE": "ACTIVE", "COMPLETED": "COMPLETED"}  # history state -> Camunda 8 state; else TERMINATED
_INCIDENT_TYPES = {UNHANDLED_ERROR_INCIDENT_TYPE: "UNHANDLED_ERROR_EVENT"}  # else JOB_NO_RETRIES
_DEPLOYMENT_NAME = "camunda8"
# Camunda 8's Tag schema: a letter, then up to 99 letters, digits, _, -, : or .; at most 10 per instance.
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_\-:.]{0,99}$")
MAX_TAGS = 10
_KEY = re.compile(r"-?\d{1,19}")
# The element instances the engine keeps: those that completed a scope (HistoricActivityInstance),
# by their Camunda 7 activity type (Camunda 8's element type; an end event's kind is in the XML only).
_ELEMENT_TYPES = {
    "noneEndEvent": "END_EVENT",
    "terminateEndEvent": "END_EVENT",
    "errorEndEvent": "END_EVENT",
    "serviceTask": "SERVICE_TASK",
}
# A variable search answers values longer than this truncated (isTruncated), unless asked for them
# whole (truncateValues=false): the default of Camunda's exporter's variableSizeThreshold.
VARIABLE_SIZE_THRESHOLD = 8191

Handler = Callable[..., HttpResponse]


class Problem(Exception):
    """A 4xx/5xx answer with its problem detail."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def key_of(identifier: str) -> str:
    """The Camunda 8 key of an engine id: a positive int64 (60 bits of its SHA-256), as a string."""
    return str(int(hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:15], 16))


@dataclass(frozen=True)
class _Route:
    method: str
    path: str  # as in Camunda's OpenAPI document (below /v2), placeholders named for the handler
    pattern: re.Pattern[str]
    handler: Handler
    body: frozenset[str]  # the JSON body properties applied; every other one is refused
    query: frozenset[str]  # the documented query parameters applied, passed to the handler as ``query``


def _route(method: str, path: str, handler: Handler, body: Iterable[str] = (), query: Iterable[str] = ()) -> _Route:
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
    return _Route(method, path, pattern, handler, frozenset(body), frozenset(query))


class RestApiV2:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.routes = [
            _route("GET", "/topology", self.topology),
            _route("POST", "/deployments", self.deploy),
            _route(
                "POST",
                "/process-instances",
                self.create_instance,
                {"processDefinitionId", "processDefinitionVersion", "variables", "tenantId", "tags"},
            ),
            _route("POST", "/process-instances/search", self.search_instances, {"filter", "page", "sort"}),
            _route("GET", "/process-instances/{key}", self.get_instance),
            _route("POST", "/process-instances/{key}/cancellation", self.cancel_instance),
            _route("GET", "/process-definitions/{key}/xml", self.definition_xml),
            _route("POST", "/element-instances/search", self.search_element_instances, {"filter", "page", "sort"}),
            _route("POST", "/variables/search", self.search_variables, {"filter", "page", "sort"}, {"truncateValues"}),
            _route("GET", "/variables/{key}", self.get_variable),
            _route("POST", "/jobs/search", self.search_jobs, {"filter", "page", "sort"}),
            _route(
                "POST",
                "/jobs/activation",
                self.activate_jobs,
                {"type", "worker", "timeout", "maxJobsToActivate", "fetchVariable", "requestTimeout", "tenantIds"},
            ),
            _route("POST", "/jobs/{key}/completion", self.complete_job, {"variables"}),
            _route(
                "POST", "/jobs/{key}/failure", self.fail_job, {"retries", "errorMessage", "retryBackOff", "variables"}
            ),
            _route("POST", "/jobs/{key}/error", self.throw_error, {"errorCode", "errorMessage", "variables"}),
            _route("PATCH", "/jobs/{key}", self.update_job, {"changeset"}),
            _route("POST", "/incidents/search", self.search_incidents, {"filter", "page", "sort"}),
        ]

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer a request whose path is below ``/v2``."""
        instance = "/v2" + request.path
        try:
            return self._dispatch(request)
        except Problem as problem:
            return _problem(problem.status, problem.title, problem.detail, instance)
        except CommandRejection as rejection:
            status = {"NOT_FOUND": 404, "INVALID_STATE": 409}.get(rejection.rejection_type, 400)
            return _problem(status, rejection.rejection_type, str(rejection), instance)
        except ProcessEngineException as error:
            return _problem(500, "INTERNAL", str(error), instance)

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        allowed = False
        for route in self.routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            if route.method != request.method:
                allowed = True
                continue
            arguments: dict[str, Any] = match.groupdict()
            if route.query:
                arguments["query"] = {name: values[-1] for name, values in request.query.items() if name in route.query}
            key = arguments.get("key")
            if key is not None and not _KEY.fullmatch(key):
                # Spring's answer when a path variable does not convert to the key's Long.
                raise Problem(400, "Bad Request", f"Failed to convert '{_key_name(route.path)}' with value: '{key}'")
            if request.method in ("POST", "PATCH") and route.handler != self.deploy:
                body = _json_body(request.body)
                refused = sorted(set(body) - route.body)
                if refused:
                    raise Problem(
                        400, "INVALID_ARGUMENT", f"Property '{refused[0]}' is not supported by the development engine"
                    )
                return route.handler(body, **arguments)
            if route.handler == self.deploy:
                return self.deploy(request)
            return route.handler(**arguments)
        if allowed:
            raise Problem(405, "Method Not Allowed", f"Request method '{request.method}' is not supported")
        raise Problem(404, "Not Found", f"No endpoint {request.method} /v2{request.path}.")

    # Cluster -------------------------------------------------------------------------------------

    def topology(self) -> HttpResponse:
        partition = {"partitionId": 1, "role": "leader", "health": "healthy"}
        broker = {
            "nodeId": 0,
            "host": "localhost",
            "port": 26501,
            "partitions": [partition],
            "version": GATEWAY_VERSION,
        }
        return HttpResponse(
            200,
            {
                "brokers": [broker],
                "clusterSize": 1,
                "partitionsCount": 1,
                "replicationFactor": 1,
                "gatewayVersion": GATEWAY_VERSION,
                "lastCompletedChangeId": "-1",
            },
        )

    # Deployments ---------------------------------------------------------------------------------

    def deploy(self, request: HttpRequest) -> HttpResponse:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise Problem(415, "Unsupported Media Type", f"Content-Type '{content_type}' is not supported.")
        resources: dict[str, bytes] = {}
        for part in parse_form_data(content_type, request.body):
            if part.name == "tenantId":
                _check_tenant(part.text)
            elif part.name == "resources":
                resources[part.filename or "resource.bpmn"] = part.content
            else:
                raise Problem(
                    400, "INVALID_ARGUMENT", f"Property '{part.name}' is not supported by the development engine"
                )
        if not resources:
            raise Problem(400, "INVALID_ARGUMENT", "No resources provided.")
        others = sorted(name for name in resources if not name.endswith(BPMN_SUFFIXES))
        if others:
            raise Problem(
                400,
                "INVALID_ARGUMENT",
                _rejected(
                    "CREATE",
                    "INVALID_ARGUMENT",
                    "Expected to deploy new resources, but encountered the following errors:\n"
                    f"'{others[0]}': the development engine deploys BPMN resources only",
                ),
            )
        try:
            # Like Zeebe, a resource deployed unchanged keeps its latest version.
            result = self._engine.deploy(
                _DEPLOYMENT_NAME, None, resources, duplicate_filtering=False, changed_only=True
            )
        except ParseException as error:
            reason = "Expected to deploy new resources, but encountered the following errors:\n" + "\n".join(
                f"'{resource}': {problem['message']}"
                for resource, report in error.details.items()
                for problem in report["errors"]
            )
            raise Problem(400, "INVALID_ARGUMENT", _rejected("CREATE", "INVALID_ARGUMENT", reason)) from error
        except ProcessEngineException as error:
            raise Problem(400, "INVALID_ARGUMENT", _rejected("CREATE", "INVALID_ARGUMENT", str(error))) from error
        deployed = {definition.key: definition for definition in result.definitions or []}
        definitions = []
        for name, data in resources.items():
            for process in parse_resource(name, data):
                definition = deployed.get(process.model.key) or self._engine.latest_definition(process.model.key)
                if definition is not None:
                    definitions.append(definition)
        return HttpResponse(
            200,
            {
                "tenantId": TENANT,
                "deploymentKey": key_of(result.deployment.id),
                "deployments": [
                    {
                        "processDefinition": {
                            "processDefinitionId": definition.key,
                            "processDefinitionVersion": definition.version,
                            "resourceName": definition.resource,
                            "tenantId": TENANT,
                            "processDefinitionKey": key_of(definition.id),
                        }
                    }
                    for definition in definitions
                ],
            },
        )

    # Process instances ---------------------------------------------------------------------------

    def create_instance(self, body: dict[str, Any]) -> HttpResponse:
        process_id = body.get("processDefinitionId")
        if not isinstance(process_id, str) or not process_id:
            raise Problem(400, "INVALID_ARGUMENT", "No processDefinitionId provided.")
        if "tenantId" in body:
            _check_tenant(body["tenantId"])
        version = body.get("processDefinitionVersion", -1)
        tags = body.get("tags") or []
        if (
            not isinstance(tags, list)
            or len(tags) > MAX_TAGS
            or len(set(tags)) != len(tags)
            or not all(isinstance(tag, str) and _TAG.match(tag) for tag in tags)
        ):
            raise Problem(
                400,
                "INVALID_ARGUMENT",
                f"The tags must be at most {MAX_TAGS} distinct texts, each a letter followed by up to 99 letters, "
                "digits, '_', '-', ':' or '.'",
            )
        definition = self._definition(process_id, version)
        result = self._engine.start(definition.id, None, _typed(body.get("variables"), "variables"), tags)
        return HttpResponse(
            200,
            {
                "processDefinitionId": definition.key,
                "processDefinitionKey": key_of(definition.id),
                "processDefinitionVersion": definition.version,
                "tenantId": TENANT,
                "variables": {},
                "processInstanceKey": key_of(result.instance_id),
                "tags": tags,
            },
        )

    def get_instance(self, key: str) -> HttpResponse:
        history = self._history_by_key(key)
        if history is None:
            raise Problem(404, "NOT_FOUND", f"Process Instance with key '{key}' not found")
        return HttpResponse(200, self._instance_result(history, self._active_incidents()))

    def cancel_instance(self, body: dict[str, Any], key: str) -> HttpResponse:
        if body:
            raise Problem(
                400, "INVALID_ARGUMENT", f"Property '{sorted(body)[0]}' is not supported by the development engine"
            )
        history = self._history_by_key(key)
        reason = f"Expected to cancel a process instance with key '{key}', but no such process instance was found"
        if history is None or history.state != "ACTIVE":
            raise CommandRejection("CANCEL", "NOT_FOUND", reason)
        try:
            self._engine.delete_instance(history.id, fail_if_not_exists=True)
        except NotFoundException as error:
            raise CommandRejection("CANCEL", "NOT_FOUND", reason) from error
        return HttpResponse(204)

    def search_instances(self, body: dict[str, Any]) -> HttpResponse:
        conditions = _filter(
            body.get("filter"),
            {"processInstanceKey", "processDefinitionId", "processDefinitionKey", "state", "tags", "hasIncident",
             "startDate", "endDate"},
        )  # fmt: skip
        incidents = self._active_incidents()
        rows = [
            self._instance_result(history, incidents)
            for history in sorted(self._engine.historic_instances(), key=lambda history: history.start_time)
        ]
        matching = [row for row in rows if all(condition(row) for condition in conditions)]
        return HttpResponse(200, _page(_sorted(matching, body.get("sort")), body.get("page")))

    def _instance_result(
        self, history: HistoricProcessInstance, incidents: Mapping[str, list[Incident]]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "processDefinitionId": history.definition_key,
            "processDefinitionName": history.definition_name or history.definition_key,
            "processDefinitionVersion": history.definition_version,
            "startDate": _date(history.start_time),
            "state": _STATES.get(history.state, "TERMINATED"),
            "hasIncident": bool(incidents.get(history.id)),
            "tenantId": TENANT,
            "processInstanceKey": key_of(history.id),
            "processDefinitionKey": key_of(history.definition_id),
            "tags": history.tags,
        }
        if history.end_time is not None:
            result["endDate"] = _date(history.end_time)
        return result

    def _definition(self, process_id: str, version: Any) -> ProcessDefinition:
        reason = f"Expected to find process definition with process ID '{process_id}', but none found"
        if version in (-1, None):
            definition = self._engine.latest_definition(process_id)
        elif isinstance(version, int):
            definition = next(
                (found for found in self._engine.definitions(process_id) if found.version == version),
                None,
            )
            reason = (
                f"Expected to find process definition with process ID '{process_id}' and version '{version}', "
                "but none found"
            )
        else:
            raise Problem(400, "INVALID_ARGUMENT", "The processDefinitionVersion must be a number.")
        if definition is None:
            raise CommandRejection("CREATE", "NOT_FOUND", reason)
        return definition

    def _history_by_key(self, key: str) -> HistoricProcessInstance | None:
        return next((history for history in self._engine.historic_instances() if key_of(history.id) == key), None)

    def _active_incidents(self) -> dict[str, list[Incident]]:
        found: dict[str, list[Incident]] = {}
        for incident in self._engine.incidents():
            found.setdefault(incident.process_instance_id, []).append(incident)
        return found

    # Jobs ----------------------------------------------------------------------------------------

    def activate_jobs(self, body: dict[str, Any]) -> HttpResponse:
        job_type = body.get("type")
        timeout = body.get("timeout")
        max_jobs = body.get("maxJobsToActivate")
        if not isinstance(job_type, str) or not job_type:
            raise Problem(400, "INVALID_ARGUMENT", "No type provided.")
        if not isinstance(timeout, int) or timeout < 1:
            raise Problem(400, "INVALID_ARGUMENT", f"The value for timeout is '{timeout}' but must be greater than 0.")
        if not isinstance(max_jobs, int) or max_jobs < 1:
            raise Problem(
                400, "INVALID_ARGUMENT", f"The value for maxJobsToActivate is '{max_jobs}' but must be greater than 0."
            )
        for tenant in body.get("tenantIds") or []:
            _check_tenant(tenant)
        request_timeout = body.get("requestTimeout", 0)
        if not isinstance(request_timeout, int):
            raise Problem(400, "INVALID_ARGUMENT", "The value for requestTimeout must be a number.")
        fetch = body.get("fetchVariable")
        jobs = self._engine.activate_jobs(
            job_type=job_type,
            worker=body.get("worker") or "",
            timeout=timeout,
            max_jobs=max_jobs,
            variables=tuple(fetch) if fetch else None,
            # requestTimeout 0 long-polls for the default time, a negative one not at all.
            request_timeout=None if request_timeout < 0 else (request_timeout or DEFAULT_REQUEST_TIMEOUT),
        )
        return HttpResponse(200, {"jobs": [self._activated(job, variables) for job, variables in jobs]})

    def _activated(self, job: ExternalTask, variables: Mapping[str, TypedValue]) -> dict[str, Any]:
        definition = self._engine.definition(job.definition_id)
        headers = self._engine.activity(job.definition_id, job.activity_id).extension_properties
        instance = self._engine.historic_instance(job.process_instance_id)
        return {
            "type": job.topic_name,
            "processDefinitionId": job.definition_key,
            "processDefinitionVersion": definition.version if definition is not None else 0,
            "elementId": job.activity_id,
            "customHeaders": dict(headers),
            "worker": job.worker_id or "",
            "retries": job.retries if job.retries is not None else 0,
            "deadline": job.lock_expiration_time or 0,
            "variables": {name: _json_value(value) for name, value in variables.items()},
            "tenantId": TENANT,
            "jobKey": key_of(job.id),
            "processInstanceKey": key_of(job.process_instance_id),
            "processDefinitionKey": key_of(job.definition_id),
            "elementInstanceKey": key_of(job.activity_instance_id),
            "kind": "BPMN_ELEMENT",
            "listenerEventType": "UNSPECIFIED",
            # Its instance's tags, as Camunda 8.8 sends them with each job.
            "tags": instance.tags if instance is not None else [],
        }

    def complete_job(self, body: dict[str, Any], key: str) -> HttpResponse:
        job = self._job_id(key)
        self._keyed(key, lambda: self._engine.complete_job(job, _typed(body.get("variables"), "variables")))
        return HttpResponse(204)

    def fail_job(self, body: dict[str, Any], key: str) -> HttpResponse:
        retries = body.get("retries", 0)
        back_off = body.get("retryBackOff", 0)
        if not isinstance(retries, int) or not isinstance(back_off, int):
            raise Problem(400, "INVALID_ARGUMENT", "The values for retries and retryBackOff must be numbers.")
        if back_off < 0:
            raise Problem(
                400, "INVALID_ARGUMENT", f"The value for retryBackOff is '{back_off}' but must be at least 0."
            )
        job = self._job_id(key)
        self._keyed(
            key,
            lambda: self._engine.fail_job(
                job,
                retries=retries,
                error_message=body.get("errorMessage"),
                retry_back_off=back_off,
                variables=_typed(body.get("variables"), "variables"),
            ),
        )
        return HttpResponse(204)

    def throw_error(self, body: dict[str, Any], key: str) -> HttpResponse:
        code = body.get("errorCode")
        if not isinstance(code, str) or not code:
            raise Problem(400, "INVALID_ARGUMENT", "No errorCode provided.")
        job = self._job_id(key)
        message = body.get("errorMessage")
        variables = _typed(body.get("variables"), "variables")
        self._keyed(key, lambda: self._engine.throw_job_error(job, code, message, variables))
        return HttpResponse(204)

    def update_job(self, body: dict[str, Any], key: str) -> HttpResponse:
        changeset = body.get("changeset")
        if not isinstance(changeset, dict):
            raise Problem(400, "INVALID_ARGUMENT", "No changeset provided.")
        if changeset.get("retries") is not None:
            raise Problem(
                400, "INVALID_ARGUMENT", "Property 'changeset.retries' is not supported by the development engine"
            )
        timeout = changeset.get("timeout")
        if timeout is None:
            raise Problem(400, "INVALID_ARGUMENT", "At least one of [retries, timeout] is required.")
        if not isinstance(timeout, int) or timeout < 1:
            raise Problem(
                400, "INVALID_ARGUMENT", f"The value for changeset.timeout is '{timeout}' but must be greater than 0."
            )
        job = self._job_id(key)
        self._keyed(key, lambda: self._engine.update_job_timeout(job, timeout))
        return HttpResponse(204)

    def _job_id(self, key: str) -> str:
        """The engine id of the job with this key; an unknown key gives an id no job has."""
        return next((job.id for job in self._engine.jobs() if key_of(job.id) == key), f"unknown job {key}")

    @staticmethod
    def _keyed(key: str, command: Callable[[], None]) -> None:
        try:
            command()
        except CommandRejection as rejection:
            raise CommandRejection(
                rejection.intent, rejection.rejection_type, rejection.reason.replace("{key}", key)
            ) from rejection

    # Process definitions, element instances, variables: what the instances' history keeps -------

    def definition_xml(self, key: str) -> HttpResponse:
        definition = next((found for found in self._engine.definitions() if key_of(found.id) == key), None)
        if definition is None:
            raise Problem(404, "NOT_FOUND", f"Process definition with key '{key}' not found")
        return HttpResponse(200, self._engine.definition_xml(definition.id), {"Content-Type": "text/xml"})

    def search_element_instances(self, body: dict[str, Any]) -> HttpResponse:
        """The element instances of the engine's activity history: each end event reached (and each
        Camunda 7 external task whose uncaught BPMN error ended its path); it keeps no other, so a
        search must ask for end events (``type`` ``END_EVENT``)."""
        raw = body.get("filter")
        if not isinstance(raw, dict) or raw.get("type") != "END_EVENT":
            raise Problem(
                400,
                "INVALID_ARGUMENT",
                "Filter 'type' must be END_EVENT: the development engine keeps the end events reached, no other "
                "element instance",
            )
        conditions = _filter(
            raw,
            {"processInstanceKey", "processDefinitionId", "processDefinitionKey", "elementInstanceScopeKey", "type",
             "state", "elementId", "elementInstanceKey"},
        )  # fmt: skip
        rows = [
            _element_instance(record) for record in sorted(
                self._engine.historic_activity_instances(), key=lambda record: (record.end_time, record.id)
            )
        ]  # fmt: skip
        matching = [_public(row) for row in rows if all(condition(row) for condition in conditions)]
        return HttpResponse(200, _page(_sorted(matching, body.get("sort")), body.get("page")))

    def search_variables(self, body: dict[str, Any], query: Mapping[str, str]) -> HttpResponse:
        """The variables of the instances' own scopes (their scope key is the instance's key), from the
        history: the engine keeps no other."""
        truncate = query.get("truncateValues", "true").lower() != "false"
        conditions = _filter(
            body.get("filter"), {"processInstanceKey", "scopeKey", "name", "variableKey", "isTruncated"}
        )
        rows = []
        for variable in self._live_variables():
            row = _variable_result(variable)
            text = row["value"]
            row["isTruncated"] = truncate and len(text) > VARIABLE_SIZE_THRESHOLD
            if row["isTruncated"]:
                row["value"] = text[:VARIABLE_SIZE_THRESHOLD]
            rows.append(row)
        matching = [row for row in rows if all(condition(row) for condition in conditions)]
        return HttpResponse(200, _page(_sorted(matching, body.get("sort")), body.get("page")))

    def get_variable(self, key: str) -> HttpResponse:
        variable = next((found for found in self._live_variables() if key_of(found.id) == key), None)
        if variable is None:
            raise Problem(404, "NOT_FOUND", f"Variable with key '{key}' not found")
        return HttpResponse(200, _variable_result(variable))

    def _live_variables(self) -> list[HistoricVariableInstance]:
        return sorted(
            (found for found in self._engine.historic_variable_instances() if found.state != "DELETED"),
            key=lambda found: (found.create_time, found.id),
        )

    # Job search ----------------------------------------------------------------------------------

    def search_jobs(self, body: dict[str, Any]) -> HttpResponse:
        """The jobs waiting, activated or failed: the engine keeps no job once it ended (completed,
        its error caught, its instance cancelled), so it finds none of those, and a filter on the
        state (which could ask for them) is refused."""
        conditions = _filter(
            body.get("filter"),
            {"jobKey", "type", "processInstanceKey", "processDefinitionId", "processDefinitionKey", "elementId",
             "elementInstanceKey", "retries"},
        )  # fmt: skip
        thrown = {
            incident.configuration
            for incident in self._engine.incidents()
            if incident.incident_type == UNHANDLED_ERROR_INCIDENT_TYPE
        }
        rows = [
            self._job_result(job, job.id in thrown)
            for job in sorted(self._engine.jobs(), key=lambda job: (job.create_time, job.id))
        ]
        matching = [row for row in rows if all(condition(row) for condition in conditions)]
        return HttpResponse(200, _page(_sorted(matching, body.get("sort")), body.get("page")))

    def _job_result(self, job: ExternalTask, error_thrown: bool) -> dict[str, Any]:
        headers = self._engine.activity(job.definition_id, job.activity_id).extension_properties
        failed = job.error_message is not None and not error_thrown
        result: dict[str, Any] = {
            "customHeaders": dict(headers),
            "elementId": job.activity_id,
            "elementInstanceKey": key_of(job.activity_instance_id),
            "hasFailedWithRetriesLeft": failed and job.has_retries_left,
            "jobKey": key_of(job.id),
            "kind": "BPMN_ELEMENT",
            "listenerEventType": "UNSPECIFIED",
            "processDefinitionId": job.definition_key,
            "processDefinitionKey": key_of(job.definition_id),
            "processInstanceKey": key_of(job.process_instance_id),
            "retries": job.retries if job.retries is not None else 0,
            # Its last job event, as Camunda's exporter records it: an activated job stays CREATED.
            "state": "ERROR_THROWN" if error_thrown else "FAILED" if failed else "CREATED",
            "tenantId": TENANT,
            "type": job.topic_name,
            # Camunda's exporter writes its job index from job events, and an activation is a job
            # batch's event: the search shows no job activated, worker or deadline (as after creation).
            "worker": "",
        }
        if job.error_message is not None:
            result["errorMessage"] = job.error_message
        return result

    # Incidents -----------------------------------------------------------------------------------

    def search_incidents(self, body: dict[str, Any]) -> HttpResponse:
        # An incident's element instance is its job's, as activation reports it.
        element_instances = {job.id: job.activity_instance_id for job in self._engine.jobs()}
        conditions = _filter(
            body.get("filter"),
            {"incidentKey", "processInstanceKey", "processDefinitionId", "processDefinitionKey", "elementId", "jobKey",
             "errorType", "state", "creationTime"},
        )  # fmt: skip
        rows = [
            {
                "processDefinitionId": incident.process_definition_key,
                "errorType": _INCIDENT_TYPES.get(incident.incident_type, "JOB_NO_RETRIES"),
                "errorMessage": incident.incident_message or "",
                "elementId": incident.activity_id,
                "creationTime": _date(incident.incident_timestamp),
                "state": "ACTIVE",
                "tenantId": TENANT,
                "incidentKey": key_of(incident.id),
                "processDefinitionKey": key_of(incident.process_definition_id),
                "processInstanceKey": key_of(incident.process_instance_id),
                "elementInstanceKey": key_of(element_instances.get(incident.configuration, incident.execution_id)),
                "jobKey": key_of(incident.configuration),
            }
            for incident in sorted(self._engine.incidents(), key=lambda incident: incident.incident_timestamp)
        ]
        matching = [row for row in rows if all(condition(row) for condition in conditions)]
        return HttpResponse(200, _page(_sorted(matching, body.get("sort")), body.get("page")))


def _key_name(path: str) -> str:
    names = {"/jobs/": "jobKey", "/variables/": "variableKey", "/process-definitions/": "processDefinitionKey"}
    return next((name for prefix, name in names.items() if path.startswith(prefix)), "processInstanceKey")


def _element_instance(record: HistoricActivityInstance) -> dict[str, Any]:
    """An ElementInstanceResult, with its scope's key under ``elementInstanceScopeKey`` for the filter
    (the document has it as a filter, not in the result: :func:`_public` drops it)."""
    return {
        "processDefinitionId": record.process_definition_key,
        "startDate": _date(record.start_time),
        "endDate": _date(record.end_time),
        "elementId": record.activity_id,
        "elementName": record.activity_name or record.activity_id,
        "type": _ELEMENT_TYPES.get(record.activity_type, "UNKNOWN"),
        "state": "COMPLETED",
        "hasIncident": False,
        "tenantId": TENANT,
        "elementInstanceKey": key_of(record.id),
        "processInstanceKey": key_of(record.process_instance_id),
        "processDefinitionKey": key_of(record.process_definition_id),
        "elementInstanceScopeKey": key_of(record.parent_activity_instance_id),
    }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "elementInstanceScopeKey"}


def _variable_result(variable: HistoricVariableInstance) -> dict[str, Any]:
    """A VariableResult: the value as JSON text, as Camunda 8's secondary storage keeps it."""
    return {
        "name": variable.name,
        "value": json.dumps(_json_value(from_record(variable.value)), ensure_ascii=False, separators=(",", ":")),
        "tenantId": TENANT,
        "variableKey": key_of(variable.id),
        # The instance's own scope: Camunda 8's scope key of a process-level variable is the instance's key.
        "scopeKey": key_of(variable.process_instance_id),
        "processInstanceKey": key_of(variable.process_instance_id),
    }


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise Problem(400, "Bad Request", "Failed to read request") from error
    if not isinstance(body, dict):
        raise Problem(400, "Bad Request", "Failed to read request")
    return body


def _check_tenant(tenant: Any) -> None:
    if tenant != TENANT:
        raise Problem(
            400,
            "INVALID_ARGUMENT",
            f"Expected to handle request with tenant '{tenant}', but the development engine has no tenants "
            f"(only '{TENANT}')",
        )


def _typed(variables: Any, name: str) -> dict[str, TypedValue] | None:
    if variables is None:
        return None
    if not isinstance(variables, dict):
        raise Problem(400, "INVALID_ARGUMENT", f"The {name} must be a JSON object.")
    return {variable: _variable(value) for variable, value in variables.items()}


def _variable(value: Any) -> TypedValue:
    # Camunda 8 has no 4000-character String column: a longer text is kept as JSON, which both
    # APIs read back as the same text.
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        return TypedValue("Json", json.dumps(value))
    return from_python(value)


def _json_value(variable: TypedValue) -> Any:
    value = to_python(variable)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _date(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rejected(intent: str, rejection_type: str, reason: str) -> str:
    return f"Command '{intent}' rejected with code '{rejection_type}': {reason}"


def _problem(status: int, title: str, detail: str, instance: str) -> HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    return HttpResponse(status, body, {"Content-Type": PROBLEM_JSON})


type _Condition = Callable[[dict[str, Any]], bool]


def _filter(raw: Any, supported: set[str]) -> list[_Condition]:
    """The conditions of a search filter: a field equals a value, or an advanced filter's $eq, $neq,
    $in, $exists, $gt, $gte, $lt or $lte (dates compared as instants); ``tags`` holds every tag given."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise Problem(400, "INVALID_ARGUMENT", "The filter must be a JSON object.")
    conditions: list[_Condition] = []
    for name, wanted in raw.items():
        if name not in supported:
            raise Problem(400, "INVALID_ARGUMENT", f"Filter '{name}' is not supported by the development engine")
        conditions.append(_condition(name, wanted))
    return conditions


def _condition(name: str, wanted: Any) -> _Condition:
    if name == "tags":
        if not isinstance(wanted, list):
            raise Problem(400, "INVALID_ARGUMENT", "The tags filter must be a list.")
        return lambda row: set(wanted) <= set(row.get("tags") or [])
    if not isinstance(wanted, dict):
        return lambda row: row.get(name) == wanted
    operators: dict[str, Callable[[Any, Any], bool]] = {
        "$eq": _same,
        "$neq": lambda actual, value: not _same(actual, value),
        "$in": lambda actual, value: actual in value,
        "$exists": lambda actual, value: (actual is not None) == value,
        "$gt": lambda actual, value: _ordered(actual, value, lambda a, b: a > b),
        "$gte": lambda actual, value: _ordered(actual, value, lambda a, b: a >= b),
        "$lt": lambda actual, value: _ordered(actual, value, lambda a, b: a < b),
        "$lte": lambda actual, value: _ordered(actual, value, lambda a, b: a <= b),
    }
    unsupported = sorted(set(wanted) - set(operators))
    if unsupported:
        raise Problem(
            400,
            "INVALID_ARGUMENT",
            f"Filter operator '{unsupported[0]}' on '{name}' is not supported by the development engine",
        )
    return lambda row: all(operators[operator](row.get(name), value) for operator, value in wanted.items())


def _comparable(value: Any) -> Any:
    """A date-time text as the instant it names (``Z`` or an offset, any precision); else the value."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _same(actual: Any, value: Any) -> bool:
    return actual == value or (actual is not None and _comparable(actual) == _comparable(value))


def _ordered(actual: Any, value: Any, compare: Callable[[Any, Any], bool]) -> bool:
    if actual is None:
        return False
    try:
        return compare(_comparable(actual), _comparable(value))
    except TypeError as error:
        raise Problem(400, "INVALID_ARGUMENT", f"Cannot compare '{actual}' with '{value}'") from error


def _sorted(items: list[dict[str, Any]], sort: Any) -> list[dict[str, Any]]:
    """``items`` in the order of ``sort`` (a list of ``{"field", "order"}``, ``ASC`` by default);
    absent values last, as Camunda's secondary storage sorts them ascending."""
    if sort is None:
        return items
    if not isinstance(sort, list) or not all(isinstance(part, dict) and part.get("field") for part in sort):
        raise Problem(400, "INVALID_ARGUMENT", "The sort must be a list of objects with a field.")
    ordered = list(items)
    for part in reversed(sort):
        field, order = part["field"], part.get("order", "ASC")
        if order not in ("ASC", "DESC"):
            raise Problem(400, "INVALID_ARGUMENT", f"Unknown sortOrder: {order}.")
        present = [item for item in ordered if item.get(field) is not None]
        absent = [item for item in ordered if item.get(field) is None]
        present.sort(key=lambda item: _comparable(item[field]), reverse=order == "DESC")
        ordered = present + absent
    return ordered


def _page(items: list[dict[str, Any]], page: Any) -> dict[str, Any]:
    page = page or {}
    if not isinstance(page, dict):
        raise Problem(400, "INVALID_ARGUMENT", "The page must be a JSON object.")
    unsupported = sorted(set(page) - {"from", "limit"})
    if unsupported:
        raise Problem(
            400,
            "INVALID_ARGUMENT",
            f"Paging by '{unsupported[0]}' is not supported by the development engine (from and limit are)",
        )
    start, limit = page.get("from", 0), page.get("limit", DEFAULT_PAGE_LIMIT)
    if not isinstance(start, int) or not isinstance(limit, int) or start < 0 or limit < 0:
        raise Problem(400, "INVALID_ARGUMENT", "The page's from and limit must be numbers of at least 0.")
    return {"items": items[start : start + limit], "page": {"totalItems": len(items), "hasMoreTotalItems": False}}
