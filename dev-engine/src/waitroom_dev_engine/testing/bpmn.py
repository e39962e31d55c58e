"""BPMN written by tests: processes for Camunda 8's protocol (``zeebe:taskDefinition`` job tasks)."""

from __future__ import annotations


def zeebe_process_xml(key: str, job_types: tuple[str, ...], *, end: str = "none", sub_process: bool = False) -> str:
    """A straight line of job tasks of ``job_types`` (``zeebe:taskDefinition``,
    one retry), then an end event ``End`` whose kind ``end`` is ``none`` or ``terminate``. With
    ``sub_process``, an embedded sub process with an end event of its own (``SubEnd``) comes first."""
    nodes = ["Start", *(["Sub"] if sub_process else []), *(f"Task_{index}" for index in range(len(job_types))), "End"]
    flows = [f"Flow_{index}" for index in range(len(nodes) - 1)]
    tasks = "".join(
        f'<bpmn:serviceTask id="Task_{index}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{job_type}" retries="1" /></bpmn:extensionElements></bpmn:serviceTask>'
        for index, job_type in enumerate(job_types)
    )
    sub = (
        '<bpmn:subProcess id="Sub"><bpmn:startEvent id="SubStart" /><bpmn:endEvent id="SubEnd" />'
        '<bpmn:sequenceFlow id="SubFlow" sourceRef="SubStart" targetRef="SubEnd" /></bpmn:subProcess>'
        if sub_process
        else ""
    )
    definition = "<bpmn:terminateEventDefinition />" if end == "terminate" else ""
    sequence = "".join(
        f'<bpmn:sequenceFlow id="{flow}" sourceRef="{nodes[index]}" targetRef="{nodes[index + 1]}" />'
        for index, flow in enumerate(flows)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
                  id="Definitions_{key}" targetNamespace="https://example.com/{key}">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="Start" />
    {sub}{tasks}
    <bpmn:endEvent id="End">{definition}</bpmn:endEvent>
    {sequence}
  </bpmn:process>
</bpmn:definitions>
"""
