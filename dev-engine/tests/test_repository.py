"""Deployments and process definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_client import ORDER_REVIEW, SINGLE_STEP, Camunda


def test_deploy_returns_the_deployed_definitions(camunda: Camunda) -> None:
    response = camunda.deploy(ORDER_REVIEW, SINGLE_STEP, name="shop")

    assert response.status_code == 200
    deployment = response.json()
    assert deployment["name"] == "shop"
    assert deployment["source"] == "pytest"
    assert deployment["links"] == [
        {"method": "GET", "href": f"{camunda.url}/deployment/{deployment['id']}", "rel": "self"}
    ]
    definitions = {definition["key"]: definition for definition in deployment["deployedProcessDefinitions"].values()}
    assert set(definitions) == {"order-review", "single-step"}
    order_review = definitions["order-review"]
    assert order_review["id"].startswith("order-review:1:")
    assert order_review["version"] == 1
    assert order_review["name"] == "Order review"
    assert order_review["versionTag"] == "v1"
    assert order_review["historyTimeToLive"] == 30
    assert order_review["resource"] == "order_review.bpmn"
    assert order_review["deploymentId"] == deployment["id"]
    assert deployment["deployedDecisionDefinitions"] is None


def test_redeploying_a_changed_resource_creates_a_new_version(camunda: Camunda, tmp_path: Path) -> None:
    camunda.deploy(SINGLE_STEP)
    changed = tmp_path / SINGLE_STEP.name
    changed.write_text(SINGLE_STEP.read_text().replace('name="Single step"', 'name="Single step v2"'))

    response = camunda.deploy(changed)

    definition = next(iter(response.json()["deployedProcessDefinitions"].values()))
    assert definition["version"] == 2
    latest = camunda.get("/process-definition/key/single-step").json()
    assert latest["id"] == definition["id"]
    assert latest["name"] == "Single step v2"


def test_deploy_changed_only_skips_unchanged_resources(camunda: Camunda, tmp_path: Path) -> None:
    first = camunda.deploy(ORDER_REVIEW, SINGLE_STEP, changed_only=True).json()

    unchanged = camunda.deploy(ORDER_REVIEW, SINGLE_STEP, changed_only=True).json()
    changed = tmp_path / SINGLE_STEP.name
    changed.write_text(SINGLE_STEP.read_text().replace("single-step.work", "single-step.work-v2"))
    partial = camunda.deploy(ORDER_REVIEW, changed, changed_only=True).json()

    # Nothing changed: Camunda answers with the existing deployment and no new definitions.
    assert unchanged["id"] == first["id"]
    assert unchanged["deployedProcessDefinitions"] is None
    redeployed = list(partial["deployedProcessDefinitions"].values())
    assert [(d["key"], d["version"]) for d in redeployed] == [("single-step", 2)]
    assert camunda.get("/process-definition/key/order-review").json()["version"] == 1


def test_unknown_definition_key_is_404(camunda: Camunda) -> None:
    response = camunda.get("/process-definition/key/nope")

    assert response.status_code == 404
    assert response.json()["type"] == "RestException"
    assert response.json()["message"] == "No matching process definition with key: nope and no tenant-id"


def test_unparseable_bpmn_is_a_parse_exception(camunda: Camunda, tmp_path: Path) -> None:
    broken = tmp_path / "broken.bpmn"
    broken.write_text(ORDER_REVIEW.read_text().replace("${score &gt;= 5", "${score &gt;="))

    response = camunda.deploy(broken)

    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "ParseException"
    assert error["message"].startswith("ENGINE-09005 Could not parse BPMN process.")
    (problem,) = error["details"]["broken.bpmn"]["errors"]
    assert problem["mainElementId"] == "toFulfil"
    assert camunda.get("/process-definition/key/order-review").status_code == 404


def test_unsupported_elements_are_rejected_at_deployment(camunda: Camunda, tmp_path: Path) -> None:
    java_task = tmp_path / "java.bpmn"
    java_task.write_text(
        SINGLE_STEP.read_text().replace(
            'camunda:type="external" camunda:topic="single-step.work"', 'camunda:class="a.B"'
        )
    )

    response = camunda.deploy(java_task)

    assert response.status_code == 400
    assert "serviceTask other than camunda:type=\"external\" 'work'" in response.json()["message"]


def test_delete_definitions_by_key_cascades_to_instances(deployed: Camunda) -> None:
    instance = deployed.start("single-step")

    refused = deployed.delete("/process-definition/key/single-step")
    deleted = deployed.delete("/process-definition/key/single-step", params={"cascade": "true"})
    again = deployed.delete("/process-definition/key/single-step")

    assert refused.status_code == 500
    assert "ENGINE-03076" in refused.json()["message"]
    assert deleted.status_code == 204
    assert deployed.get(f"/process-instance/{instance['id']}").status_code == 404
    assert deployed.get(f"/history/process-instance/{instance['id']}").status_code == 404
    assert again.status_code == 404
    assert again.json()["message"] == "No process definition found with key 'single-step': processDefinitions is empty"


MULTI_INSTANCE_TASK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="http://waitroom.test/bpmn">
  <bpmn:process id="each-item" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="handleItem" camunda:type="external" camunda:topic="item">
      {loop}
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="handleItem"/>
    <bpmn:sequenceFlow id="b" sourceRef="handleItem" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize(
    "loop",
    [
        '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" camunda:elementVariable="item"/>',
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>3</bpmn:loopCardinality>"
        "</bpmn:multiInstanceLoopCharacteristics>",
        '<bpmn:multiInstanceLoopCharacteristics isSequential="true" camunda:collection="items"/>',
        "<bpmn:standardLoopCharacteristics/>",
    ],
)
def test_a_looping_activity_is_refused_at_deployment_naming_the_element(
    camunda: Camunda, tmp_path: Path, loop: str
) -> None:
    # Before, it deployed and then every start failed (a 500, or a non-Boolean cardinality error).
    resource = tmp_path / "each_item.bpmn"
    resource.write_text(MULTI_INSTANCE_TASK.format(loop=loop))

    response = camunda.deploy(resource)

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "ParseException"
    kind = "standardLoopCharacteristics" if "standard" in loop else "multiInstanceLoopCharacteristics"
    assert f"{kind} on serviceTask 'handleItem' is not supported by the development engine" in body["message"]
    errors = body["details"]["each_item.bpmn"]["errors"]
    assert [(error["mainElementId"], error["elementIds"]) for error in errors] == [("handleItem", ["handleItem"])]
    assert camunda.get("/process-definition/key/each-item").status_code == 404


def test_the_deployment_list_and_a_definition_xml(camunda: Camunda) -> None:
    deployment = camunda.deploy(SINGLE_STEP, name="listed").json()
    definition = next(iter(deployment["deployedProcessDefinitions"].values()))

    listed = camunda.get("/deployment", params={"name": "listed"}).json()
    single = camunda.get(f"/deployment/{deployment['id']}").json()
    xml = camunda.get(f"/process-definition/{definition['id']}/xml").json()
    by_key = camunda.get("/process-definition/key/single-step/xml").json()

    expected = {key: deployment[key] for key in ("id", "name", "source", "deploymentTime", "tenantId")}
    assert listed == [{"links": [], **expected}]
    assert single == {"links": [], **expected}
    assert xml == {"id": definition["id"], "bpmn20Xml": SINGLE_STEP.read_text()}
    assert by_key == xml
    assert camunda.get("/deployment/count", params={"nameLike": "list%"}).json() == {"count": 1}
