"""How Camunda 8's adapter names an end event's kind from its process's XML
(waitroom.adapters.camunda8.engine.end_event_types): Camunda 8's element-instance search gives an
element's type (END_EVENT) only, and the engine watch decides on Camunda 7's activity types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from waitroom.adapters.camunda8.client import Camunda8Client
from waitroom.adapters.camunda8.engine import Camunda8Engine, end_event_types
from waitroom.domain.errors import CamundaFailed
from waitroom.service.ports import ScopeEnd

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:error id="Err" errorCode="E" />
  <bpmn:process id="kinds" isExecutable="true">
    <bpmn:endEvent id="Plain" />
    <bpmn:endEvent id="Stop"><bpmn:terminateEventDefinition /></bpmn:endEvent>
    <bpmn:endEvent id="Fails"><bpmn:errorEventDefinition errorRef="Err" /></bpmn:endEvent>
    <bpmn:endEvent id="Says"><bpmn:incoming>f</bpmn:incoming><bpmn:messageEventDefinition /></bpmn:endEvent>
    <bpmn:endEvent id="Shouts"><bpmn:signalEventDefinition /></bpmn:endEvent>
    <bpmn:endEvent id="Raises"><bpmn:escalationEventDefinition /></bpmn:endEvent>
    <bpmn:subProcess id="Sub">
      <bpmn:endEvent id="SubStop"><bpmn:terminateEventDefinition /></bpmn:endEvent>
    </bpmn:subProcess>
    <bpmn:intermediateThrowEvent id="NotAnEnd"><bpmn:signalEventDefinition /></bpmn:intermediateThrowEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_each_end_event_is_named_by_its_event_definition_as_camunda_7_names_it() -> None:
    assert end_event_types(PROCESS) == {
        "Plain": "noneEndEvent",
        "Stop": "terminateEndEvent",
        "Fails": "errorEndEvent",
        "Says": "messageEndEvent",
        "Shouts": "signalEndEvent",
        "Raises": "escalationEndEvent",
        "SubStop": "terminateEndEvent",
    }


class OneEndEvent(Camunda8Client):
    """Camunda 8 answering that the instance reached the end event ``End``, and ``xml`` as its process."""

    def __init__(self, xml: str | None) -> None:
        super().__init__("http://camunda.invalid/v2")
        self.xml = xml
        self.xml_reads = 0

    def search(self, path: str, body: Mapping[str, Any], *, page_size: int = 100) -> list[dict[str, Any]]:
        assert path == "/element-instances/search"
        return [{"elementId": "End", "processDefinitionKey": "7"}]

    def text(self, path: str) -> str | None:
        assert path == "/process-definitions/7/xml"
        self.xml_reads += 1
        return self.xml


def test_an_end_event_s_kind_is_read_once_per_definition_and_never_guessed() -> None:
    camunda = OneEndEvent(PROCESS.replace('id="Stop"', 'id="End"'))
    engine = Camunda8Engine(camunda)
    assert engine.scope_ends("1") == engine.scope_ends("2") == [ScopeEnd("End", "terminateEndEvent")]
    assert camunda.xml_reads == 1
    # An end event its XML does not hold, no XML, or XML that does not parse: Camunda failed, and
    # the instance is not taken for one that ended plainly.
    for xml in (PROCESS, None, "<bpmn:definitions"):
        with pytest.raises(CamundaFailed):
            Camunda8Engine(OneEndEvent(xml)).scope_ends("1")
