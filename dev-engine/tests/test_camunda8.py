"""The Camunda 8 API (``/v2``, the Orchestration Cluster API 8.8) on the development engine: its
behaviour on real BPMN with Zeebe task definitions, and every request and answer checked against
Camunda's OpenAPI document (dev-engine/src/waitroom_dev_engine/testing/camunda8.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine_client import BPMN_DIR, Camunda
from waitroom_dev_engine import EngineServer
from waitroom_dev_engine.engine import Engine
from waitroom_dev_engine.rest_v2 import RestApiV2
from waitroom_dev_engine.testing.bpmn import zeebe_process_xml
from waitroom_dev_engine.testing.camunda8 import Camunda8

SHIPMENT = BPMN_DIR / "shipment.bpmn"
UNKNOWN_KEY = "2251799813685249"
_PLACEHOLDER = re.compile(r"\{\w+\}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EngineServer]:
    engine_server = EngineServer(tmp_path / "engine.sqlite")
    engine_server.start()
    yield engine_server
    engine_server.stop()


@pytest.fixture
def c8(server: EngineServer) -> Iterator[Camunda8]:
    client = Camunda8(server.url_v2)
    client.deploy(("shipment.bpmn", SHIPMENT.read_bytes()))
    yield client
    client.session.close()


def _order(order_id: str = "o-1") -> dict[str, Any]:
    return {"order": {"id": order_id, "items": 2}}


def _search(
    c8: Camunda8, route: str, body: dict[str, Any], *, truncate_values: bool | None = None
) -> list[dict[str, Any]]:
    query = "" if truncate_values is None else f"?truncateValues={str(truncate_values).lower()}"
    found: dict[str, Any] = c8.call("POST", route, 200, path=route + query, json_body=body)
    items: list[dict[str, Any]] = found["items"]
    assert found["page"]["totalItems"] >= len(items)
    return items


def _incidents(c8: Camunda8, instance_key: str) -> list[dict[str, Any]]:
    return _search(c8, "/incidents/search", {"filter": {"processInstanceKey": instance_key}})


# Behaviour -------------------------------------------------------------------------------------------


def test_a_job_sees_its_input_mappings_and_its_completion_reaches_the_process_through_the_outputs(
    c8: Camunda8,
) -> None:
    started = c8.start("shipment", _order(), tags=["order:o-1"])
    assert started["processDefinitionId"] == "shipment"
    assert started["processDefinitionVersion"] == 1
    assert started["tags"] == ["order:o-1"]

    pack = c8.activate_one("shipment.pack", worker="packer", timeout=30_000)
    assert pack["processInstanceKey"] == started["processInstanceKey"]
    assert pack["elementId"] == "pack"
    assert pack["worker"] == "packer"
    assert pack["retries"] == 2
    # zeebe:input: a path into a context, a FEEL string literal, a static text.
    assert pack["variables"] == {**_order(), "orderId": "o-1", "mode": "express", "label": "fragile"}
    c8.complete(pack["jobKey"], {"parcel": "p-9", "scratch": 1})

    ship = c8.activate_one("shipment.ship")
    # With an output mapping, completion variables stay local: only parcelId reaches the process.
    assert ship["variables"] == {**_order(), "parcelId": "p-9"}
    assert ship["customHeaders"] == {"carrier": "post"}
    assert c8.instance(started["processInstanceKey"])["state"] == "ACTIVE"
    c8.complete(ship["jobKey"], {"trackingNumber": 42})

    done = c8.instance(started["processInstanceKey"])
    assert done["state"] == "COMPLETED"
    assert done["hasIncident"] is False
    assert "endDate" in done


def test_fetch_variable_limits_the_variables_an_activated_job_carries(c8: Camunda8) -> None:
    c8.start("shipment", _order())
    job = c8.activate_one("shipment.pack", fetchVariable=["orderId", "absent"])
    assert job["variables"] == {"orderId": "o-1"}


def test_a_failure_with_retries_left_makes_the_job_activatable_again_and_none_left_raises_an_incident(
    c8: Camunda8,
) -> None:
    started = c8.start("shipment", _order())
    key = started["processInstanceKey"]
    first = c8.activate_one("shipment.pack")
    c8.call(
        "POST", "/jobs/{jobKey}/failure", 204, path=f"/jobs/{first['jobKey']}/failure",
        json_body={"retries": 1, "errorMessage": "scanner offline"},
    )  # fmt: skip
    assert _incidents(c8, key) == []

    again = c8.activate_one("shipment.pack")
    assert again["jobKey"] == first["jobKey"]
    assert again["retries"] == 1
    c8.call(
        "POST", "/jobs/{jobKey}/failure", 204, path=f"/jobs/{again['jobKey']}/failure",
        json_body={"retries": 0, "errorMessage": "scanner broken"},
    )  # fmt: skip

    assert c8.activate("shipment.pack") == []
    incidents = _incidents(c8, key)
    assert [(i["errorType"], i["errorMessage"], i["elementId"], i["state"]) for i in incidents] == [
        ("JOB_NO_RETRIES", "scanner broken", "pack", "ACTIVE")
    ]
    assert incidents[0]["jobKey"] == first["jobKey"]
    assert incidents[0]["elementInstanceKey"] == first["elementInstanceKey"]
    assert c8.instance(key)["hasIncident"] is True
    assert _search(c8, "/process-instances/search", {"filter": {"hasIncident": True}})[0]["processInstanceKey"] == key
    # A failed job takes no more commands (Zeebe's INVALID_STATE, 409).
    problem = c8.call("POST", "/jobs/{jobKey}/completion", 409, path=f"/jobs/{first['jobKey']}/completion")
    assert problem["title"] == "INVALID_STATE"
    assert problem["detail"] == (
        f"Command 'COMPLETE' rejected with code 'INVALID_STATE': Expected to complete job with key "
        f"'{first['jobKey']}', but it is in state 'FAILED'"
    )


def test_a_retry_back_off_keeps_a_failed_job_back_until_the_clock_passes_it(server: EngineServer, c8: Camunda8) -> None:
    c8.start("shipment", _order())
    job = c8.activate_one("shipment.pack")
    c8.call(
        "POST", "/jobs/{jobKey}/failure", 204, path=f"/jobs/{job['jobKey']}/failure",
        json_body={"retries": 1, "retryBackOff": 60_000},
    )  # fmt: skip
    assert c8.activate("shipment.pack") == []
    server.advance_clock(60_000)
    assert c8.activate_one("shipment.pack")["jobKey"] == job["jobKey"]


def test_a_thrown_error_is_caught_by_the_boundary_event_with_its_variables(c8: Camunda8) -> None:
    started = c8.start("shipment", _order())
    pack = c8.activate_one("shipment.pack")
    c8.call(
        "POST", "/jobs/{jobKey}/error", 204, path=f"/jobs/{pack['jobKey']}/error",
        json_body={"errorCode": "OUT_OF_STOCK", "errorMessage": "none left", "variables": {"missing": ["bolt"]}},
    )  # fmt: skip
    assert c8.activate("shipment.ship") == []
    refund = c8.activate_one("shipment.refund")
    assert refund["variables"] == {**_order(), "missing": ["bolt"]}
    c8.complete(refund["jobKey"])
    assert c8.instance(started["processInstanceKey"])["state"] == "COMPLETED"


def test_an_error_nothing_catches_raises_an_incident(c8: Camunda8) -> None:
    started = c8.start("shipment", _order())
    ship_path = c8.activate_one("shipment.pack")
    c8.complete(ship_path["jobKey"], {"parcel": "p-1"})
    ship = c8.activate_one("shipment.ship")
    c8.call(
        "POST", "/jobs/{jobKey}/error", 204, path=f"/jobs/{ship['jobKey']}/error",
        json_body={"errorCode": "LOST", "errorMessage": "truck lost"},
    )  # fmt: skip
    incidents = _incidents(c8, started["processInstanceKey"])
    assert [(i["errorType"], i["errorMessage"]) for i in incidents] == [
        (
            "UNHANDLED_ERROR_EVENT",
            "Expected to throw an error event with the code 'LOST' with message 'truck lost', but it was not caught. "
            "No error events are available in the scope.",
        )
    ]
    assert c8.instance(started["processInstanceKey"])["state"] == "ACTIVE"
    problem = c8.call("POST", "/jobs/{jobKey}/completion", 409, path=f"/jobs/{ship['jobKey']}/completion")
    assert problem["detail"].endswith("but it is in state 'ERROR_THROWN'")


def test_cancelling_terminates_the_instance_and_its_jobs(c8: Camunda8) -> None:
    started = c8.start("shipment", _order())
    key = started["processInstanceKey"]
    job = c8.activate_one("shipment.pack")
    c8.call(
        "POST",
        "/process-instances/{processInstanceKey}/cancellation",
        204,
        path=f"/process-instances/{key}/cancellation",
    )
    assert c8.instance(key)["state"] == "TERMINATED"
    problem = c8.call("POST", "/jobs/{jobKey}/completion", 404, path=f"/jobs/{job['jobKey']}/completion")
    assert problem["title"] == "NOT_FOUND"
    again = c8.call(
        "POST",
        "/process-instances/{processInstanceKey}/cancellation",
        404,
        path=f"/process-instances/{key}/cancellation",
    )
    assert again["detail"] == (
        "Command 'CANCEL' rejected with code 'NOT_FOUND': Expected to cancel a process instance with key "
        f"'{key}', but no such process instance was found"
    )


def test_search_filters_by_state_tags_process_and_key_and_pages(c8: Camunda8) -> None:
    keys = [
        c8.start("shipment", _order(f"o-{n}"), tags=[f"order:o-{n}", "batch:a"])["processInstanceKey"] for n in range(3)
    ]
    c8.call(
        "POST",
        "/process-instances/{processInstanceKey}/cancellation",
        204,
        path=f"/process-instances/{keys[0]}/cancellation",
    )

    def found(body: dict[str, Any]) -> list[str]:
        return [item["processInstanceKey"] for item in _search(c8, "/process-instances/search", body)]

    assert found({"filter": {"state": "ACTIVE"}}) == keys[1:]
    assert found({"filter": {"state": {"$in": ["TERMINATED", "COMPLETED"]}}}) == keys[:1]
    assert found({"filter": {"tags": ["batch:a", "order:o-2"]}}) == keys[2:]
    assert found({"filter": {"processDefinitionId": "shipment", "processInstanceKey": keys[1]}}) == [keys[1]]
    assert found({"filter": {"processDefinitionId": "other"}}) == []
    assert found({"page": {"from": 1, "limit": 1}}) == [keys[1]]
    paged = c8.call("POST", "/process-instances/search", 200, json_body={"page": {"limit": 2}})
    assert paged["page"]["totalItems"] == 3
    assert len(paged["items"]) == 2


def test_search_compares_dates_as_instants_and_sorts(c8: Camunda8) -> None:
    keys = [c8.start("shipment", _order(f"o-{n}"))["processInstanceKey"] for n in range(3)]
    for key in (keys[2], keys[0]):
        c8.call(
            "POST",
            "/process-instances/{processInstanceKey}/cancellation",
            204,
            path=f"/process-instances/{key}/cancellation",
        )
        # The end dates are in milliseconds: the two ends must not share one.
        time.sleep(0.01)
    ended = {key: c8.instance(key)["endDate"] for key in (keys[2], keys[0])}

    def found(body: dict[str, Any]) -> list[str]:
        return [item["processInstanceKey"] for item in _search(c8, "/process-instances/search", body)]

    by_end = [{"field": "endDate", "order": "ASC"}]
    # Ended first, the instance without an end last; the one cancelled later ended later.
    assert found({"sort": by_end}) == [keys[2], keys[0], keys[1]]
    assert found({"sort": [{"field": "endDate", "order": "DESC"}]}) == [keys[0], keys[2], keys[1]]
    # The same instant in another notation (an offset, microseconds) compares equal.
    first_end = datetime.fromisoformat(ended[keys[2]]).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert found({"filter": {"endDate": {"$gte": first_end}}, "sort": by_end}) == [keys[2], keys[0]]
    assert found({"filter": {"endDate": {"$gt": ended[keys[0]]}}}) == []
    assert found({"filter": {"endDate": {"$lte": ended[keys[2]]}}}) == [keys[2]]
    assert found({"filter": {"endDate": {"$exists": False}}}) == [keys[1]]
    incidents = c8.call("POST", "/incidents/search", 200, json_body={
        "filter": {"creationTime": {"$gt": ended[keys[0]]}}, "sort": [{"field": "creationTime"}],
    })  # fmt: skip
    assert incidents["items"] == []


def test_a_long_polling_activation_is_answered_by_a_job_created_while_it_waits(c8: Camunda8) -> None:
    activated: list[list[dict[str, Any]]] = []
    poller = Camunda8(c8.url)
    waiting = threading.Thread(
        target=lambda: activated.append(poller.activate("shipment.pack", request_timeout=60_000)), daemon=True
    )
    waiting.start()
    started = c8.start("shipment", _order())
    waiting.join(timeout=60)
    poller.session.close()
    assert not waiting.is_alive()
    assert [job["processInstanceKey"] for job in activated[0]] == [started["processInstanceKey"]]


def test_a_timeout_update_extends_the_lock_of_an_activated_job(server: EngineServer, c8: Camunda8) -> None:
    c8.start("shipment", _order())
    job = c8.activate_one("shipment.pack", timeout=1_000)
    c8.call(
        "PATCH", "/jobs/{jobKey}", 204, path=f"/jobs/{job['jobKey']}", json_body={"changeset": {"timeout": 120_000}}
    )
    server.advance_clock(60_000)
    assert c8.activate("shipment.pack") == []
    server.advance_clock(61_000)
    assert c8.activate_one("shipment.pack")["jobKey"] == job["jobKey"]


def test_an_expired_activation_makes_the_job_activatable_again(server: EngineServer, c8: Camunda8) -> None:
    c8.start("shipment", _order())
    job = c8.activate_one("shipment.pack", timeout=1_000)
    server.advance_clock(1_000)
    problem = c8.call(
        "PATCH", "/jobs/{jobKey}", 409, path=f"/jobs/{job['jobKey']}", json_body={"changeset": {"timeout": 5_000}}
    )
    assert problem["detail"].endswith(
        f"Expected to update job with key '{job['jobKey']}', but it is in state 'ACTIVATABLE'"
    )
    assert c8.activate_one("shipment.pack", worker="second")["worker"] == "second"


def test_redeploying_an_unchanged_resource_keeps_its_version(c8: Camunda8) -> None:
    again = c8.deploy(("shipment.bpmn", SHIPMENT.read_bytes()))
    assert [d["processDefinition"]["processDefinitionVersion"] for d in again["deployments"]] == [1]
    changed = SHIPMENT.read_bytes().replace(b'name="Shipment"', b'name="Shipment 2"')
    newer = c8.deploy(("shipment.bpmn", changed))
    assert [d["processDefinition"]["processDefinitionVersion"] for d in newer["deployments"]] == [2]
    assert c8.start("shipment")["processDefinitionVersion"] == 2
    assert c8.start("shipment", processDefinitionVersion=1)["processDefinitionVersion"] == 1


def test_both_apis_run_the_same_execution_and_keep_their_own_tasks(server: EngineServer, c8: Camunda8) -> None:
    camunda7 = Camunda(server.url)
    assert camunda7.deploy(BPMN_DIR / "single_step.bpmn").status_code == 200
    # A Camunda 7 process started through /v2 waits for a Camunda 7 worker, not a job worker.
    started = c8.start("single-step", {"customer": "ada"})
    assert c8.activate("single-step.work") == []
    task = camunda7.fetch_one("w", "single-step.work")
    assert camunda7.complete(task["id"], "w").status_code == 204
    assert c8.instance(started["processInstanceKey"])["state"] == "COMPLETED"
    # A Camunda 8 process started through /engine-rest has jobs, which fetchAndLock does not lock.
    instance = camunda7.start("shipment", {"order": {"value": '{"id": "o-7"}', "type": "Json"}})
    assert camunda7.fetch("w", "shipment.pack") == []
    job = c8.activate_one("shipment.pack")
    assert job["variables"]["orderId"] == "o-7"
    assert camunda7.get(f"/process-instance/{instance['id']}").status_code == 200
    camunda7.session.close()


# Refused at deployment ---------------------------------------------------------------------------


def _process(task_extensions: str, flow_condition: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:process id="refused" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="work"><bpmn:extensionElements>{task_extensions}</bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="b" sourceRef="work" targetRef="end">{flow_condition}</bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>""".encode()


