"""Conditions in Camunda's expression language (JUEL), run by the engine on real BPMN.

The cases come from Camunda 7's documentation: the examples of its Unified Expression Language guide
and of its conditional sequence flow reference, the ``execution`` (DelegateExecution) methods the guide
lists among the variables available in expressions, and the coercion rules of the EL specification
that the guide refers to (JUEL implements them; Camunda keeps its own JUEL).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from engine_client import Camunda
from waitroom_dev_engine import EngineServer

_KEYS = itertools.count()


def _process(key: str, condition: str) -> bytes:
    """start -> before (worker) -> decide: the "yes" flow with ``condition``, else the default "no"."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:process id="{key}" name="Expressions" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="before" camunda:type="external" camunda:topic="{key}.before"/>
    <bpmn:exclusiveGateway id="decide" default="toNo"/>
    <bpmn:serviceTask id="yes" camunda:type="external" camunda:topic="{key}.yes"/>
    <bpmn:serviceTask id="no" camunda:type="external" camunda:topic="{key}.no"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="toBefore" sourceRef="start" targetRef="before"/>
    <bpmn:sequenceFlow id="toDecide" sourceRef="before" targetRef="decide"/>
    <bpmn:sequenceFlow id="toYes" sourceRef="decide" targetRef="yes">
      <bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toNo" sourceRef="decide" targetRef="no"/>
    <bpmn:sequenceFlow id="yesToEnd" sourceRef="yes" targetRef="end"/>
    <bpmn:sequenceFlow id="noToEnd" sourceRef="no" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


@pytest.fixture(scope="module")
def camunda(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camunda]:
    server = EngineServer(tmp_path_factory.mktemp("expressions") / "engine.sqlite")
    server.start()
    client = Camunda(server.url)
    yield client
    client.session.close()
    server.stop()


def _deploy(camunda: Camunda, condition: str, tmp_path: Path) -> tuple[str, Any]:
    key = f"juel-{next(_KEYS)}"
    resource = tmp_path / f"{key}.bpmn"
    resource.write_bytes(_process(key, condition))
    return key, camunda.deploy(resource, name=key)


def _decide(
    camunda: Camunda, condition: str, tmp_path: Path, variables: dict[str, Any], business_key: str = "order-7"
) -> tuple[str, Any]:
    """Run ``condition`` at the gateway: the branch taken ("yes"/"no"), or the failed completion."""
    key, deployment = _deploy(camunda, condition, tmp_path)
    assert deployment.status_code == 200, deployment.text
    instance = camunda.start(key, {}, businessKey=business_key)
    task = camunda.fetch_one("juel", f"{key}.before")
    # The instance's ids are known only now; the condition may compare with them.
    ids = {"instanceId": instance["id"], "definitionId": instance["definitionId"]}
    completion = camunda.complete(
        task["id"], "juel", {**variables, **{name: {"value": value} for name, value in ids.items()}}
    )
    if completion.status_code != 204:
        return "failed", completion
    waiting = camunda.get("/external-task", params={"processInstanceId": instance["id"]}).json()
    assert len(waiting) == 1, waiting
    return str(waiting[0]["activityId"]), None


def _typed(value: Any, type_name: str) -> dict[str, Any]:
    return {"value": value, "type": type_name}


# Camunda's conditional sequence flow reference: ${order.price > 100 && order.price < 250}
@pytest.mark.parametrize(("price", "branch"), [(150, "yes"), (250, "no"), (99, "no")])
def test_the_reference_order_price_condition(camunda: Camunda, tmp_path: Path, price: int, branch: str) -> None:
    order = {"value": f'{{"price": {price}}}', "type": "Json"}
    taken, _ = _decide(camunda, "${order.price > 100 && order.price < 250}", tmp_path, {"order": order})
    assert taken == branch


# The Conditions section of the Unified Expression Language guide.
@pytest.mark.parametrize(
    ("condition", "test", "branch"),
    [("${test == false}", _typed(False, "Boolean"), "yes"), ("${test == 'foo'}", _typed("foo", "String"), "yes")],
)
def test_the_guide_conditions(
    camunda: Camunda, tmp_path: Path, condition: str, test: dict[str, Any], branch: str
) -> None:
    assert _decide(camunda, condition, tmp_path, {"test": test})[0] == branch


