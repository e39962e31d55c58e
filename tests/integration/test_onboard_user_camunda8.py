"""onboard-user for Camunda 8 (examples/onboard-user/bpmn-camunda8/onboard-user.bpmn): the same process
as the Camunda 7 one, with Zeebe task definitions whose job types are the Camunda 7 topics, deployed
and run end to end through the development engine's /v2 API by job workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from waitroom_dev_engine import EngineServer
from waitroom_dev_engine.parsing import parse_resource
from waitroom_dev_engine.testing.camunda8 import Camunda8

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "onboard-user"
CAMUNDA7_BPMN = EXAMPLE / "bpmn" / "onboard-user.bpmn"
CAMUNDA8_BPMN = EXAMPLE / "bpmn-camunda8" / "onboard-user.bpmn"
PREFIX = "onboard-user."


@pytest.fixture
def c8(tmp_path: Path) -> Iterator[Camunda8]:
    server = EngineServer(tmp_path / "engine.sqlite")
    server.start()
    client = Camunda8(server.url_v2)
    deployed = client.deploy((CAMUNDA8_BPMN.name, CAMUNDA8_BPMN.read_bytes()))
    assert [d["processDefinition"]["processDefinitionId"] for d in deployed["deployments"]] == ["onboard-user"]
    yield client
    client.session.close()
    server.stop()


def test_the_camunda8_process_has_the_camunda7_process_s_steps_as_job_types() -> None:
    (camunda7,) = parse_resource(CAMUNDA7_BPMN.name, CAMUNDA7_BPMN.read_bytes())
    (camunda8,) = parse_resource(CAMUNDA8_BPMN.name, CAMUNDA8_BPMN.read_bytes())
    steps7 = {a.activity_id: (a.topic, a.error_handlers) for a in camunda7.model.activities.values()}
    steps8 = {a.activity_id: (a.topic, a.error_handlers) for a in camunda8.model.activities.values()}
    assert steps8 == steps7
    assert all(a.job_retries == 3 for a in camunda8.model.activities.values())
    assert all(a.job_retries is None for a in camunda7.model.activities.values())


def test_a_user_is_onboarded_by_job_workers(c8: Camunda8) -> None:
    started = c8.start("onboard-user", {"userId": "ada", "email": "ada@example.org"}, tags=["correlation:c-1"])
    outputs: dict[str, dict[str, Any]] = {
        "validate-user-information": {"validation": {"userId": "ada", "email": "ada@example.org"}},
        "run-background-check": {"backgroundCheck": {"status": "clear", "score": 12}},
        "call-onboarding-api": {"onboarding": {"accountId": "acc-1"}},
        "prepare-response": {"outcome": {"status": "onboarded"}},
    }
    seen: dict[str, Any] = {}
    for step, variables in outputs.items():
        job = c8.activate_one(PREFIX + step, worker="onboarding")
        assert job["processInstanceKey"] == started["processInstanceKey"]
        seen = job["variables"]
        c8.complete(job["jobKey"], variables)
    # Each step saw what the steps before it completed with.
    assert seen == {
        "userId": "ada",
        "email": "ada@example.org",
        **{name: value for step in list(outputs)[:-1] for name, value in outputs[step].items()},
    }
    instance = c8.instance(started["processInstanceKey"])
    assert (instance["state"], instance["tags"]) == ("COMPLETED", ["correlation:c-1"])


def test_a_rejected_user_takes_the_error_path(c8: Camunda8) -> None:
    started = c8.start("onboard-user", {"userId": "", "email": "nobody"})
    validate = c8.activate_one(PREFIX + "validate-user-information")
    c8.call(
        "POST", "/jobs/{jobKey}/error", 204, path=f"/jobs/{validate['jobKey']}/error",
        json_body={"errorCode": "USER_REJECTED", "errorMessage": "userId is required",
                   "variables": {"rejectionReason": "userId is required"}},
    )  # fmt: skip
    assert c8.activate(PREFIX + "run-background-check") == []
    reject = c8.activate_one(PREFIX + "reject-user")
    assert reject["variables"]["rejectionReason"] == "userId is required"
    c8.complete(reject["jobKey"], {"outcome": {"status": "rejected"}})
    assert c8.instance(started["processInstanceKey"])["state"] == "COMPLETED"


def test_a_step_that_keeps_failing_raises_an_incident_on_the_instance(c8: Camunda8) -> None:
    started = c8.start("onboard-user", {"userId": "ada", "email": "ada@example.org"})
    for retries_left in (2, 1, 0):
        job = c8.activate_one(PREFIX + "validate-user-information")
        c8.call(
            "POST", "/jobs/{jobKey}/failure", 204, path=f"/jobs/{job['jobKey']}/failure",
            json_body={"retries": retries_left, "errorMessage": "validation service down"},
        )  # fmt: skip
    incidents = c8.call(
        "POST", "/incidents/search", 200, json_body={"filter": {"processInstanceKey": started["processInstanceKey"]}}
    )["items"]
    assert [(i["errorType"], i["elementId"]) for i in incidents] == [("JOB_NO_RETRIES", "Task_ValidateUserInformation")]
    assert c8.instance(started["processInstanceKey"])["hasIncident"] is True