_JOB = '<zeebe:taskDefinition type="work"/>'


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            _process(_JOB + '<zeebe:ioMapping><zeebe:input source="=a + b" target="c"/></zeebe:ioMapping>'),
            "FEEL expression '=a + b' is not supported by the development engine (zeebe:ioMapping on 'work')",
        ),
        (
            _process(_JOB + '<zeebe:ioMapping><zeebe:output source="=a" target="c.d"/></zeebe:ioMapping>'),
            "zeebe:output target 'c.d' on 'work' is not supported by the development engine",
        ),
        (_process('<zeebe:taskDefinition type="=kind"/>'), "Job type expressions on 'work' are not supported"),
        (_process(_JOB + "<zeebe:userTask/>"), "zeebe:userTask on 'work' is not supported by the development engine"),
        (
            _process(_JOB, "<bpmn:conditionExpression>=x &gt; 5</bpmn:conditionExpression>"),
            "FEEL condition on sequence flow 'b' is not supported by the development engine",
        ),
        (_process(""), "serviceTask other than camunda:type=\"external\" 'work' is not supported"),
    ],
)
def test_what_the_engine_does_not_run_is_refused_at_deployment_naming_the_element(
    c8: Camunda8, resource: bytes, message: str
) -> None:
    problem = c8.call("POST", "/deployments", 400, files=[("resources", ("refused.bpmn", resource, "text/xml"))])
    assert problem["title"] == "INVALID_ARGUMENT"
    assert problem["detail"].startswith(
        "Command 'CREATE' rejected with code 'INVALID_ARGUMENT': Expected to deploy new resources, but encountered "
        "the following errors:\n'refused.bpmn': "
    )
    assert message in problem["detail"]


