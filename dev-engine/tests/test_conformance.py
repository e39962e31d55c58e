"""Conformance: every route the engine serves, called with realistic requests, answers what Camunda 7's
official OpenAPI document says, for its successes and its errors (see waitroom_dev_engine/testing/camunda7.py
for the places where the document and the real Camunda disagree, and which one wins); and what
Operaton's and CIB seven's documents say too, since Waitroom reads the same answers from them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_client import BPMN_DIR, ORDER_REVIEW, SINGLE_STEP, Camunda, order_variables
from waitroom_dev_engine import EngineServer, openapi
from waitroom_dev_engine.engine import Engine
from waitroom_dev_engine.rest import RestApi
from waitroom_dev_engine.testing.camunda7 import ENGINE_DOCUMENTS, validate_response

UNKNOWN = "00000000-0000-0000-0000-000000000000"
ORDER_EVENTS = BPMN_DIR / "order_events.bpmn"
EXPENSE_CLAIM = BPMN_DIR / "expense_claim.bpmn"
_PLACEHOLDER = re.compile(r"\{\w+\}")


class Conformance:
    """Calls a documented route and validates the answer against the document before returning it."""

    def __init__(self, camunda: Camunda, engine: str) -> None:
        self.camunda = camunda
        self.engine = engine  # whose document the answers are validated against
        self._keys = itertools.count()

    def call(self, method: str, route: str, status: int, *, path: str | None = None, **kwargs: Any) -> Any:
        response = self.camunda.request(method, path or route, **kwargs)
        assert response.status_code == status, f"{method} {path or route}: {response.status_code} {response.text}"
        body = response.json() if response.content else None
        validate_response(method, route, status, body, self.engine)
        return body

    # Setting the scene through the same documented routes ---------------------------------------

    def start(self, key: str = "single-step", business_key: str | None = None) -> str:
        instance = self.camunda.start(key, order_variables(), **({"businessKey": business_key} if business_key else {}))
        instance_id: str = instance["id"]
        return instance_id

    def locked_task(self, worker: str = "conformance") -> dict[str, Any]:
        business_key = f"conformance-{next(self._keys)}"
        self.start(business_key=business_key)
        task: dict[str, Any] = self.camunda.fetch_one(worker, "single-step.work", businessKey=business_key)
        return task

    def user_task(self) -> dict[str, Any]:
        """An expense claim waiting at its user task."""
        business_key = f"conformance-{next(self._keys)}"
        variables = {
            "employee": {"value": "ada"},
            "manager": {"value": "grace"},
            "amount": {"value": 10},
            "reason": {"value": "no"},
        }
        instance = self.camunda.start("expense-claim", variables, businessKey=business_key)
        check = self.camunda.fetch_one("conformance", "expense.check", businessKey=business_key)
        assert self.camunda.complete(check["id"], "conformance", {"verdict": {"value": "ok"}}).status_code == 204
        tasks = self.camunda.get("/task", params={"processInstanceId": instance["id"]}).json()
        assert len(tasks) == 1, tasks
        task: dict[str, Any] = tasks[0]
        return task

    def finished_instance(self) -> str:
        task = self.locked_task()
        assert self.camunda.complete(task["id"], "conformance").status_code == 204
        instance_id: str = task["processInstanceId"]
        return instance_id


@pytest.fixture(scope="module", params=sorted(ENGINE_DOCUMENTS))
def conformance(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conformance]:
    server = EngineServer(tmp_path_factory.mktemp("conformance") / "engine.sqlite")
    server.start()
    camunda = Camunda(server.url)
    assert camunda.deploy(ORDER_REVIEW, SINGLE_STEP, ORDER_EVENTS, EXPENSE_CLAIM).status_code == 200
    yield Conformance(camunda, request.param)
    camunda.session.close()
    server.stop()


MULTI_INSTANCE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:process id="conformance-loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="each" camunda:type="external" camunda:topic="each">
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="items" camunda:elementVariable="item"/>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="each"/>
    <bpmn:sequenceFlow id="b" sourceRef="each" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _definition_id(c: Conformance) -> str:
    definition: dict[str, Any] = c.call(
        "GET", "/process-definition/key/{key}", 200, path="/process-definition/key/single-step"
    )
    return str(definition["id"])


def _deployment_id(c: Conformance) -> str:
    deployments = c.call("GET", "/deployment", 200, params={"maxResults": 1})
    return str(deployments[0]["id"])


# Successes: one realistic call per route -----------------------------------------------------------

Scenario = Callable[[Conformance], object]


def _deployment_create(c: Conformance) -> None:
    files = {
        "deployment-name": (None, "conformance"),
        "deployment-source": (None, "pytest"),
        "enable-duplicate-filtering": (None, "true"),
        "single_step.bpmn": ("single_step.bpmn", SINGLE_STEP.read_bytes(), "application/octet-stream"),
    }
    c.call("POST", "/deployment/create", 200, files=files)


def _variables_modify(c: Conformance) -> None:
    instance_id = c.start()
    body = {"modifications": {"approved": {"value": True, "type": "Boolean"}}, "deletions": ["customer"]}
    c.call(
        "POST", "/process-instance/{id}/variables", 204, path=f"/process-instance/{instance_id}/variables", json=body
    )


def _activity_history(c: Conformance) -> None:
    instance_id = c.finished_instance()
    params = {"processInstanceId": instance_id, "completeScope": "true", "sortBy": "endTime", "sortOrder": "asc"}
    ended = c.call("GET", "/history/activity-instance", 200, params=params)
    assert [(a["activityId"], a["activityType"], a["parentActivityInstanceId"]) for a in ended] == [
        ("End", "noneEndEvent", instance_id)
    ]


def _variable_history(c: Conformance) -> None:
    instance_id = c.finished_instance()
    params = {"processInstanceId": instance_id, "activityInstanceIdIn": instance_id, "deserializeValues": "false"}
    variables = c.call("GET", "/history/variable-instance", 200, params=params)
    assert {v["name"]: (v["type"], v["value"], v["state"]) for v in variables} == {
        "customer": ("String", "ada", "CREATED"),
        "score": ("Integer", 7, "CREATED"),
    }


def _failure(c: Conformance) -> None:
    task = c.locked_task()
    body = {"workerId": "conformance", "errorMessage": "down", "errorDetails": "trace", "retries": 0, "retryTimeout": 0}
    c.call("POST", "/external-task/{id}/failure", 204, path=f"/external-task/{task['id']}/failure", json=body)


def _incidents(c: Conformance) -> None:
    _failure(c)
    params = {"incidentType": "failedExternalTask", "sortBy": "incidentTimestamp", "sortOrder": "desc"}
    assert c.call("GET", "/incident", 200, params=params)


SUCCESSES: dict[tuple[str, str], Scenario] = {
    ("GET", "/engine"): lambda c: c.call("GET", "/engine", 200),
    ("GET", "/version"): lambda c: c.call("GET", "/version", 200),
    ("GET", "/deployment"): lambda c: c.call(
        "GET", "/deployment", 200, params={"nameLike": "te%", "sortBy": "deploymentTime", "sortOrder": "desc"}
    ),
    ("GET", "/deployment/count"): lambda c: c.call("GET", "/deployment/count", 200, params={"source": "pytest"}),
    ("GET", "/deployment/{id}"): lambda c: c.call(
        "GET", "/deployment/{id}", 200, path=f"/deployment/{_deployment_id(c)}"
    ),
    ("POST", "/deployment/create"): _deployment_create,
    ("GET", "/process-definition/key/{key}"): _definition_id,
    ("DELETE", "/process-definition/key/{key}"): lambda c: (
        c.call(
            "DELETE",
            "/process-definition/key/{key}",
            204,
            path="/process-definition/key/order-review",
            params={"cascade": "true"},
        ),
        c.camunda.deploy(ORDER_REVIEW, SINGLE_STEP),
    ),
    ("POST", "/process-definition/key/{key}/start"): lambda c: c.call(
        "POST",
        "/process-definition/key/{key}/start",
        200,
        path="/process-definition/key/order-review/start",
        json={"businessKey": "order-1", "variables": order_variables(), "withVariablesInReturn": True},
    ),
    ("GET", "/process-definition/key/{key}/xml"): lambda c: c.call(
        "GET", "/process-definition/key/{key}/xml", 200, path="/process-definition/key/single-step/xml"
    ),
    ("GET", "/process-definition/{id}/xml"): lambda c: c.call(
        "GET", "/process-definition/{id}/xml", 200, path=f"/process-definition/{_definition_id(c)}/xml"
    ),
    ("GET", "/process-instance"): lambda c: (
        c.start(business_key="listed"),
        c.call("GET", "/process-instance", 200, params={"businessKeyLike": "list%", "variables": "customer_eq_ada"}),
    ),
    ("POST", "/process-instance"): lambda c: (
        c.start(business_key="posted"),
        c.call(
            "POST",
            "/process-instance",
            200,
            params={"maxResults": 10},
            json={
                "processDefinitionKeyIn": ["single-step"],
                "variables": [{"name": "score", "operator": "gteq", "value": 5}],
                "sorting": [{"sortBy": "businessKey", "sortOrder": "asc"}],
            },
        ),
    ),
    ("GET", "/process-instance/count"): lambda c: c.call(
        "GET", "/process-instance/count", 200, params={"processDefinitionKey": "single-step"}
    ),
    ("POST", "/process-instance/count"): lambda c: c.call(
        "POST", "/process-instance/count", 200, json={"withIncident": True}
    ),
    ("GET", "/process-instance/{id}"): lambda c: c.call(
        "GET", "/process-instance/{id}", 200, path=f"/process-instance/{c.start()}"
    ),
    ("DELETE", "/process-instance/{id}"): lambda c: c.call(
        "DELETE",
        "/process-instance/{id}",
        204,
        path=f"/process-instance/{c.start()}",
        params={"skipIoMappings": "true"},
    ),
    ("GET", "/process-instance/{id}/variables"): lambda c: c.call(
        "GET", "/process-instance/{id}/variables", 200, path=f"/process-instance/{c.start()}/variables"
    ),
    ("POST", "/process-instance/{id}/variables"): _variables_modify,
    ("GET", "/history/process-instance"): lambda c: (
        c.finished_instance(),
        c.call(
            "GET",
            "/history/process-instance",
            200,
            params={
                "processDefinitionKey": "single-step",
                "finished": "true",
                "sortBy": "endTime",
                "sortOrder": "desc",
            },
        ),
    ),
    ("POST", "/history/process-instance"): lambda c: c.call(
        "POST",
        "/history/process-instance",
        200,
        params={"firstResult": 0, "maxResults": 5},
        json={
            "processInstanceIds": [c.start()],
            "active": True,
            "sorting": [{"sortBy": "duration", "sortOrder": "asc"}],
        },
    ),
    ("GET", "/history/process-instance/count"): lambda c: c.call(
        "GET", "/history/process-instance/count", 200, params={"startedAfter": "2020-01-01T00:00:00.000+0000"}
    ),
    ("POST", "/history/process-instance/count"): lambda c: c.call(
        "POST", "/history/process-instance/count", 200, json={"processDefinitionKeyNotIn": ["order-review"]}
    ),
    ("GET", "/history/process-instance/{id}"): lambda c: c.call(
        "GET", "/history/process-instance/{id}", 200, path=f"/history/process-instance/{c.finished_instance()}"
    ),
    ("DELETE", "/history/process-instance/{id}"): lambda c: c.call(
        "DELETE", "/history/process-instance/{id}", 204, path=f"/history/process-instance/{c.finished_instance()}"
    ),
    ("GET", "/history/activity-instance"): _activity_history,
    ("GET", "/history/activity-instance/count"): lambda c: c.call(
        "GET", "/history/activity-instance/count", 200, params={"completeScope": "true", "activityType": "noneEndEvent"}
    ),
    ("GET", "/history/variable-instance"): _variable_history,
    ("GET", "/history/variable-instance/count"): lambda c: c.call(
        "GET", "/history/variable-instance/count", 200, params={"variableNameIn": "customer,score"}
    ),
    ("POST", "/external-task/fetchAndLock"): lambda c: (
        c.start(),
        c.call(
            "POST",
            "/external-task/fetchAndLock",
            200,
            json={
                "workerId": "conformance",
                "maxTasks": 1,
                "usePriority": True,
                "topics": [{"topicName": "single-step.work", "lockDuration": 1000, "variables": ["customer"]}],
            },
        ),
    ),
    ("GET", "/external-task"): lambda c: (
        c.start(),
        c.call(
            "GET",
            "/external-task",
            200,
            params={"topicName": "single-step.work", "processVariables": "customer_eq_ada"},
        ),
    ),
    ("POST", "/external-task"): lambda c: c.call(
        "POST",
        "/external-task",
        200,
        json={"processDefinitionNameLike": "Single%", "sorting": [{"sortBy": "createTime", "sortOrder": "desc"}]},
    ),
    ("GET", "/external-task/count"): lambda c: c.call("GET", "/external-task/count", 200, params={"notLocked": "true"}),
    ("POST", "/external-task/count"): lambda c: c.call("POST", "/external-task/count", 200, json={"locked": True}),
    ("GET", "/external-task/{id}"): lambda c: c.call(
        "GET", "/external-task/{id}", 200, path=f"/external-task/{c.locked_task()['id']}"
    ),
    ("POST", "/external-task/{id}/complete"): lambda c: c.call(
        "POST",
        "/external-task/{id}/complete",
        204,
        path=f"/external-task/{c.locked_task()['id']}/complete",
        json={"workerId": "conformance", "variables": {"done": {"value": True}}},
    ),
    ("POST", "/external-task/{id}/failure"): _failure,
    ("POST", "/external-task/{id}/bpmnError"): lambda c: c.call(
        "POST",
        "/external-task/{id}/bpmnError",
        204,
        path=f"/external-task/{c.locked_task()['id']}/bpmnError",
        json={"workerId": "conformance", "errorCode": "E1", "errorMessage": "no"},
    ),
    ("POST", "/external-task/{id}/extendLock"): lambda c: c.call(
        "POST",
        "/external-task/{id}/extendLock",
        204,
        path=f"/external-task/{c.locked_task()['id']}/extendLock",
        json={"workerId": "conformance", "newDuration": 5000},
    ),
    ("POST", "/external-task/{id}/unlock"): lambda c: c.call(
        "POST", "/external-task/{id}/unlock", 204, path=f"/external-task/{c.locked_task()['id']}/unlock"
    ),
    ("POST", "/message"): lambda c: (
        c.start("order-events", business_key="conformance-message"),
        c.call(
            "POST",
            "/message",
            200,
            json={"messageName": "PaymentReceived", "businessKey": "conformance-message", "resultEnabled": True},
        ),
        c.call("POST", "/message", 200, json={"messageName": "OrderPlaced", "resultEnabled": True}),
        c.call("POST", "/message", 204, json={"messageName": "OrderPlaced", "businessKey": "placed"}),
    ),
    ("GET", "/task"): lambda c: (
        c.user_task(),
        c.call(
            "GET",
            "/task",
            200,
            params={"taskDefinitionKey": "approve", "assignee": "grace", "sortBy": "created", "sortOrder": "desc"},
        ),
    ),
    ("GET", "/task/count"): lambda c: c.call(
        "GET", "/task/count", 200, params={"processDefinitionKey": "expense-claim"}
    ),
    ("GET", "/task/{id}"): lambda c: c.call("GET", "/task/{id}", 200, path=f"/task/{c.user_task()['id']}"),
    ("POST", "/task/{id}/complete"): lambda c: (
        c.call(
            "POST",
            "/task/{id}/complete",
            204,
            path=f"/task/{c.user_task()['id']}/complete",
            json={"variables": {"approved": {"value": True, "type": "Boolean"}}},
        ),
        c.call(
            "POST",
            "/task/{id}/complete",
            200,
            path=f"/task/{c.user_task()['id']}/complete",
            json={"variables": {"approved": {"value": False}}, "withVariablesInReturn": True},
        ),
    ),
    ("GET", "/incident"): _incidents,
    ("GET", "/incident/count"): lambda c: c.call(
        "GET", "/incident/count", 200, params={"incidentTimestampAfter": "2020-01-01T00:00:00.000+0000"}
    ),
}

# Errors: each documented error status a route can answer with --------------------------------------

ERRORS: dict[tuple[str, str, int], Scenario] = {
    ("GET", "/deployment", 400): lambda c: c.call("GET", "/deployment", 400, params={"after": "yesterday"}),
    ("GET", "/deployment/count", 400): lambda c: c.call("GET", "/deployment/count", 400, params={"before": "x"}),
    ("GET", "/deployment/{id}", 404): lambda c: c.call("GET", "/deployment/{id}", 404, path=f"/deployment/{UNKNOWN}"),
    ("POST", "/deployment/create", 400): lambda c: c.call(
        "POST",
        "/deployment/create",
        400,
        files={"loop.bpmn": ("loop.bpmn", MULTI_INSTANCE, "application/octet-stream")},
    ),
    ("GET", "/process-definition/key/{key}", 404): lambda c: c.call(
        "GET", "/process-definition/key/{key}", 404, path="/process-definition/key/nothing"
    ),
    ("DELETE", "/process-definition/key/{key}", 404): lambda c: c.call(
        "DELETE", "/process-definition/key/{key}", 404, path="/process-definition/key/nothing"
    ),
    ("POST", "/process-definition/key/{key}/start", 400): lambda c: c.call(
        "POST",
        "/process-definition/key/{key}/start",
        400,
        path="/process-definition/key/single-step/start",
        json={"variables": {"score": {"value": "many", "type": "Integer"}}},
    ),
    ("POST", "/process-definition/key/{key}/start", 404): lambda c: c.call(
        "POST", "/process-definition/key/{key}/start", 404, path="/process-definition/key/nothing/start", json={}
    ),
    ("POST", "/process-definition/key/{key}/start", 500): lambda c: c.call(
        "POST",
        "/process-definition/key/{key}/start",
        500,
        path="/process-definition/key/single-step/start",
        json={"businessKey": "k" * 256},
    ),
    ("GET", "/process-definition/key/{key}/xml", 404): lambda c: c.call(
        "GET", "/process-definition/key/{key}/xml", 404, path="/process-definition/key/nothing/xml"
    ),
    ("GET", "/process-definition/{id}/xml", 404): lambda c: c.call(
        "GET", "/process-definition/{id}/xml", 404, path=f"/process-definition/{UNKNOWN}/xml"
    ),
    ("GET", "/process-instance", 400): lambda c: c.call("GET", "/process-instance", 400, params={"activityIdIn": "a"}),
    ("POST", "/process-instance", 400): lambda c: c.call(
        "POST", "/process-instance", 400, json={"sorting": [{"sortBy": "startTime", "sortOrder": "asc"}]}
    ),
    ("GET", "/process-instance/count", 400): lambda c: c.call(
        "GET", "/process-instance/count", 400, params={"variables": "score_bigger_5"}
    ),
    ("POST", "/process-instance/count", 400): lambda c: c.call(
        "POST", "/process-instance/count", 400, json={"orQueries": [{"businessKey": "a"}]}
    ),
    ("GET", "/process-instance/{id}", 404): lambda c: c.call(
        "GET", "/process-instance/{id}", 404, path=f"/process-instance/{UNKNOWN}"
    ),
    ("DELETE", "/process-instance/{id}", 404): lambda c: c.call(
        "DELETE", "/process-instance/{id}", 404, path=f"/process-instance/{UNKNOWN}"
    ),
    ("GET", "/process-instance/{id}/variables", 500): lambda c: c.call(
        "GET", "/process-instance/{id}/variables", 500, path=f"/process-instance/{UNKNOWN}/variables"
    ),
    ("POST", "/process-instance/{id}/variables", 400): lambda c: c.call(
        "POST",
        "/process-instance/{id}/variables",
        400,
        path=f"/process-instance/{c.start()}/variables",
        json={"modifications": {"score": {"value": 1, "type": "Decimal"}}},
    ),
    ("POST", "/process-instance/{id}/variables", 500): lambda c: c.call(
        "POST", "/process-instance/{id}/variables", 500, path=f"/process-instance/{UNKNOWN}/variables", json={}
    ),
    ("GET", "/history/process-instance", 400): lambda c: c.call(
        "GET", "/history/process-instance", 400, params={"executedActivityIdIn": "work"}
    ),
    ("POST", "/history/process-instance", 400): lambda c: c.call(
        "POST", "/history/process-instance", 400, json={"active": True, "completed": True}
    ),
    ("GET", "/history/process-instance/count", 400): lambda c: c.call(
        "GET", "/history/process-instance/count", 400, params={"startedBefore": "tomorrow"}
    ),
    ("POST", "/history/process-instance/count", 400): lambda c: c.call(
        "POST",
        "/history/process-instance/count",
        400,
        json={"variables": [{"name": "a", "operator": "eq", "value": 1}]},
    ),
    ("GET", "/history/activity-instance", 400): lambda c: c.call(
        "GET",
        "/history/activity-instance",
        400,
        params={"completeScope": "true", "sortBy": "bogus", "sortOrder": "asc"},
    ),
    ("GET", "/history/activity-instance/count", 400): lambda c: c.call(
        "GET", "/history/activity-instance/count", 400, params={"completeScope": "true", "startedBefore": "tomorrow"}
    ),
    ("GET", "/history/variable-instance", 400): lambda c: c.call(
        "GET", "/history/variable-instance", 400, params={"sortBy": "instanceId"}
    ),
    ("GET", "/history/variable-instance/count", 400): lambda c: c.call(
        "GET", "/history/variable-instance/count", 400, params={"withoutTenantId": "maybe"}
    ),
    ("GET", "/history/process-instance/{id}", 404): lambda c: c.call(
        "GET", "/history/process-instance/{id}", 404, path=f"/history/process-instance/{UNKNOWN}"
    ),
    ("DELETE", "/history/process-instance/{id}", 404): lambda c: c.call(
        "DELETE", "/history/process-instance/{id}", 404, path=f"/history/process-instance/{UNKNOWN}"
    ),
    ("POST", "/external-task/fetchAndLock", 400): lambda c: c.call(
        "POST",
        "/external-task/fetchAndLock",
        400,
        json={"workerId": "w", "maxTasks": 1, "asyncResponseTimeout": 1_800_001, "topics": []},
    ),
    ("GET", "/external-task", 400): lambda c: c.call("GET", "/external-task", 400, params={"sortBy": "id"}),
    ("POST", "/external-task", 400): lambda c: c.call(
        "POST", "/external-task", 400, json={"processVariables": [{"name": "a", "operator": "above", "value": 1}]}
    ),
    ("GET", "/external-task/count", 400): lambda c: c.call(
        "GET", "/external-task/count", 400, params={"lockExpirationAfter": "soon"}
    ),
    ("POST", "/external-task/count", 400): lambda c: c.call(
        "POST", "/external-task/count", 400, json={"priorityHigherThanOrEquals": "high"}
    ),
    ("GET", "/external-task/{id}", 404): lambda c: c.call(
        "GET", "/external-task/{id}", 404, path=f"/external-task/{UNKNOWN}"
    ),
    ("POST", "/external-task/{id}/complete", 400): lambda c: c.call(
        "POST",
        "/external-task/{id}/complete",
        400,
        path=f"/external-task/{c.locked_task()['id']}/complete",
        json={"workerId": "someone-else"},
    ),
    ("POST", "/external-task/{id}/complete", 404): lambda c: c.call(
        "POST", "/external-task/{id}/complete", 404, path=f"/external-task/{UNKNOWN}/complete", json={"workerId": "w"}
    ),
    ("POST", "/external-task/{id}/complete", 500): lambda c: c.call(
        "POST",
        "/external-task/{id}/complete",
        500,
        path=f"/external-task/{c.locked_task()['id']}/complete",
        json={"workerId": "conformance", "variables": {"note": {"value": "x" * 4001, "type": "String"}}},
    ),
    ("POST", "/external-task/{id}/failure", 400): lambda c: c.call(
        "POST",
        "/external-task/{id}/failure",
        400,
        path=f"/external-task/{c.locked_task()['id']}/failure",
        json={"workerId": "someone-else", "retries": 1},
    ),
    ("POST", "/external-task/{id}/failure", 404): lambda c: c.call(
        "POST", "/external-task/{id}/failure", 404, path=f"/external-task/{UNKNOWN}/failure", json={"workerId": "w"}
    ),
    ("POST", "/external-task/{id}/failure", 500): lambda c: c.call(
        "POST",
        "/external-task/{id}/failure",
        500,
        path=f"/external-task/{c.locked_task()['id']}/failure",
        json={"workerId": "conformance", "retries": -1},
    ),
    ("POST", "/external-task/{id}/bpmnError", 400): lambda c: c.call(
        "POST",
        "/external-task/{id}/bpmnError",
        400,
        path=f"/external-task/{c.locked_task()['id']}/bpmnError",
        json={"workerId": "someone-else", "errorCode": "E"},
    ),
    ("POST", "/external-task/{id}/bpmnError", 404): lambda c: c.call(
        "POST",
        "/external-task/{id}/bpmnError",
        404,
        path=f"/external-task/{UNKNOWN}/bpmnError",
        json={"workerId": "w", "errorCode": "E"},
    ),
    ("POST", "/external-task/{id}/bpmnError", 500): lambda c: c.call(
        "POST",
        "/external-task/{id}/bpmnError",
        500,
        path=f"/external-task/{c.locked_task()['id']}/bpmnError",
        json={"workerId": "conformance"},
    ),
    ("POST", "/external-task/{id}/extendLock", 400): lambda c: c.call(
        "POST",
        "/external-task/{id}/extendLock",
        400,
        path=f"/external-task/{c.locked_task()['id']}/extendLock",
        json={"workerId": "conformance", "newDuration": 0},
    ),
    ("POST", "/external-task/{id}/extendLock", 404): lambda c: c.call(
        "POST",
        "/external-task/{id}/extendLock",
        404,
        path=f"/external-task/{UNKNOWN}/extendLock",
        json={"workerId": "w", "newDuration": 1},
    ),
    ("POST", "/external-task/{id}/unlock", 404): lambda c: c.call(
        "POST", "/external-task/{id}/unlock", 404, path=f"/external-task/{UNKNOWN}/unlock"
    ),
    ("POST", "/message", 400): lambda c: c.call("POST", "/message", 400, json={"messageName": "Unheard"}),
    ("GET", "/task", 400): lambda c: c.call("GET", "/task", 400, params={"sortBy": "dueDate", "sortOrder": "asc"}),
    ("GET", "/task/count", 400): lambda c: c.call("GET", "/task/count", 400, params={"candidateGroup": "finance"}),
    ("GET", "/task/{id}", 404): lambda c: c.call("GET", "/task/{id}", 404, path=f"/task/{UNKNOWN}"),
    ("POST", "/task/{id}/complete", 400): lambda c: c.call(
        "POST",
        "/task/{id}/complete",
        400,
        path=f"/task/{c.user_task()['id']}/complete",
        json={"variables": {"approved": {"value": "maybe", "type": "Boolean"}}},
    ),
    ("POST", "/task/{id}/complete", 500): lambda c: c.call(
        "POST", "/task/{id}/complete", 500, path=f"/task/{UNKNOWN}/complete", json={}
    ),
    ("GET", "/incident", 400): lambda c: c.call(
        "GET", "/incident", 400, params={"sortBy": "bogus", "sortOrder": "asc"}
    ),
    ("GET", "/incident/count", 400): lambda c: c.call(
        "GET", "/incident/count", 400, params={"incidentTimestampBefore": "now"}
    ),
}


@pytest.mark.parametrize("route", list(SUCCESSES), ids=" ".join)
def test_successful_answers_match_the_document(conformance: Conformance, route: tuple[str, str]) -> None:
    SUCCESSES[route](conformance)


@pytest.mark.parametrize("case", list(ERRORS), ids=lambda case: f"{case[0]} {case[1]} {case[2]}")
def test_error_answers_match_the_document(conformance: Conformance, case: tuple[str, str, int]) -> None:
    ERRORS[case](conformance)


def _served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    engine = Engine(tmp_path / "routes.sqlite")
    try:
        return {(route.method, _PLACEHOLDER.sub("{}", route.path)) for route in RestApi(engine).routes}
    finally:
        engine.close()


def test_every_served_route_is_exercised(tmp_path: Path) -> None:
    exercised = {(method, _PLACEHOLDER.sub("{}", route)) for method, route in SUCCESSES}
    assert exercised == _served_routes(tmp_path)


# Documented error statuses neither Camunda nor the engine answers for these routes' real failures.
# Authorization (403) needs Camunda's users and groups; the engine has Basic authentication only.
NEVER_ANSWERED = {
    # The document says an unknown key is a 400; Camunda answers 404 (see UNDOCUMENTED_ERRORS).
    ("GET", "/process-definition/key/{key}", 400),
    # "Some of the query parameters are invalid": the route takes none.
    ("GET", "/process-definition/{id}/xml", 400),
}


def test_every_documented_error_status_a_route_can_answer_is_exercised() -> None:
    documented = {
        (method, route, int(status))
        for method, route in SUCCESSES
        for status in openapi.operation(method, route)["responses"]
        if int(status) >= 400 and status != "403"
    }
    assert documented - NEVER_ANSWERED - set(ERRORS) == set()


def test_an_unknown_path_answers_like_jax_rs(conformance: Conformance) -> None:
    response = conformance.camunda.get("/no-such-resource")
    assert response.status_code == 404
    assert response.json() == {"type": "NotFoundException", "message": "HTTP 404 Not Found", "code": None}
