"""A process Waitroom has never seen, on the local stack over real HTTP: its BPMN in a folder outside
the repository, deployed to the development engine, its steps run by a worker written with the
ecosystem's client (camunda-external-task-client-python3), and its last step Waitroom's built-in
response step, or none (answered from the engine's history when it ends). Nothing of the process is
in Waitroom's package or settings but its key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from devstack.stack import LocalStack
from tests.integration.test_local_stack import bearer, running_stack
from tests.support.processes import ECHO_BPMN, process_xml
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.deployment import deploy_bpmn
from waitroom_dev_engine.testing.ecosystem_worker import ExternalTask, TaskResult, running_worker

#: A person in the process: a user task (completed over the engine's REST API), then the response step.
LEAVE_REQUEST_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_Leave" targetNamespace="https://example.com/leave-request">
  <bpmn:process id="leave-request" isExecutable="true" camunda:historyTimeToLive="1">
    <bpmn:startEvent id="Start"><bpmn:outgoing>ToDecide</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Decide" name="Decide on the leave" camunda:assignee="${manager}">
      <bpmn:incoming>ToDecide</bpmn:incoming>
      <bpmn:outgoing>ToRespond</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:serviceTask id="Respond" camunda:type="external" camunda:topic="waitroom-respond">
      <bpmn:incoming>ToRespond</bpmn:incoming>
      <bpmn:outgoing>ToEnd</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="End"><bpmn:incoming>ToEnd</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="ToDecide" sourceRef="Start" targetRef="Decide" />
    <bpmn:sequenceFlow id="ToRespond" sourceRef="Decide" targetRef="Respond" />
    <bpmn:sequenceFlow id="ToEnd" sourceRef="Respond" targetRef="End" />
  </bpmn:process>
</bpmn:definitions>
"""

#: How often the worker looks for incidents here; the test's bound on the end of a wait stopped by
#: one is generous beside it (scheduling), and far below the reconciler's RECONCILE_MIN_AGE_S (120 s).
ENGINE_WATCH_MS = 500
ENDED_WITHIN_S = 15

STEPS = ("expense.submit", "expense.check-policy", "expense.approve")


#: Every topic the team's worker serves.
OUTSIDE_TOPICS = (*STEPS, "expense.audit", "expense.validate")


class OutsideWorker:
    """The team's own steps, for the ecosystem's client (:func:`running_worker`)."""

    def __init__(self) -> None:
        self.failed_at: dict[str, float] = {}
        #: When the last step of a process was handled (its instance ends with the step's completion).
        self.finished_at: dict[str, float] = {}

    def handle(self, task: ExternalTask) -> TaskResult:
        topic = task.get_topic_name()
        if topic == "expense.submit":
            return task.complete({"submittedBy": task.get_variable("employee")})
        if topic == "expense.check-policy":
            return task.complete({"withinPolicy": task.get_variable("amount") <= 500})
        if topic == "expense.approve":
            self.finished_at[task.get_business_key()] = time.monotonic()
            return task.complete({"approved": bool(task.get_variable("withinPolicy")), "approver": "lead-7"})
        self.failed_at[task.get_business_key()] = time.monotonic()
        if topic == "expense.validate":
            # A BPMN error no boundary event catches: the instance ends, without the response step.
            return task.bpmn_error("CLAIM_INVALID", "the claim has no receipt")
        # expense.audit fails for good: no retries left, so Camunda raises an incident.
        return task.failure("the audit service refused the claim", "HTTP 503 from audit", 0, 0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("team-bpmn")  # outside the repository
    (folder / "echo.bpmn").write_text(ECHO_BPMN)
    (folder / "leave-request.bpmn").write_text(LEAVE_REQUEST_BPMN)
    (folder / "expense-claim.bpmn").write_text(process_xml("expense-claim", (*STEPS, "waitroom-respond")))
    # The same steps, and no response step: the process simply ends at its none end event.
    (folder / "expense-plain.bpmn").write_text(process_xml("expense-plain", STEPS))
    (folder / "expense-audit.bpmn").write_text(process_xml("expense-audit", ("expense.audit", "waitroom-respond")))
    (folder / "expense-validate.bpmn").write_text(
        process_xml("expense-validate", ("expense.validate", "waitroom-respond"))
    )
    keys = "echo,leave-request,expense-claim,expense-plain,expense-audit,expense-validate"
    environment = {"ALLOWED_PROCESS_KEYS": keys}
    environment["ENGINE_WATCH_MS"] = str(ENGINE_WATCH_MS)
    with running_stack(tmp_path_factory.mktemp("stack"), None, **environment) as running:
        deploy_bpmn(CamundaClient(running.environment["CAMUNDA_URL"]), folder)
        yield running


@pytest.fixture(scope="module")
def team_worker(stack: LocalStack) -> Iterator[OutsideWorker]:
    worker = OutsideWorker()
    camunda_url = stack.environment["CAMUNDA_URL"]
    with running_worker(camunda_url, OUTSIDE_TOPICS, worker.handle, worker_id="expenses-team", join_timeout_s=10):
        yield worker


def start(stack: LocalStack, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(f"{stack.url}/api/process/start", json=body, headers={**bearer(stack), **headers}, timeout=40)


def test_a_process_whose_only_step_is_the_response_step_answers_with_its_variables(stack: LocalStack) -> None:
    variables = {"greeting": "hello", "count": 2, "tags": ["a", "b"]}
    response = start(stack, {"processKey": "echo", "correlationId": "echo-1", "variables": variables})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["data"]) == ("DONE", variables)


def test_a_process_with_a_person_in_it_is_answered_202_then_200_once_the_task_is_completed(
    stack: LocalStack,
) -> None:
    variables = {"employee": "ada", "manager": "grace", "days": 3}
    response = start(
        stack, {"processKey": "leave-request", "correlationId": "leave-1", "variables": variables}, Prefer="wait=0"
    )
    assert response.status_code == 202, response.text
    status_url = urljoin(stack.url, response.headers["Location"])
    assert requests.get(status_url, headers=bearer(stack), timeout=10).json()["status"] == "PENDING"

    camunda = stack.environment["CAMUNDA_URL"]
    tasks = requests.get(f"{camunda}/task", params={"processInstanceBusinessKey": "leave-1"}, timeout=10).json()
    assert [(task["taskDefinitionKey"], task["assignee"]) for task in tasks] == [("Decide", "grace")]
    decided = {"variables": {"approved": {"value": True, "type": "Boolean"}}}
    completed = requests.post(f"{camunda}/task/{tasks[0]['id']}/complete", json=decided, timeout=10)
    assert completed.status_code == 204, completed.text

    answer = requests.get(status_url, headers={**bearer(stack), "Prefer": f"wait={ENDED_WITHIN_S}"}, timeout=40)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["data"]) == ("DONE", {**variables, "approved": True})