# What the history keeps: end events reached, variables, jobs ------------------------------------------


def _run_to_its_end(c8: Camunda8, key: str, job_type: str, variables: dict[str, Any]) -> str:
    """Start ``key``, complete its one job with ``{"done": true}``; its instance key."""
    instance_key: str = c8.start(key, variables)["processInstanceKey"]
    c8.complete(c8.activate_one(job_type)["jobKey"], {"done": True})
    assert c8.instance(instance_key)["state"] == "COMPLETED"
    return instance_key


def test_the_end_events_an_instance_reached_are_element_instances_of_their_scope(c8: Camunda8) -> None:
    plain = zeebe_process_xml("plain", ("plain.step",), sub_process=True)
    deployed = c8.deploy(
        ("plain.bpmn", plain.encode()),
        ("stop.bpmn", zeebe_process_xml("stop", ("stop.step",), end="terminate").encode()),
    )
    definition_key = deployed["deployments"][0]["processDefinition"]["processDefinitionKey"]
    instance_key = _run_to_its_end(c8, "plain", "plain.step", {})

    everywhere = _search(
        c8, "/element-instances/search", {"filter": {"processInstanceKey": instance_key, "type": "END_EVENT"}}
    )
    assert [(end["elementId"], end["state"], end["type"]) for end in everywhere] == [
        ("SubEnd", "COMPLETED", "END_EVENT"),
        ("End", "COMPLETED", "END_EVENT"),
    ]
    top_level = {"processInstanceKey": instance_key, "elementInstanceScopeKey": instance_key, "type": "END_EVENT"}
    (end,) = _search(c8, "/element-instances/search", {"filter": top_level})
    assert (end["elementId"], end["processDefinitionKey"]) == ("End", definition_key)
    # The end event's kind is in the process's XML, as deployed.
    xml = c8.call(
        "GET",
        "/process-definitions/{processDefinitionKey}/xml",
        200,
        path=f"/process-definitions/{definition_key}/xml",
    )
    assert xml == plain
    stopped = _run_to_its_end(c8, "stop", "stop.step", {})
    (terminate,) = _search(
        c8,
        "/element-instances/search",
        {"filter": {**top_level, "processInstanceKey": stopped, "elementInstanceScopeKey": stopped}},
    )
    assert terminate["elementId"] == "End"
    assert (
        _search(
            c8,
            "/element-instances/search",
            {"filter": {"processInstanceKey": stopped, "type": "END_EVENT", "state": "ACTIVE"}},
        )
        == []
    )


