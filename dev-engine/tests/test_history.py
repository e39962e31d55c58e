"""The activity and variable history the engine keeps (dev-engine/README.md, History): how an
instance ended (the activity instances that completed a scope) and the variables of its own scope,
as Camunda's history at level ``audit`` answers for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_client import Camunda

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:error id="Rejected" errorCode="REJECTED"/>
"""

# A step, then a gateway on ``route``: a none end, a terminate end, an error end (uncaught), or an
# embedded sub process that ends at its own none end before the process's.
ENDINGS = (
    HEADER
    + """  <bpmn:process id="endings" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="decide" camunda:type="external" camunda:topic="endings.decide">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="scratch">local only</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="route" default="toPlain"/>
    <bpmn:endEvent id="plainEnd"/>
    <bpmn:endEvent id="stopEnd"><bpmn:terminateEventDefinition/></bpmn:endEvent>
    <bpmn:endEvent id="rejectEnd"><bpmn:errorEventDefinition errorRef="Rejected"/></bpmn:endEvent>
    <bpmn:subProcess id="inner">
      <bpmn:startEvent id="innerStart"/>
      <bpmn:endEvent id="innerEnd"/>
      <bpmn:sequenceFlow id="i1" sourceRef="innerStart" targetRef="innerEnd"/>
    </bpmn:subProcess>
    <bpmn:endEvent id="afterInner"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
    <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="route"/>
    <bpmn:sequenceFlow id="toPlain" sourceRef="route" targetRef="plainEnd"/>
    <bpmn:sequenceFlow id="toStop" sourceRef="route" targetRef="stopEnd">
      <bpmn:conditionExpression>${way == 'stop'}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toReject" sourceRef="route" targetRef="rejectEnd">
      <bpmn:conditionExpression>${way == 'reject'}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toInner" sourceRef="route" targetRef="inner">
      <bpmn:conditionExpression>${way == 'inner'}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="inner" targetRef="afterInner"/>
  </bpmn:process>
</bpmn:definitions>
"""
)


def _deployed(camunda: Camunda, tmp_path: Path) -> Camunda:
    resource = tmp_path / "endings.bpmn"
    resource.write_text(ENDINGS)
    response = camunda.deploy(resource)
    assert response.status_code == 200, response.text
    return camunda


def _run(camunda: Camunda, way: str, *, bpmn_error: bool = False) -> str:
    instance = camunda.start("endings", {"way": {"value": way, "type": "String"}, "amount": {"value": 10}})
    task = camunda.fetch_one("w", "endings.decide", processInstanceId=instance["id"])
    if bpmn_error:
        response = camunda.post(f"/external-task/{task['id']}/bpmnError", json={"workerId": "w", "errorCode": "NOPE"})
    else:
        response = camunda.complete(task["id"], "w", {"verdict": {"value": "fine", "type": "String"}})
    assert response.status_code == 204, response.text
    instance_id: str = instance["id"]
    assert camunda.history(instance_id)["state"] == "COMPLETED"
    return instance_id


def _scope_ends(camunda: Camunda, instance_id: str) -> list[tuple[str, str, bool]]:
    """(activity, type, whether it completed the instance's own scope)."""
    response = camunda.get(
        "/history/activity-instance", params={"processInstanceId": instance_id, "completeScope": "true"}
    )
    assert response.status_code == 200, response.text
    return [
        (found["activityId"], found["activityType"], found["parentActivityInstanceId"] == instance_id)
        for found in response.json()
    ]


def _variables(camunda: Camunda, instance_id: str, **params: str) -> dict[str, Any]:
    response = camunda.get(
        "/history/variable-instance",
        params={"processInstanceId": instance_id, "activityInstanceIdIn": instance_id, **params},
    )
    assert response.status_code == 200, response.text
    return {found["name"]: (found["type"], found["value"], found["state"]) for found in response.json()}


def test_each_way_of_ending_is_told_by_the_activity_that_completed_the_instance_s_scope(
    camunda: Camunda, tmp_path: Path
) -> None:
    engine = _deployed(camunda, tmp_path)
    assert _scope_ends(engine, _run(engine, "plain")) == [("plainEnd", "noneEndEvent", True)]
    assert _scope_ends(engine, _run(engine, "stop")) == [("stopEnd", "terminateEndEvent", True)]
    assert _scope_ends(engine, _run(engine, "reject")) == [("rejectEnd", "errorEndEvent", True)]
    # The sub process's end completes the sub process's scope; the instance's ends at afterInner.
    assert sorted(_scope_ends(engine, _run(engine, "inner"))) == [
        ("afterInner", "noneEndEvent", True),
        ("innerEnd", "noneEndEvent", False),
    ]
    # Camunda's BpmnExceptionHandler ends an uncaught error's task with end(true): it completes the scope.
    assert _scope_ends(engine, _run(engine, "plain", bpmn_error=True)) == [("decide", "serviceTask", True)]


def test_the_variable_history_keeps_the_instance_s_own_variables_after_it_ends(
    camunda: Camunda, tmp_path: Path
) -> None:
    engine = _deployed(camunda, tmp_path)
    instance_id = _run(engine, "plain")

    assert _variables(engine, instance_id) == {
        "way": ("String", "plain", "CREATED"),
        "amount": ("Integer", 10, "CREATED"),
        "verdict": ("String", "fine", "CREATED"),
    }, "the input mapping's local variable (scratch) is not the instance's"
    count = engine.get("/history/variable-instance/count", params={"processInstanceId": instance_id})
    assert count.json() == {"count": 3}


def test_an_updated_variable_keeps_one_history_row_and_a_removed_one_reads_deleted(
    camunda: Camunda, tmp_path: Path
) -> None:
    engine = _deployed(camunda, tmp_path)
    instance = engine.start("endings", {"way": {"value": "plain", "type": "String"}, "amount": {"value": 10}})
    instance_id = instance["id"]
    before = engine.get("/history/variable-instance", params={"processInstanceId": instance_id}).json()
    modification = {"modifications": {"amount": {"value": 12, "type": "Integer"}}, "deletions": ["way"]}
    assert engine.post(f"/process-instance/{instance_id}/variables", json=modification).status_code == 204

    assert _variables(engine, instance_id) == {"amount": ("Integer", 12, "CREATED")}
    assert _variables(engine, instance_id, includeDeleted="true") == {
        "amount": ("Integer", 12, "CREATED"),
        "way": ("String", "plain", "DELETED"),
    }
    after = engine.get("/history/variable-instance", params={"processInstanceId": instance_id}).json()
    assert [row["id"] for row in after] == [row["id"] for row in before if row["name"] == "amount"]


def test_the_activity_history_refuses_what_it_does_not_keep(camunda: Camunda) -> None:
    response = camunda.get("/history/activity-instance", params={"processInstanceId": "any"})
    assert response.status_code == 400
    assert "completeScope" in response.json()["message"]
    refused = camunda.get("/history/variable-instance", params={"variableValue": "x"})
    assert refused.status_code == 400
    assert refused.json()["message"] == "Query parameter 'variableValue' is not supported by the development engine"


def test_deleting_an_instance_s_history_deletes_its_activity_and_variable_history(
    camunda: Camunda, tmp_path: Path
) -> None:
    engine = _deployed(camunda, tmp_path)
    instance_id = _run(engine, "plain")
    assert engine.delete(f"/history/process-instance/{instance_id}").status_code == 204
    assert _scope_ends(engine, instance_id) == []
    assert _variables(engine, instance_id, includeDeleted="true") == {}
