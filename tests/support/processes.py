"""BPMN of processes Waitroom has never seen, written by the tests: teams' own processes."""

from __future__ import annotations


def _service_task(task_id: str, topic: str, incoming: str, outgoing: str) -> str:
    return (
        f'<bpmn:serviceTask id="{task_id}" camunda:type="external" camunda:topic="{topic}">'
        f"<bpmn:incoming>{incoming}</bpmn:incoming><bpmn:outgoing>{outgoing}</bpmn:outgoing></bpmn:serviceTask>"
    )


def process_xml(key: str, topics: tuple[str, ...]) -> str:
    """A straight line of external service tasks of ``topics``: start → each topic → end."""
    flows = [f"Flow_{index}" for index in range(len(topics) + 1)]
    tasks = "".join(
        _service_task(f"Task_{index}", topic, flows[index], flows[index + 1]) for index, topic in enumerate(topics)
    )
    nodes = ["Start", *(f"Task_{index}" for index in range(len(topics))), "End"]
    sequence = "".join(
        f'<bpmn:sequenceFlow id="{flow}" sourceRef="{nodes[index]}" targetRef="{nodes[index + 1]}" />'
        for index, flow in enumerate(flows)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_{key}" targetNamespace="https://example.com/{key}">
  <bpmn:process id="{key}" isExecutable="true" camunda:historyTimeToLive="1">
    <bpmn:startEvent id="Start"><bpmn:outgoing>{flows[0]}</bpmn:outgoing></bpmn:startEvent>
    {tasks}
    <bpmn:endEvent id="End"><bpmn:incoming>{flows[-1]}</bpmn:incoming></bpmn:endEvent>
    {sequence}
  </bpmn:process>
</bpmn:definitions>
"""


#: The smallest process of one's own: its only step is the response step, which answers the start
#: with the start's variables (README.md's "Your own process" shows it).
ECHO_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_Echo" targetNamespace="https://example.com/echo">
  <bpmn:process id="echo" isExecutable="true" camunda:historyTimeToLive="30">
    <bpmn:startEvent id="Start"><bpmn:outgoing>ToRespond</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="Respond" camunda:type="external" camunda:topic="waitroom-respond">
      <bpmn:incoming>ToRespond</bpmn:incoming>
      <bpmn:outgoing>ToEnd</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="End"><bpmn:incoming>ToEnd</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="ToRespond" sourceRef="Start" targetRef="Respond" />
    <bpmn:sequenceFlow id="ToEnd" sourceRef="Respond" targetRef="End" />
  </bpmn:process>
</bpmn:definitions>
"""


def zeebe_process_xml(key: str, job_types: tuple[str, ...], *, end: str = "none", sub_process: bool = False) -> str:
    """The same straight line for Camunda 8: job tasks of ``job_types`` (``zeebe:taskDefinition``,
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