def test_an_instance_s_variables_are_searched_as_json_texts_truncated_unless_asked_whole(c8: Camunda8) -> None:
    c8.deploy(("plain.bpmn", zeebe_process_xml("plain", ("plain.step",)).encode()))
    long_text = "x" * 9_000
    variables = {"order": {"id": "o-1", "items": [1, 2]}, "note": long_text}
    instance_key = _run_to_its_end(c8, "plain", "plain.step", variables)

    scope = {"processInstanceKey": instance_key, "scopeKey": instance_key}
    found = {item["name"]: item for item in _search(c8, "/variables/search", {"filter": scope})}
    assert {name: (item["value"], item["isTruncated"]) for name, item in found.items() if name != "note"} == {
        "order": ('{"id":"o-1","items":[1,2]}', False),
        "done": ("true", False),
    }
    note = found["note"]
    assert note["isTruncated"] is True and len(note["value"]) == 8191
    assert note["scopeKey"] == note["processInstanceKey"] == instance_key
    whole = c8.call("GET", "/variables/{variableKey}", 200, path=f"/variables/{note['variableKey']}")
    assert whole["value"] == f'"{long_text}"'
    (untruncated,) = _search(
        c8, "/variables/search", {"filter": {"processInstanceKey": instance_key, "name": "note"}}, truncate_values=False
    )
    assert (untruncated["value"], untruncated["isTruncated"]) == (f'"{long_text}"', False)
    assert _search(c8, "/variables/search", {"filter": {"scopeKey": UNKNOWN_KEY}}) == []


