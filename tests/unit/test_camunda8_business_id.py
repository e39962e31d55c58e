"""What Camunda 8's adapter starts an instance with, by the gateway's version (``GET /topology``):
on 8.9 and later the correlation id is also the instance's ``businessId``, beside its tag, in a body
checked against Camunda 8.9's create instruction
(dev-engine/src/waitroom_dev_engine/reference/camunda8.9-orchestration-cluster-api.openapi.json); on
8.8, or when the version cannot be read, the tag only. The development engine answers as 8.8, and the
adapter's suite (tests/integration/test_camunda8_adapter.py) checks that against 8.8's document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from waitroom.adapters.camunda8.client import Camunda8Client
from waitroom.adapters.camunda8.engine import Camunda8Engine

DOCUMENT = (
    Path(__file__).resolve().parents[2]
    / "dev-engine"
    / "src"
    / "waitroom_dev_engine"
    / "reference"
    / "camunda8.9-orchestration-cluster-api.openapi.json"
)
BASE = "http://camunda.test/v2"
#: The longest correlation id, of every character one may have.
LONGEST = ("Az09._:-" * 8)[:64]
CREATED = {
    "processDefinitionId": "p",
    "processDefinitionKey": "2251799813685249",
    "processDefinitionVersion": 1,
    "tenantId": "<default>",
    "variables": {},
    "processInstanceKey": "2251799813685251",
    "tags": [],
    "businessId": None,
}


#: 8.9's ProcessDefinitionId pattern, in Unicode property classes (ECMAScript's and Java's), which
#: Python's re does not know; for validating it is read as Python's nearest: ``\w`` is a letter, a
#: number or ``_``, ``[^\W\d]`` one that is no decimal digit.
UNICODE_PATTERNS = {r"^[\p{L}_][\p{L}\p{N}_\-\.]*$": r"^[^\W\d][\w\-\.]*$"}


def document() -> dict[str, Any]:
    text = DOCUMENT.read_text(encoding="utf-8")
    for documented, python in UNICODE_PATTERNS.items():
        assert json.dumps(documented) in text, f"{documented} is no longer in {DOCUMENT.name}"
        text = text.replace(json.dumps(documented), json.dumps(python))
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(schema: dict[str, Any], value: Any) -> None:
    # The schema's references point into the document, so the document is its root.
    OAS30Validator({**document(), **schema}, format_checker=oas30_format_checker).validate(value)


def create_instruction() -> dict[str, Any]:
    body: dict[str, Any] = document()["paths"]["/process-instances"]["post"]["requestBody"]
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


def topology_response() -> dict[str, Any]:
    answer: dict[str, Any] = document()["paths"]["/topology"]["get"]["responses"]["200"]
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    return schema


def topology(version: str) -> dict[str, Any]:
    return {
        "brokers": [],
        "clusterId": None,
        "clusterSize": 1,
        "partitionsCount": 1,
        "replicationFactor": 1,
        "gatewayVersion": version,
        "lastCompletedChangeId": "-1",
    }


@pytest.fixture
def camunda() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/process-instances", json=CREATED)
        yield mock


def started(camunda: responses.RequestsMock, *correlation_ids: str) -> list[dict[str, Any]]:
    """The create instructions sent to start one instance per correlation id, by one client."""
    engine = Camunda8Engine(Camunda8Client(BASE))
    for correlation_id in correlation_ids:
        assert engine.start("p", business_key=correlation_id, variables={"n": 1}) == CREATED["processInstanceKey"]
    return [
        json.loads(call.request.body or b"")
        for call in camunda.calls
        if call.request.method == "POST" and str(call.request.url).endswith("/process-instances")
    ]


def topology_reads(camunda: responses.RequestsMock) -> int:
    return sum(1 for call in camunda.calls if str(call.request.url).endswith("/topology"))


@pytest.mark.parametrize("version", ["8.9.0", "8.9.2", "8.10.0-SNAPSHOT", "9.0.0-alpha1"])
def test_from_8_9_the_correlation_id_is_the_business_id_beside_the_tag(
    camunda: responses.RequestsMock, version: str
) -> None:
    answer = topology(version)
    validate(topology_response(), answer)
    camunda.get(f"{BASE}/topology", json=answer)

    sent = started(camunda, "c-1", LONGEST)

    assert [(body["businessId"], body["tags"]) for body in sent] == [
        ("c-1", ["waitroom:c-1"]),
        (LONGEST, [f"waitroom:{LONGEST}"]),
    ]
    for body in sent:
        validate(create_instruction(), body)
    assert topology_reads(camunda) == 1, "the version is read once per client"


def test_a_create_instruction_8_9_refuses_is_refused_by_the_check() -> None:
    with pytest.raises(ValidationError, match="not valid under any"):
        validate(create_instruction(), {"processDefinitionId": "p", "businessId": ""})


@pytest.mark.parametrize("version", ["8.8.0", "8.8.3", "8.7.12"])
def test_before_8_9_the_tag_alone_carries_the_correlation_id(camunda: responses.RequestsMock, version: str) -> None:
    camunda.get(f"{BASE}/topology", json=topology(version))

    sent = started(camunda, "c-1", "c-2")

    assert [body.get("businessId") for body in sent] == [None, None]
    assert [body["tags"] for body in sent] == [["waitroom:c-1"], ["waitroom:c-2"]]
    assert topology_reads(camunda) == 1


@pytest.mark.parametrize(
    "answer",
    [{"status": 403, "json": {"title": "FORBIDDEN", "detail": "no"}}, {"status": 200, "json": {"brokers": []}}],
    ids=["refused", "no-version"],
)
def test_a_version_camunda_does_not_give_starts_as_on_8_8_and_is_not_asked_again(
    camunda: responses.RequestsMock, answer: dict[str, Any]
) -> None:
    camunda.get(f"{BASE}/topology", **answer)

    sent = started(camunda, "c-1", "c-2")

    assert [body.get("businessId") for body in sent] == [None, None]
    assert [body["tags"] for body in sent] == [["waitroom:c-1"], ["waitroom:c-2"]]
    assert topology_reads(camunda) == 1


def test_a_topology_read_that_gets_no_answer_starts_as_on_8_8_and_is_tried_again(
    camunda: responses.RequestsMock,
) -> None:
    camunda.get(f"{BASE}/topology", body=requests.ConnectionError("reset"))
    camunda.get(f"{BASE}/topology", json=topology("8.9.0"))

    sent = started(camunda, "c-1", "c-2", "c-3")

    assert [body.get("businessId") for body in sent] == [None, "c-2", "c-3"]
    assert topology_reads(camunda) == 2
