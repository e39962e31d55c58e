"""Message correlation (POST /message) and timer catch events driven by the engine's clock.

Before, POST /message answered 404 and message or timer events were refused at deployment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine_client import BPMN_DIR, Camunda
from waitroom_dev_engine import EngineServer
from waitroom_dev_engine.testing.camunda7 import validate_response

ORDER_EVENTS = BPMN_DIR / "order_events.bpmn"
REMINDER = BPMN_DIR / "reminder.bpmn"
MINUTE = 60_000


@pytest.fixture
def events(camunda: Camunda) -> Camunda:
    response = camunda.deploy(ORDER_EVENTS, REMINDER)
    assert response.status_code == 200, response.text
    return camunda


def _message(camunda: Camunda, status: int, **body: Any) -> Any:
    response = camunda.post("/message", json=body)
    assert response.status_code == status, response.text
    answer = response.json() if response.content else None
    validate_response("POST", "/message", status, answer)
    return answer


def _waiting_at(camunda: Camunda, instance_id: str) -> list[str]:
    """Where the instance waits: its external tasks' activities, or [] when it has ended."""
    if camunda.get(f"/process-instance/{instance_id}").status_code == 404:
        return []
    tasks = camunda.get("/external-task", params={"processInstanceId": instance_id}).json()
    return [task["activityId"] for task in tasks] or ["(message or timer)"]


def test_a_message_starts_an_instance_at_its_message_start_event(events: Camunda) -> None:
    answer = _message(
        events,
        200,
        messageName="OrderPlaced",
        businessKey="order-1",
        processVariables={"orderId": {"value": "A-1", "type": "String"}},
        resultEnabled=True,
        variablesInResultEnabled=True,
    )

    assert len(answer) == 1
    assert answer[0]["resultType"] == "ProcessDefinition"
    assert answer[0]["execution"] is None
    instance = answer[0]["processInstance"]
    assert (instance["definitionKey"], instance["businessKey"], instance["ended"]) == ("order-events", "order-1", False)
    assert answer[0]["variables"]["orderId"]["value"] == "A-1"
    history = events.history(instance["id"])
    assert history["startActivityId"] == "placed"


def test_receive_tasks_and_catch_events_continue_on_their_message(events: Camunda) -> None:
    first = events.start("order-events", {"orderId": {"value": "A-1", "type": "String"}}, businessKey="order-1")
    second = events.start("order-events", {"orderId": {"value": "B-2", "type": "String"}}, businessKey="order-2")
    assert events.history(first["id"])["startActivityId"] == "start"

    _message(events, 204, messageName="PaymentReceived", businessKey="order-1")
    answer = _message(
        events,
        200,
        messageName="Shipped",
        correlationKeys={"orderId": {"value": "A-1", "type": "String"}},
        processVariables={"carrier": {"value": "post", "type": "String"}},
        resultEnabled=True,
    )

    assert answer == [
        {
            "resultType": "Execution",
            "execution": {"id": first["id"], "processInstanceId": first["id"], "ended": False, "tenantId": None},
            "processInstance": None,
        }
    ]
    assert _waiting_at(events, first["id"]) == ["notify"]
    assert _waiting_at(events, second["id"]) == ["(message or timer)"]
    variables = events.get(f"/process-instance/{first['id']}/variables").json()
    assert variables["carrier"]["value"] == "post"


def test_a_message_nothing_waits_for_is_refused_like_camunda(events: Camunda) -> None:
    answer = _message(events, 400, messageName="Shipped", businessKey="nobody")

    assert answer["type"] == "RestException"
    assert answer["message"] == (
        "org.camunda.bpm.engine.MismatchingMessageCorrelationException: Cannot correlate message 'Shipped': "
        "No process definition or execution matches the parameters"
    )


def test_a_message_two_executions_wait_for_is_ambiguous_unless_all(events: Camunda) -> None:
    first = events.start("order-events", businessKey="order-1")["id"]
    second = events.start("order-events", businessKey="order-2")["id"]

    ambiguous = _message(events, 400, messageName="PaymentReceived")
    answer = _message(events, 200, messageName="PaymentReceived", all=True, resultEnabled=True)

    assert ambiguous["type"] == "RestException"
    assert (
        "ENGINE-13009 Cannot correlate a message with name 'PaymentReceived' to a single execution. "
        in (ambiguous["message"])
    )
    assert "2 executions match the correlation keys" in ambiguous["message"]
    assert sorted(result["execution"]["processInstanceId"] for result in answer) == sorted([first, second])