def test_the_job_search_finds_jobs_by_key_with_their_type_and_state(c8: Camunda8) -> None:
    first = c8.start("shipment", _order("o-1"))["processInstanceKey"]
    c8.start("shipment", _order("o-2"))
    jobs = _search(c8, "/jobs/search", {"filter": {"type": "shipment.pack"}})
    assert [(job["state"], job["retries"], job["hasFailedWithRetriesLeft"]) for job in jobs] == [
        ("CREATED", 2, False)
    ] * 2
    job = c8.activate_one("shipment.pack")
    # Camunda's exporter records job events, and an activation is none: the job shows as created.
    (activated,) = _search(c8, "/jobs/search", {"filter": {"jobKey": job["jobKey"]}})
    assert (activated["state"], activated["worker"], "deadline" in activated) == ("CREATED", "", False)
    c8.call(
        "POST",
        "/jobs/{jobKey}/failure",
        204,
        path=f"/jobs/{job['jobKey']}/failure",
        json_body={"retries": 1, "errorMessage": "later"},
    )
    (failed,) = _search(c8, "/jobs/search", {"filter": {"jobKey": {"$in": [job["jobKey"], UNKNOWN_KEY]}}})
    assert (failed["type"], failed["state"], failed["retries"], failed["hasFailedWithRetriesLeft"]) == (
        "shipment.pack",
        "FAILED",
        1,
        True,
    )
    assert (failed["processInstanceKey"], failed["errorMessage"]) == (first, "later")
    again = c8.activate_one("shipment.pack")
    c8.complete(again["jobKey"], {"parcel": "p-1"})
    # The engine keeps no job once it ended: a completed job is found no more.
    assert _search(c8, "/jobs/search", {"filter": {"jobKey": again["jobKey"]}}) == []