# The guide's internal context variable `execution` is the DelegateExecution; before, every method but
# getVariable, hasVariable and the business key failed with a 500 "Method not found".
@pytest.mark.parametrize(
    "condition",
    [
        "${execution.getProcessInstanceId() == instanceId}",
        "${execution.processInstanceId == instanceId}",
        "${execution.getProcessDefinitionId() == definitionId}",
        "${execution.getActivityId() == 'decide'}",
        "${execution.getCurrentActivityId() == 'decide'}",
        "${execution.getBusinessKey() == 'order-7'}",
        "${execution.getVariable('score') >= 5}",
        "${execution.getVariableLocal('score') >= 5}",
        "${execution.getVariables().containsKey('score')}",
        "${execution.getVariableNames().contains('score')}",
        "${execution.hasVariable('score') && execution.getTenantId() == null}",
    ],
)
def test_execution_methods_in_conditions(camunda: Camunda, tmp_path: Path, condition: str) -> None:
    assert _decide(camunda, condition, tmp_path, {"score": _typed(7, "Integer")})[0] == "yes"


def test_an_execution_method_the_engine_lacks_is_refused_at_deployment(camunda: Camunda, tmp_path: Path) -> None:
    _key, response = _deploy(camunda, "${execution.setVariable('seen', true)}", tmp_path)

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "ParseException"
    assert "execution.setVariable is not supported by the development engine" in body["message"]
    assert "'toYes'" in body["message"]


# EL 1.9.2 (A == B): if A or B is a Long (or Integer ...), both are coerced to Long. Coercing the
# String "5.0" to Long fails (Long.valueOf), so Camunda fails the command; before, this was true.
def test_a_string_that_is_no_long_fails_an_equality_with_a_long(camunda: Camunda, tmp_path: Path) -> None:
    taken, completion = _decide(camunda, "${x == 5}", tmp_path, {"x": _typed("5.0", "String")})

    assert taken == "failed"
    assert completion.status_code == 500
    assert completion.json()["type"] == "ProcessEngineException"
    assert completion.json()["message"] == (
        "Error while evaluating expression: ${x == 5}. Cause: Cannot coerce '5.0' to class java.lang.Long"
    )


@pytest.mark.parametrize(
    ("condition", "x", "branch"),
    [
        ("${x == 5}", _typed("5", "String"), "yes"),  # "5" coerces to the Long 5
        ("${x == 5.0}", _typed("5.0", "String"), "yes"),  # a Double on one side: both are Doubles
        ("${x == 5}", _typed(5.0, "Double"), "yes"),  # a Double variable against a Long literal
        ("${x > 4}", _typed("5", "String"), "yes"),  # EL 1.8.2: relational operators coerce the same way
        ("${x + 1 == 6}", _typed("5", "String"), "yes"),  # EL 1.7.1: a String without . e E adds as a Long
        ("${x + 1 == 6.5}", _typed("5.5", "String"), "yes"),  # ... and one with a dot as a Double
        ("${x == 'true'}", _typed(True, "Boolean"), "yes"),  # EL 1.9.2: a Boolean side coerces to Boolean
        ("${empty x}", _typed("", "String"), "yes"),  # EL 1.10: the empty string is empty
        ("${x == null}", _typed(None, "Null"), "yes"),
    ],
)
def test_el_coercion(camunda: Camunda, tmp_path: Path, condition: str, x: dict[str, Any], branch: str) -> None:
    assert _decide(camunda, condition, tmp_path, {"x": x})[0] == branch


@pytest.mark.parametrize(
    ("condition", "x", "cause"),
    [
        ("${x > 4}", _typed("5.0", "String"), "Cannot coerce '5.0' to class java.lang.Long"),
        ("${x + 1 > 0}", _typed("abc", "String"), "Cannot coerce 'abc' to class java.lang.Long"),
        ("${x == 1}", _typed(True, "Boolean"), "Cannot coerce from class java.lang.Boolean to class java.lang.Long"),
    ],
)
def test_el_coercion_failures(camunda: Camunda, tmp_path: Path, condition: str, x: dict[str, Any], cause: str) -> None:
    taken, completion = _decide(camunda, condition, tmp_path, {"x": x})

    assert taken == "failed"
    assert completion.json()["message"] == f"Error while evaluating expression: {condition}. Cause: {cause}"


def test_a_condition_that_is_no_boolean_fails_like_camunda(camunda: Camunda, tmp_path: Path) -> None:
    taken, completion = _decide(camunda, "${x}", tmp_path, {"x": _typed("yes", "String")})

    assert taken == "failed"
    assert completion.json()["message"] == (
        "condition expression returns non-Boolean: result has class java.lang.String and not java.lang.Boolean"
    )
