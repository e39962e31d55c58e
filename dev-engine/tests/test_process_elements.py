"""What real processes use: input/output mappings, embedded sub processes, error end events and
error boundary events on sub processes, and user tasks completed through the REST API.

Before, each of these was refused at deployment; the expense claim (dev-engine/tests/bpmn/
expense_claim.bpmn) has them all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine_client import BPMN_DIR, Camunda
from waitroom_dev_engine import EngineServer
from waitroom_dev_engine.testing.ecosystem_worker import ExternalTask, TaskResult, running_worker

EXPENSE_CLAIM = BPMN_DIR / "expense_claim.bpmn"


@pytest.fixture
def expenses(camunda: Camunda) -> Camunda:
    response = camunda.deploy(EXPENSE_CLAIM)
    assert response.status_code == 200, response.text
    return camunda


def _claim(amount: int = 120) -> dict[str, Any]:
    return {
        "employee": {"value": "ada", "type": "String"},
        "manager": {"value": "grace", "type": "String"},
        "amount": {"value": amount, "type": "Integer"},
        "reason": {"value": "over budget", "type": "String"},
    }


def _variables(camunda: Camunda, instance_id: str) -> dict[str, Any]:
    response = camunda.get(f"/process-instance/{instance_id}/variables")
    assert response.status_code == 200, response.text
    variables: dict[str, Any] = response.json()
    return variables


def _checked(camunda: Camunda, business_key: str, amount: int = 120) -> str:
    """Start a claim and let its check pass; returns the instance id (now at the user task)."""
    instance = camunda.start("expense-claim", _claim(amount), businessKey=business_key)
    check = camunda.fetch_one("w", "expense.check", businessKey=business_key)
    assert camunda.complete(check["id"], "w", {"verdict": {"value": "ok", "type": "String"}}).status_code == 204
    instance_id: str = instance["id"]
    return instance_id


def _user_task(camunda: Camunda, instance_id: str) -> dict[str, Any]:
    tasks = camunda.get("/task", params={"processInstanceId": instance_id}).json()
    assert len(tasks) == 1, tasks
    task: dict[str, Any] = tasks[0]
    return task


def _complete_task(camunda: Camunda, task_id: str, **variables: Any) -> None:
    body = {"variables": {name: {"value": value} for name, value in variables.items()}}
    response = camunda.post(f"/task/{task_id}/complete", json=body)
    assert response.status_code == 204, response.text


# Input/output mappings -----------------------------------------------------------------------------


def test_input_parameters_become_the_external_task_s_local_variables(expenses: Camunda) -> None:
    instance = expenses.start("expense-claim", _claim())

    task = expenses.fetch_one("w", "expense.check")

    variables = task["variables"]
    assert variables["limit"] == {"type": "String", "value": "500", "valueInfo": {}}
    # ${name} keeps the variable's type; other expressions give JUEL's (a Long for integers).
    assert variables["claimant"] == {"type": "String", "value": "ada", "valueInfo": {}}
    assert variables["doubled"] == {"type": "Long", "value": 240, "valueInfo": {}}
    assert variables["nothing"] == {"type": "Null", "value": None, "valueInfo": {}}
    assert variables["reviewers"]["type"] == "Object"
    assert json.loads(variables["reviewers"]["value"]) == ["finance", "grace"]
    assert variables["reviewers"]["valueInfo"]["objectTypeName"] == "java.util.ArrayList"
    assert json.loads(variables["routing"]["value"]) == {"channel": "web", "amount": 120}
    # With a mapping the task sees its local variables and the process's.
    assert variables["employee"]["value"] == "ada"
    assert task["executionId"] != instance["id"]
    # The process instance itself does not hold the task's local variables.
    assert set(_variables(expenses, instance["id"])) == {"employee", "manager", "amount", "reason"}


def test_fetch_variables_and_local_variables_filter_what_the_task_sees(expenses: Camunda) -> None:
    expenses.start("expense-claim", _claim(), businessKey="filtered")
    expenses.start("expense-claim", _claim(), businessKey="local")

    filtered = expenses.fetch_one("w", "expense.check", businessKey="filtered", variables=["limit", "amount"])
    local = expenses.fetch_one("w", "expense.check", businessKey="local", localVariables=True)

    assert set(filtered["variables"]) == {"limit", "amount"}
    assert set(local["variables"]) == {"limit", "claimant", "doubled", "nothing", "reviewers", "routing"}


def test_output_parameters_map_local_variables_to_the_process_on_completion(expenses: Camunda) -> None:
    instance = expenses.start("expense-claim", _claim())
    task = expenses.fetch_one("w", "expense.check")

    completed = expenses.complete(task["id"], "w", {"verdict": {"value": "ok", "type": "String"}})

    assert completed.status_code == 204
    variables = _variables(expenses, instance["id"])
    assert variables["withinLimit"] == {"type": "Boolean", "value": True, "valueInfo": {}}
    assert variables["checkedBy"] == {"type": "String", "value": "ada", "valueInfo": {}}
    # In an output mapping the local forms read the task's own variables only.
    assert variables["limitSeen"]["value"] == "500"
    assert variables["amountIsLocal"]["value"] is False
    # A completion variable the task has no local variable for lands in the process, as in Camunda.
    assert variables["verdict"]["value"] == "ok"
    # The local variables end with the task.
    assert not {"limit", "claimant", "doubled", "reviewers", "routing"} & set(variables)


def test_a_completion_variable_named_like_a_local_one_stays_local(expenses: Camunda) -> None:
    instance = expenses.start("expense-claim", _claim(amount=120))
    task = expenses.fetch_one("w", "expense.check")

    expenses.complete(task["id"], "w", {"verdict": {"value": "ok"}, "limit": {"value": 100, "type": "Integer"}})

    variables = _variables(expenses, instance["id"])
    # setVariable finds "limit" on the task's own scope: the output mapping sees 100 there.
    assert variables["withinLimit"]["value"] is False
    assert "limit" not in variables


def test_a_failing_output_expression_fails_the_completion_and_keeps_the_task(expenses: Camunda) -> None:
    expenses.start("expense-claim", _claim())
    task = expenses.fetch_one("w", "expense.check")

    # withinLimit reads ${verdict}, which nobody set.
    failed = expenses.complete(task["id"], "w")

    assert failed.status_code == 500
    assert "Unknown property used in expression: ${verdict == 'ok' && amount <= limit}" in failed.json()["message"]
    assert expenses.get(f"/external-task/{task['id']}").status_code == 200


# User tasks ----------------------------------------------------------------------------------------


def test_a_user_task_waits_in_its_sub_process_and_is_listed(expenses: Camunda) -> None:
    instance_id = _checked(expenses, "claim-7")

    by_instance = expenses.get("/task", params={"processInstanceId": instance_id}).json()
    by_business_key = expenses.get("/task", params={"processInstanceBusinessKey": "claim-7"}).json()
    by_key = expenses.get("/task", params={"taskDefinitionKey": "approve"}).json()
    other_key = expenses.get("/task", params={"taskDefinitionKey": "check"}).json()
    other_business_key = expenses.get("/task", params={"processInstanceBusinessKey": "claim-8"}).json()

    assert len(by_instance) == 1
    task = by_instance[0]
    assert by_business_key == by_instance
    assert by_key == by_instance
    assert other_key == []
    assert other_business_key == []
    assert task["name"] == "Approve expense"
    assert task["assignee"] == "grace"
    assert task["description"] == "Approve or reject the claim"
    assert task["formKey"] == "embedded:app:forms/approve.html"
    assert task["priority"] == 50
    assert task["taskDefinitionKey"] == "approve"
    assert task["processInstanceId"] == instance_id
    assert task["processDefinitionId"].startswith("expense-claim:1:")
    assert expenses.get(f"/task/{task['id']}").json() == task
    assert expenses.get("/task/count", params={"processInstanceBusinessKey": "claim-7"}).json() == {"count": 1}
    assert expenses.get("/external-task", params={"processInstanceId": instance_id}).json() == []


def test_the_task_query_applies_its_filters_and_refuses_the_others(expenses: Camunda) -> None:
    instance_id = _checked(expenses, "queried")
    task_id = _user_task(expenses, instance_id)["id"]

    def ids(**params: str) -> list[str]:
        response = expenses.get("/task", params=params)
        assert response.status_code == 200, response.text
        return [task["id"] for task in response.json()]

    assert ids(assigneeIn="grace,alan") == [task_id]
    assert ids(assigneeNotIn="grace") == []
    assert ids(nameLike="Approve%") == [task_id]
    assert ids(nameNotLike="Approve%") == []
    assert ids(taskDefinitionKeyNotIn="check,approve") == []
    assert ids(createdAfter="2000-01-01T00:00:00.000+0000", withoutDueDate="true") == [task_id]
    assert ids(dueBefore="2999-01-01T00:00:00.000+0000") == []
    assert ids(minPriority="50", maxPriority="50", unassigned="false") == [task_id]
    refused = expenses.get("/task", params={"candidateGroup": "finance"})
    assert refused.status_code == 400
    assert refused.json()["message"] == "Query parameter 'candidateGroup' is not supported by the development engine"


def test_completing_a_user_task_moves_the_process_on(expenses: Camunda) -> None:
    instance_id = _checked(expenses, "claim-9")
    task = _user_task(expenses, instance_id)

    _complete_task(expenses, task["id"], approved=True)
    again = expenses.post(f"/task/{task['id']}/complete", json={})
    gone = expenses.get(f"/task/{task['id']}")

    pay = expenses.fetch_one("w", "expense.pay")
    assert pay["processInstanceId"] == instance_id
    variables = _variables(expenses, instance_id)
    assert variables["approved"] == {"type": "Boolean", "value": True, "valueInfo": {}}
    assert variables["decision"]["value"] == "approved"
    assert "claimAmount" not in variables
    assert again.status_code == 500
    assert again.json()["message"] == (
        f"Cannot complete task {task['id']}: Cannot find task with id {task['id']}: task is null"
    )
    assert gone.status_code == 404
    assert gone.json() == {
        "type": "InvalidRequestException",
        "message": f"No matching task with id {task['id']}",
        "code": None,
    }


def test_complete_can_return_the_process_variables(expenses: Camunda) -> None:
    instance_id = _checked(expenses, "claim-10")
    task = _user_task(expenses, instance_id)

    response = expenses.post(
        f"/task/{task['id']}/complete",
        json={"variables": {"approved": {"value": True}}, "withVariablesInReturn": True},
    )

    assert response.status_code == 200
    assert response.json()["decision"] == {"type": "String", "value": "approved", "valueInfo": {}}


def test_a_user_task_in_a_sub_process_survives_a_restart(engine_db: Path) -> None:
    with EngineServer(engine_db) as first:
        camunda = Camunda(first.url)
        camunda.deploy(EXPENSE_CLAIM)
        instance_id = _checked(camunda, "persisted")
        task = _user_task(camunda, instance_id)
        camunda.session.close()

    with EngineServer(engine_db) as second:
        camunda = Camunda(second.url)
        _complete_task(camunda, task["id"], approved=True)
        pay = camunda.fetch_one("w", "expense.pay")
        camunda.session.close()

    assert pay["processInstanceId"] == instance_id


# Errors ---------------------------------------------------------------------------------------------


def test_an_error_end_event_in_a_sub_process_is_caught_by_its_boundary_event(expenses: Camunda) -> None:
    instance_id = _checked(expenses, "rejected")
    task = _user_task(expenses, instance_id)

    _complete_task(expenses, task["id"], approved=False)

    notify = expenses.fetch_one("w", "expense.notify")
    assert notify["processInstanceId"] == instance_id
    assert notify["variables"]["rejectionCode"]["value"] == "REJECTED"
    # The error's camunda:errorMessage, ${reason}, evaluated when the error is thrown.
    assert notify["variables"]["rejectionMessage"]["value"] == "over budget"
    assert expenses.get("/task", params={"processInstanceId": instance_id}).json() == []
    assert expenses.fetch("w", "expense.pay") == []
    assert expenses.complete(notify["id"], "w").status_code == 204
    assert expenses.history(instance_id)["state"] == "COMPLETED"


def test_a_bpmn_error_of_a_task_is_caught_by_the_enclosing_sub_process(expenses: Camunda) -> None:
    instance_id = _checked(expenses, "unpaid")
    _complete_task(expenses, _user_task(expenses, instance_id)["id"], approved=True)
    pay = expenses.fetch_one("w", "expense.pay")

    thrown = expenses.post(
        f"/external-task/{pay['id']}/bpmnError",
        json={"workerId": "w", "errorCode": "PAYMENT_FAILED", "errorMessage": "card declined"},
    )

    assert thrown.status_code == 204
    notify = expenses.fetch_one("w", "expense.notify")
    assert notify["variables"]["paymentError"]["value"] == "PAYMENT_FAILED"
    assert notify["variables"]["paymentErrorMessage"]["value"] == "card declined"
    assert expenses.fetch("w", "expense.archive") == []


def test_an_uncaught_bpmn_error_ends_its_token_like_a_none_end_event(expenses: Camunda) -> None:
    instance_id = _checked(expenses, "uncaught")
    _complete_task(expenses, _user_task(expenses, instance_id)["id"], approved=True)
    pay = expenses.fetch_one("w", "expense.pay")

    thrown = expenses.post(f"/external-task/{pay['id']}/bpmnError", json={"workerId": "w", "errorCode": "OTHER"})

    # Nothing catches OTHER: the sub process's only token ends, so the sub process completes and
    # the process continues after it (Camunda's default, enableExceptionsAfterUnhandledBpmnError false).
    assert thrown.status_code == 204
    archive = expenses.fetch_one("w", "expense.archive")
    assert archive["processInstanceId"] == instance_id
    assert expenses.fetch("w", "expense.notify") == []


UNCAUGHT_ERROR_END = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:error id="Broken" errorCode="BROKEN"/>
  <bpmn:process id="uncaught-error-end" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:subProcess id="inner">
      <bpmn:startEvent id="innerStart"/>
      <bpmn:endEvent id="innerError"><bpmn:errorEventDefinition errorRef="Broken"/></bpmn:endEvent>
      <bpmn:sequenceFlow id="i1" sourceRef="innerStart" targetRef="innerError"/>
    </bpmn:subProcess>
    <bpmn:serviceTask id="after" camunda:type="external" camunda:topic="after"/>
    <bpmn:endEvent id="outerError"><bpmn:errorEventDefinition errorRef="Broken"/></bpmn:endEvent>
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="inner"/>
    <bpmn:sequenceFlow id="b" sourceRef="inner" targetRef="after"/>
    <bpmn:sequenceFlow id="c" sourceRef="after" targetRef="outerError"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_an_uncaught_error_end_event_behaves_like_a_none_end_event(camunda: Camunda, tmp_path: Path) -> None:
    resource = tmp_path / "uncaught_error_end.bpmn"
    resource.write_text(UNCAUGHT_ERROR_END)
    assert camunda.deploy(resource).status_code == 200
    instance = camunda.start("uncaught-error-end")

    after = camunda.fetch_one("w", "after")
    camunda.complete(after["id"], "w")

    assert after["processInstanceId"] == instance["id"]
    assert camunda.history(instance["id"])["state"] == "COMPLETED"


NESTED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:error id="Late" errorCode="LATE"/>
  <bpmn:process id="nested" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:subProcess id="outer">
      <bpmn:startEvent id="outerStart"/>
      <bpmn:subProcess id="inner">
        <bpmn:startEvent id="innerStart"/>
        <bpmn:serviceTask id="work" camunda:type="external" camunda:topic="nested.work"/>
        <bpmn:endEvent id="innerEnd"/>
        <bpmn:sequenceFlow id="i1" sourceRef="innerStart" targetRef="work"/>
        <bpmn:sequenceFlow id="i2" sourceRef="work" targetRef="innerEnd"/>
      </bpmn:subProcess>
      <bpmn:endEvent id="outerEnd"/>
      <bpmn:sequenceFlow id="o1" sourceRef="outerStart" targetRef="inner"/>
      <bpmn:sequenceFlow id="o2" sourceRef="inner" targetRef="outerEnd"/>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="onLate" attachedToRef="outer">
      <bpmn:errorEventDefinition errorRef="Late" camunda:errorCodeVariable="lateCode"/>
    </bpmn:boundaryEvent>
    <bpmn:serviceTask id="apologise" camunda:type="external" camunda:topic="nested.apologise"/>
    <bpmn:serviceTask id="deliver" camunda:type="external" camunda:topic="nested.deliver"/>
    <bpmn:endEvent id="end"/>
    <bpmn:endEvent id="apologised"/>
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="outer"/>
    <bpmn:sequenceFlow id="b" sourceRef="outer" targetRef="deliver"/>
    <bpmn:sequenceFlow id="c" sourceRef="deliver" targetRef="end"/>
    <bpmn:sequenceFlow id="d" sourceRef="onLate" targetRef="apologise"/>
    <bpmn:sequenceFlow id="e" sourceRef="apologise" targetRef="apologised"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_nested_sub_processes_complete_and_pass_errors_outwards(camunda: Camunda, tmp_path: Path) -> None:
    resource = tmp_path / "nested.bpmn"
    resource.write_text(NESTED)
    assert camunda.deploy(resource).status_code == 200
    completed = camunda.start("nested", businessKey="completed")
    failed = camunda.start("nested", businessKey="failed")

    camunda.complete(camunda.fetch_one("w", "nested.work", businessKey="completed")["id"], "w")
    work = camunda.fetch_one("w", "nested.work", businessKey="failed")
    camunda.post(f"/external-task/{work['id']}/bpmnError", json={"workerId": "w", "errorCode": "LATE"})

    deliver = camunda.fetch_one("w", "nested.deliver")
    apologise = camunda.fetch_one("w", "nested.apologise")
    # Inside a sub process a task runs in the sub process's execution, as in Camunda.
    assert work["executionId"] != work["processInstanceId"]
    assert deliver["executionId"] == deliver["processInstanceId"]
    assert deliver["processInstanceId"] == completed["id"]
    assert apologise["processInstanceId"] == failed["id"]
    assert apologise["variables"]["lateCode"]["value"] == "LATE"


# Still refused at deployment ------------------------------------------------------------------------

REFUSED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:process id="refused" isExecutable="true">
    <bpmn:startEvent id="start"/>
    {element}
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="culprit"/>
    <bpmn:sequenceFlow id="b" sourceRef="culprit" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (
            '<bpmn:callActivity id="culprit" calledElement="other"/>',
            "callActivity 'culprit' is not supported by the development engine",
        ),
        (
            '<bpmn:userTask id="culprit"><bpmn:extensionElements><camunda:taskListener event="create" '
            'class="a.B"/></bpmn:extensionElements></bpmn:userTask>',
            "camunda:taskListener on 'culprit' is not supported by the development engine",
        ),
        (
            '<bpmn:userTask id="culprit" camunda:dueDate="${tomorrow}"/>',
            "camunda:dueDate on userTask 'culprit' is not supported by the development engine",
        ),
        (
            '<bpmn:subProcess id="culprit"><bpmn:extensionElements><camunda:inputOutput>'
            '<camunda:inputParameter name="x">1</camunda:inputParameter></camunda:inputOutput>'
            '</bpmn:extensionElements><bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>'
            '<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/></bpmn:subProcess>',
            "camunda:inputOutput on 'culprit' is not supported by the development engine",
        ),
        (
            '<bpmn:serviceTask id="culprit" camunda:type="external" camunda:topic="t"><bpmn:extensionElements>'
            '<camunda:inputOutput><camunda:inputParameter name="x"><camunda:script scriptFormat="groovy">1'
            "</camunda:script></camunda:inputParameter></camunda:inputOutput></bpmn:extensionElements>"
            "</bpmn:serviceTask>",
            "camunda:script in the input/output mapping of 'culprit' is not supported by the development engine",
        ),
        (
            '<bpmn:userTask id="culprit" camunda:formKey="${form}"/>',
            "camunda:formKey expressions on userTask 'culprit' are not supported",
        ),
        (
            '<bpmn:businessRuleTask id="culprit" camunda:decisionRef="d"/>',
            "businessRuleTask 'culprit' is not supported by the development engine",
        ),
    ],
    ids=[
        "call activity",
        "task listener",
        "due date",
        "sub process mapping",
        "script mapping",
        "form key expression",
        "business rule",
    ],
)
def test_what_is_still_unsupported_is_refused_at_deployment_naming_the_element(
    camunda: Camunda, tmp_path: Path, element: str, message: str
) -> None:
    resource = tmp_path / "refused.bpmn"
    resource.write_text(REFUSED.format(element=element))

    response = camunda.deploy(resource)

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "ParseException"
    assert message in body["message"]
    errors = body["details"]["refused.bpmn"]["errors"]
    assert [error["mainElementId"] for error in errors] == ["culprit"]
    assert camunda.get("/process-definition/key/refused").status_code == 404


EVENT_SUB_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:error id="Broken" errorCode="BROKEN"/>
  <bpmn:process id="event-sub-process" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="end"/>
    <bpmn:subProcess id="onBroken" triggeredByEvent="true">
      <bpmn:startEvent id="caught"><bpmn:errorEventDefinition errorRef="Broken"/></bpmn:startEvent>
      <bpmn:endEvent id="handled"/>
      <bpmn:sequenceFlow id="b" sourceRef="caught" targetRef="handled"/>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""


def test_an_event_sub_process_is_refused_at_deployment(camunda: Camunda, tmp_path: Path) -> None:
    resource = tmp_path / "event_sub_process.bpmn"
    resource.write_text(EVENT_SUB_PROCESS)

    response = camunda.deploy(resource)

    assert response.status_code == 400
    assert "subProcess 'onBroken' is not supported by the development engine" in response.json()["message"]


# The ecosystem's worker client -----------------------------------------------------------------------


def test_the_real_external_task_client_works_a_four_step_expense_process(engine_db: Path) -> None:
    with EngineServer(engine_db) as server:
        camunda = Camunda(server.url)
        camunda.deploy(EXPENSE_CLAIM)
        instance = camunda.start("expense-claim", _claim(), businessKey="client")
        seen: list[tuple[str, Any]] = []

        def handle(task: ExternalTask) -> TaskResult:
            topic = task.get_topic_name()
            seen.append((topic, task.get_variable("limit")))
            if topic == "expense.check":
                return task.complete({"verdict": "ok"})
            return task.complete({f"{topic.removeprefix('expense.')}Done": True})

        topics = ["expense.check", "expense.pay", "expense.archive"]
        with running_worker(server.url, topics, handle, worker_id="python-client") as thread:
            deadline = time.monotonic() + 10
            tasks: list[Any] = []
            while not tasks and time.monotonic() < deadline:
                tasks = camunda.get("/task", params={"processInstanceBusinessKey": "client"}).json()
                time.sleep(0.05)
            assert len(tasks) == 1, tasks
            # The person's step, through the REST API as a tasklist would.
            _complete_task(camunda, tasks[0]["id"], approved=True)
            while camunda.history(instance["id"])["state"] == "ACTIVE" and time.monotonic() < deadline:
                time.sleep(0.05)
        history = camunda.history(instance["id"])
        variables_seen = seen
        camunda.session.close()

    assert not thread.is_alive()
    assert history["state"] == "COMPLETED"
    # The check's input mapping gives it "limit"; the other steps have no such variable.
    assert variables_seen == [("expense.check", "500"), ("expense.pay", None), ("expense.archive", None)]