def test_what_the_history_searches_cannot_answer_is_refused(c8: Camunda8) -> None:
    key = c8.start("shipment", _order())["processInstanceKey"]
    untyped = c8.call("POST", "/element-instances/search", 400, json_body={"filter": {"processInstanceKey": key}})
    assert untyped["detail"].startswith("Filter 'type' must be END_EVENT")
    tasks = c8.call("POST", "/element-instances/search", 400, json_body={"filter": {"type": "SERVICE_TASK"}})
    assert tasks["title"] == "INVALID_ARGUMENT"
    by_value = c8.call("POST", "/variables/search", 400, json_body={"filter": {"value": "1"}})
    assert by_value["detail"] == "Filter 'value' is not supported by the development engine"
    by_deadline = c8.call("POST", "/jobs/search", 400, json_body={"filter": {"deadline": {"$exists": True}}})
    assert by_deadline["detail"] == "Filter 'deadline' is not supported by the development engine"
    ended_jobs = c8.call("POST", "/jobs/search", 400, json_body={"filter": {"state": "COMPLETED"}})
    assert ended_jobs["detail"] == "Filter 'state' is not supported by the development engine"
    c8.call("GET", "/variables/{variableKey}", 404, path=f"/variables/{UNKNOWN_KEY}")
    c8.call(
        "GET", "/process-definitions/{processDefinitionKey}/xml", 404, path=f"/process-definitions/{UNKNOWN_KEY}/xml"
    )