def test_message_requests_camunda_refuses(events: Camunda) -> None:
    no_name = _message(events, 400, processVariables={})
    local = _message(events, 400, messageName="PaymentReceived", processVariablesLocal={"a": {"value": 1}})

    assert no_name["message"] == "No message name supplied"
    assert local["message"] == "Property 'processVariablesLocal' is not supported by the development engine"


def test_a_timer_fires_when_the_engine_clock_passes_its_duration(events: Camunda, engine_server: EngineServer) -> None:
    instance = events.start("reminder")["id"]
    timer = events.get("/external-task", params={"processInstanceId": instance}).json()
    assert timer == []

    assert engine_server.advance_clock(59 * MINUTE) == 0
    assert _waiting_at(events, instance) == ["(message or timer)"]
    assert engine_server.advance_clock(MINUTE) == 1

    assert _waiting_at(events, instance) == ["remind"]


def test_a_timer_date_fires_once_the_clock_reaches_it(events: Camunda, engine_server: EngineServer) -> None:
    instance = events.start("reminder")["id"]
    engine_server.advance_clock(60 * MINUTE)
    task = events.fetch_one("w", "reminder.remind")
    assert events.complete(task["id"], "w").status_code == 204
    new_year = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1000)

    # A minute short of the date, not a millisecond: the engine's clock is the system clock plus an
    # offset, so real time passes between reading it and moving it.
    assert engine_server.advance_clock(new_year - engine_server.engine.clock.now_ms() - MINUTE) == 0
    assert _waiting_at(events, instance) == ["(message or timer)"]
    assert engine_server.advance_clock(MINUTE) == 1

    assert _waiting_at(events, instance) == []
    assert events.history(instance)["state"] == "COMPLETED"


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle>", "needs a timeDuration or a timeDate"),
        ("<bpmn:timeDuration>${delay}</bpmn:timeDuration>", "timer expressions are not supported"),
        ("<bpmn:timeDuration>an hour</bpmn:timeDuration>", "'an hour' is not an ISO 8601 duration"),
    ],
)
def test_timers_the_engine_cannot_run_are_refused_at_deployment(
    camunda: Camunda, tmp_path: Path, definition: str, expected: str
) -> None:
    resource = tmp_path / "timer.bpmn"
    resource.write_text(REMINDER.read_text().replace("<bpmn:timeDuration>PT1H</bpmn:timeDuration>", definition))

    response = camunda.deploy(resource)

    assert response.status_code == 400
    assert "anHourLater" in response.json()["message"]
    assert expected in response.json()["message"]


FAILING_AFTER_TIMER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:process id="failing-after-timer" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:intermediateCatchEvent id="aMinuteLater">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1M</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:exclusiveGateway id="decide"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="toTimer" sourceRef="start" targetRef="aMinuteLater"/>
    <bpmn:sequenceFlow id="toDecide" sourceRef="aMinuteLater" targetRef="decide"/>
    <bpmn:sequenceFlow id="toEnd" sourceRef="decide" targetRef="end">
      <bpmn:conditionExpression>${missing}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_timer_whose_continuation_fails_raises_an_incident(
    camunda: Camunda, engine_server: EngineServer, tmp_path: Path
) -> None:
    resource = tmp_path / "failing_after_timer.bpmn"
    resource.write_text(FAILING_AFTER_TIMER)
    assert camunda.deploy(resource).status_code == 200
    instance = camunda.start("failing-after-timer")["id"]

    assert engine_server.advance_clock(MINUTE) == 1

    incidents = camunda.get("/incident", params={"processInstanceId": instance}).json()
    assert [(incident["incidentType"], incident["activityId"]) for incident in incidents] == [
        ("failedJob", "aMinuteLater")
    ]
    assert incidents[0]["incidentMessage"] == (
        "Unknown property used in expression: ${missing}. Cause: Cannot resolve identifier 'missing'"
    )
    assert _waiting_at(camunda, instance) == ["(message or timer)"]
    assert engine_server.advance_clock(MINUTE) == 0
