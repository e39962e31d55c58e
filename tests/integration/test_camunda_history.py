"""Waitroom's Camunda adapter reading how an instance ended and its variables from the development
engine's history (dev-engine/README.md, History): the instance's own scope only, page by page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from waitroom.adapters.camunda import client as client_module
from waitroom.adapters.camunda.client import CamundaClient, FetchTopic
from waitroom.adapters.camunda.engine import CamundaEngine
from waitroom.service.ports import ScopeEnd
from waitroom_dev_engine import EngineServer

# A step with a local input parameter, then an embedded sub process that ends at its own none end
# before the process's: neither the local variable nor the sub process's end is the instance's own.
ENDINGS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:process id="endings" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="decide" camunda:type="external" camunda:topic="endings.decide">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="scratch">local only</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:subProcess id="inner">
      <bpmn:startEvent id="innerStart"/>
      <bpmn:endEvent id="innerEnd"/>
      <bpmn:sequenceFlow id="i1" sourceRef="innerStart" targetRef="innerEnd"/>
    </bpmn:subProcess>
    <bpmn:endEvent id="afterInner"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
    <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="inner"/>
    <bpmn:sequenceFlow id="f3" sourceRef="inner" targetRef="afterInner"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[CamundaClient]:
    server = EngineServer(tmp_path / "engine.sqlite")
    server.start()
    camunda = CamundaClient(server.url)
    yield camunda
    camunda.close()
    server.stop()


def test_waitroom_reads_how_an_instance_ended_and_its_variables_page_by_page(
    client: CamundaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.create_deployment("tests", {"endings.bpmn": ENDINGS})
    instance_id = client.start_process(
        "endings", business_key="b-1", variables={"way": {"value": "inner", "type": "String"}, "amount": {"value": 10}}
    )["id"]
    (task,) = client.fetch_and_lock(
        worker_id="w",
        topics=[FetchTopic("endings.decide", lock_duration_ms=60_000)],
        max_tasks=1,
        async_response_timeout_ms=0,
    )
    client.complete_task(task["id"], worker_id="w", variables={"verdict": {"value": "fine", "type": "String"}})
    monkeypatch.setattr(client_module, "PAGE", 2)
    waitroom = CamundaEngine(client, string_max_chars=4000)

    assert waitroom.scope_ends(instance_id) == [ScopeEnd("afterInner", "noneEndEvent")], "the instance's own only"
    assert waitroom.final_variables(instance_id) == {"way": "inner", "amount": 10, "verdict": "fine"}