# Conformance: the documented errors, and every route exercised --------------------------------------


def test_documented_errors_are_problem_details(c8: Camunda8) -> None:
    unknown_job = c8.call("POST", "/jobs/{jobKey}/completion", 404, path=f"/jobs/{UNKNOWN_KEY}/completion")
    assert unknown_job == {
        "type": "about:blank",
        "title": "NOT_FOUND",
        "status": 404,
        "detail": f"Command 'COMPLETE' rejected with code 'NOT_FOUND': Expected to complete job with key "
        f"'{UNKNOWN_KEY}', but no such job was found",
        "instance": f"/v2/jobs/{UNKNOWN_KEY}/completion",
    }
    for route, body in (("/jobs/{jobKey}/failure", {"retries": 1}), ("/jobs/{jobKey}/error", {"errorCode": "X"})):
        c8.call("POST", route, 404, path=route.replace("{jobKey}", UNKNOWN_KEY), json_body=body)
    c8.call("PATCH", "/jobs/{jobKey}", 404, path=f"/jobs/{UNKNOWN_KEY}", json_body={"changeset": {"timeout": 1}})
    c8.call("GET", "/process-instances/{processInstanceKey}", 404, path=f"/process-instances/{UNKNOWN_KEY}")
    not_a_key = c8.call("POST", "/jobs/{jobKey}/completion", 400, path="/jobs/abc/completion")
    assert not_a_key["detail"] == "Failed to convert 'jobKey' with value: 'abc'"
    missing = c8.call("POST", "/process-instances", 404, json_body={"processDefinitionId": "absent"})
    assert missing["detail"] == (
        "Command 'CREATE' rejected with code 'NOT_FOUND': Expected to find process definition with process ID "
        "'absent', but none found"
    )
    c8.call("POST", "/jobs/activation", 400, json_body={"type": "x", "timeout": 0, "maxJobsToActivate": 1})
    c8.call("POST", "/jobs/{jobKey}/error", 400, path=f"/jobs/{UNKNOWN_KEY}/error", json_body={"errorCode": ""})
    c8.call("POST", "/incidents/search", 400, json_body={"filter": {"errorMessage": "x"}})
    unfiltered = c8.call(
        "POST", "/process-instances/search", 400, json_body={"filter": {"processDefinitionName": "Shipment"}}
    )
    assert unfiltered["detail"] == "Filter 'processDefinitionName' is not supported by the development engine"


