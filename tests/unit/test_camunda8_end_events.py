"""How Camunda 8's adapter names an end event's kind from its process's XML
(waitroom.adapters.camunda8.engine.end_event_types): Camunda 8's element-instance search gives an
element's type (END_EVENT) only, and the engine watch decides on Camunda 7's activity types."""

from __future__ import annotations

from waitroom.adapters.camunda8.engine import end_event_types

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