def test_a_process_of_its_own_ends_its_wait_with_the_response_step(
    stack: LocalStack, team_worker: OutsideWorker
) -> None:
    variables = {"employee": "ada", "amount": 120}
    response = start(stack, {"processKey": "expense-claim", "correlationId": "claim-1", "variables": variables})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "DONE"
    # The response step's result: every variable of the instance, the start's and each step's.
    assert body["data"] == {
        "employee": "ada",
        "amount": 120,
        "submittedBy": "ada",
        "withinPolicy": True,
        "approved": True,
        "approver": "lead-7",
    }
    history = requests.get(
        f"{stack.url}/api/process/status/claim-1?history=true", headers=bearer(stack), timeout=10
    ).json()
    assert [step["topic"] for step in history["history"]] == ["waitroom-respond"]


def test_a_process_without_a_response_step_is_answered_with_its_variables_at_its_end(
    stack: LocalStack, team_worker: OutsideWorker
) -> None:
    variables = {"employee": "grace", "amount": 700}
    body = {"processKey": "expense-plain", "correlationId": "plain-1", "variables": variables}
    response = start(stack, body, Prefer=f"wait={ENDED_WITHIN_S}")
    answered = time.monotonic()

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "DONE"
    # The instance's variables when it ended, read from the engine's history.
    assert response.json()["data"] == {
        "employee": "grace",
        "amount": 700,
        "submittedBy": "grace",
        "withinPolicy": False,
        "approved": False,
        "approver": "lead-7",
    }
    ended_after_s = answered - team_worker.finished_at["plain-1"]
    assert ended_after_s < ENDED_WITHIN_S
    print(f"plain end → answer after {ended_after_s:.3f} s (ENGINE_WATCH_MS={ENGINE_WATCH_MS})")


def test_a_step_failed_for_good_by_another_worker_ends_the_wait_in_error(
    stack: LocalStack, team_worker: OutsideWorker
) -> None:
    body = {"processKey": "expense-audit", "correlationId": "audit-1", "variables": {"amount": 9}}
    response = start(stack, body, Prefer=f"wait={ENDED_WITHIN_S}")
    answered = time.monotonic()

    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "INCIDENT"
    assert error["message"] == "step expense.audit failed and has no retries left: the audit service refused the claim"
    ended_after_s = answered - team_worker.failed_at["audit-1"]
    assert ended_after_s < ENDED_WITHIN_S
    print(f"incident → answer after {ended_after_s:.3f} s (ENGINE_WATCH_MS={ENGINE_WATCH_MS})")


def test_a_bpmn_error_no_boundary_event_catches_ends_the_wait_in_error(
    stack: LocalStack, team_worker: OutsideWorker
) -> None:
    body = {"processKey": "expense-validate", "correlationId": "invalid-1", "variables": {"amount": 9}}
    response = start(stack, body, Prefer=f"wait={ENDED_WITHIN_S}")
    answered = time.monotonic()

    assert response.status_code == 500, response.text
    assert response.json()["error"] == {
        "code": "ENDED_WITHOUT_RESULT",
        "message": "the process ended in Camunda at Task_0 (serviceTask) without a result: "
        "a BPMN error that no boundary event caught",
        "activityId": "Task_0",
        "activityType": "serviceTask",
    }
    ended_after_s = answered - team_worker.failed_at["invalid-1"]
    assert ended_after_s < ENDED_WITHIN_S
    print(f"uncaught BPMN error → answer after {ended_after_s:.3f} s (ENGINE_WATCH_MS={ENGINE_WATCH_MS})")