def test_documented_properties_it_does_not_apply_are_refused(c8: Camunda8) -> None:
    problem = c8.call(
        "POST", "/process-instances", 400, json_body={"processDefinitionId": "shipment", "awaitCompletion": True}
    )
    undocumented = c8.call(
        "POST", "/jobs/activation", 400, json_body={"type": "x", "timeout": 1, "maxJobsToActivate": 1, "priority": 1},
        invalid_request=True,
    )  # fmt: skip
    assert undocumented["detail"] == "Property 'priority' is not supported by the development engine"
    assert problem["detail"] == "Property 'awaitCompletion' is not supported by the development engine"
    tenant = c8.call("POST", "/process-instances", 400, json_body={"processDefinitionId": "shipment", "tenantId": "t1"})
    assert "no tenants" in tenant["detail"]


def test_tags_are_checked_as_camunda_checks_them_and_long_texts_are_kept(c8: Camunda8) -> None:
    bad = c8.call(
        "POST",
        "/process-instances",
        400,
        json_body={"processDefinitionId": "shipment", "tags": ["1st"]},
        invalid_request=True,
    )
    assert bad["title"] == "INVALID_ARGUMENT"
    text = "x" * 10_000
    c8.start("shipment", {"order": {"id": "o-1"}, "note": text})
    assert c8.activate_one("shipment.pack")["variables"]["note"] == text


def test_topology_describes_one_broker(c8: Camunda8) -> None:
    topology = c8.call("GET", "/topology", 200)
    assert topology["clusterSize"] == 1
    assert topology["gatewayVersion"] == "8.8.0"


# Declared last: it checks that the tests above, on their own clients, called every route. Each test
# has its own client, so the routes are collected from a run of every route here.
def test_every_served_route_is_in_the_document_and_exercised(server: EngineServer, tmp_path: Path) -> None:
    c8 = Camunda8(server.url_v2)
    c8.deploy(("shipment.bpmn", SHIPMENT.read_bytes()))
    c8.call("GET", "/topology", 200)
    key = c8.start("shipment", _order())["processInstanceKey"]
    c8.instance(key)
    _search(c8, "/process-instances/search", {})
    job = c8.activate_one("shipment.pack")
    c8.call("PATCH", "/jobs/{jobKey}", 204, path=f"/jobs/{job['jobKey']}", json_body={"changeset": {"timeout": 5_000}})
    c8.call("POST", "/jobs/{jobKey}/failure", 204, path=f"/jobs/{job['jobKey']}/failure", json_body={"retries": 1})
    c8.complete(c8.activate_one("shipment.pack")["jobKey"], {"parcel": "p"})
    ship = c8.activate_one("shipment.ship")
    c8.call("POST", "/jobs/{jobKey}/error", 204, path=f"/jobs/{ship['jobKey']}/error", json_body={"errorCode": "E"})
    _incidents(c8, key)
    _search(c8, "/jobs/search", {"filter": {"processInstanceKey": key}})
    c8.deploy(("plain.bpmn", zeebe_process_xml("plain", ("plain.step",)).encode()))
    ended = _run_to_its_end(c8, "plain", "plain.step", {"note": "n"})
    (end,) = _search(c8, "/element-instances/search", {"filter": {"processInstanceKey": ended, "type": "END_EVENT"}})
    c8.call(
        "GET",
        "/process-definitions/{processDefinitionKey}/xml",
        200,
        path=f"/process-definitions/{end['processDefinitionKey']}/xml",
    )
    variable = _search(c8, "/variables/search", {"filter": {"processInstanceKey": ended}})[0]
    c8.call("GET", "/variables/{variableKey}", 200, path=f"/variables/{variable['variableKey']}")
    c8.call(
        "POST",
        "/process-instances/{processInstanceKey}/cancellation",
        204,
        path=f"/process-instances/{key}/cancellation",
    )
    c8.session.close()
    engine = Engine(tmp_path / "routes.sqlite")
    try:
        served = {(route.method, _PLACEHOLDER.sub("{}", route.path)) for route in RestApiV2(engine).routes}
    finally:
        engine.close()
    assert {(method, _PLACEHOLDER.sub("{}", route)) for method, route in c8.called} == served
