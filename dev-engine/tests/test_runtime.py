"""Starting instances, typed variables, instance and history resources."""

from __future__ import annotations

from typing import Any

import pytest

from engine_client import Camunda, order_variables
from waitroom_dev_engine.clock import parse_date


def test_start_with_typed_variables_and_business_key(deployed: Camunda) -> None:
    variables = {
        "customer": {"value": "ada", "type": "String"},
        "score": {"value": "7", "type": "Integer"},
        "big": {"value": 2**40, "type": "Long"},
        "ratio": {"value": 1, "type": "Double"},
        "vip": {"value": "true", "type": "Boolean"},
        "nothing": {"value": None, "type": "Null"},
        "order": {"value": '{"items": [1, 2]}', "type": "Json"},
        "due": {"value": "2024-05-06T07:08:09.010+0200", "type": "Date"},
        "untyped": {"value": {"nested": True}},
    }

    instance = deployed.start("order-review", variables, businessKey="order-42", withVariablesInReturn=True)

    assert instance["businessKey"] == "order-42"
    assert instance["definitionKey"] == "order-review"
    assert instance["ended"] is False
    assert instance["links"][0]["href"] == f"{deployed.url}/process-instance/{instance['id']}"
    returned = instance["variables"]
    assert returned["score"] == {"type": "Integer", "value": 7, "valueInfo": {}}
    assert returned["big"]["type"] == "Long"
    assert returned["ratio"] == {"type": "Double", "value": 1.0, "valueInfo": {}}
    assert returned["vip"]["value"] is True
    assert returned["nothing"] == {"type": "Null", "value": None, "valueInfo": {}}
    # Json travels as a JSON string, with the case-sensitive type name Json.
    assert returned["order"] == {"type": "Json", "value": '{"items": [1, 2]}', "valueInfo": {}}
    assert returned["untyped"]["type"] == "Object"
    assert returned["untyped"]["value"] == {"nested": True}
    stored = deployed.get(f"/process-instance/{instance['id']}/variables").json()
    assert stored["due"]["type"] == "Date"
    assert parse_date(stored["due"]["value"]) == parse_date("2024-05-06T07:08:09.010+0200")
    assert stored["score"] == returned["score"]
    serialized = deployed.get(f"/process-instance/{instance['id']}/variables?deserializeValues=false").json()
    assert serialized["untyped"]["value"] == '{"nested":true}'
    assert serialized["untyped"]["valueInfo"]["serializationDataFormat"] == "application/json"


def test_start_of_an_unknown_key_is_404(deployed: Camunda) -> None:
    response = deployed.post("/process-definition/key/unknown/start", json={})

    assert response.status_code == 404
    assert response.json() == {
        "type": "RestException",
        "message": "No matching process definition with key: unknown and no tenant-id",
        "code": None,
    }


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        (
            {"value": {"a": 1}, "type": "Json"},
            "Must provide 'null' or String value for value of SerializableValue type 'Json'.",
        ),
        ({"value": "{}", "type": "JSON"}, "Unsupported value type 'JSON'"),
        (
            {"value": "abc", "type": "Integer"},
            "Cannot convert value 'abc' of type 'Integer' to java type java.lang.Integer",
        ),
        (
            {"value": 2**31, "type": "Integer"},
            "Cannot convert value '2147483648' of type 'Integer' to java type java.lang.Integer",
        ),
        (
            {"value": "yesterday", "type": "Date"},
            "Cannot convert value 'yesterday' of type 'Date' to java type java.util.Date",
        ),
    ],
)
def test_invalid_variables_are_400(deployed: Camunda, variable: dict[str, Any], message: str) -> None:
    response = deployed.post("/process-definition/key/order-review/start", json={"variables": {"bad": variable}})

    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "InvalidRequestException"
    assert error["message"].startswith("Cannot instantiate process definition order-review:1:")
    assert error["message"].endswith(message)


def test_string_longer_than_the_camunda_column_fails_like_camunda(deployed: Camunda) -> None:
    response = deployed.post(
        "/process-definition/key/single-step/start",
        json={"variables": {"essay": {"value": "x" * 4001, "type": "String"}}},
    )

    assert response.status_code == 500
    assert response.json()["type"] == "RestException"
    assert "Variable 'essay' is a String of 4001 characters" in response.json()["message"]
    assert deployed.get("/external-task").json() == []


def test_instance_resources_and_variable_modification(deployed: Camunda) -> None:
    instance = deployed.start("single-step", {"keep": {"value": 1}, "drop": {"value": 2}}, businessKey="bk")
    path = f"/process-instance/{instance['id']}"

    modified = deployed.post(
        f"{path}/variables",
        json={"modifications": {"added": {"value": "new", "type": "String"}}, "deletions": ["drop"]},
    )
    bad = deployed.post(f"{path}/variables", json={"modifications": {"x": {"value": "a", "type": "Long"}}})

    assert deployed.get(path).json()["businessKey"] == "bk"
    assert modified.status_code == 204
    assert set(deployed.get(f"{path}/variables").json()) == {"keep", "added"}
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("Cannot modify variables for process instance: Cannot convert value 'a'")
    missing = deployed.get("/process-instance/missing/variables")
    assert missing.status_code == 500
    assert missing.json()["message"] == "execution missing doesn't exist: execution is null"


def test_history_of_a_completed_instance(deployed: Camunda) -> None:
    instance = deployed.start("single-step", businessKey="b-1")
    assert deployed.history(instance["id"])["state"] == "ACTIVE"
    task = deployed.fetch_one("w", "single-step.work")

    assert deployed.complete(task["id"], "w").status_code == 204

    history = deployed.history(instance["id"])
    assert history["state"] == "COMPLETED"
    assert history["businessKey"] == "b-1"
    assert history["processDefinitionKey"] == "single-step"
    assert history["startActivityId"] == "Start"
    assert history["endTime"] is not None
    assert history["durationInMillis"] >= 0
    assert deployed.get(f"/process-instance/{instance['id']}").status_code == 404


def test_terminate_end_event_completes_the_instance(deployed: Camunda) -> None:
    instance = deployed.start("order-review", order_variables(score=1))
    task = deployed.fetch_one("w", "order-review.validate")

    deployed.complete(task["id"], "w")

    # Camunda records an instance ended by a terminate end event as COMPLETED.
    assert deployed.history(instance["id"])["state"] == "COMPLETED"
    assert deployed.get("/external-task", params={"processInstanceId": instance["id"]}).json() == []


def test_deleting_an_instance_terminates_it_externally(deployed: Camunda) -> None:
    instance = deployed.start("single-step")
    path = f"/process-instance/{instance['id']}"

    deleted = deployed.delete(path)
    again = deployed.delete(path)
    tolerated = deployed.delete(path, params={"failIfNotExists": "false"})

    assert deleted.status_code == 204
    assert deployed.history(instance["id"])["state"] == "EXTERNALLY_TERMINATED"
    assert deployed.get("/external-task").json() == []
    assert again.status_code == 404
    assert again.json()["message"] == f"No process instance found for id '{instance['id']}': processInstance is null"
    assert tolerated.status_code == 204


def test_deleting_history(deployed: Camunda) -> None:
    instance = deployed.start("single-step")
    history_path = f"/history/process-instance/{instance['id']}"

    while_running = deployed.delete(history_path)
    deployed.delete(f"/process-instance/{instance['id']}")
    deleted = deployed.delete(history_path)

    assert while_running.status_code == 404
    assert deleted.status_code == 204
    assert deployed.get(history_path).status_code == 404
    assert deployed.get(history_path).json()["type"] == "InvalidRequestException"


def test_a_failing_condition_rolls_the_command_back(deployed: Camunda) -> None:
    deployed.start("order-review", {"score": {"value": 9}})
    task = deployed.fetch_one("w", "order-review.validate")

    failed = deployed.complete(task["id"], "w")
    retried = deployed.complete(task["id"], "w", {"customer": {"value": "ada"}})

    assert failed.status_code == 500
    assert "Cannot resolve identifier 'customer'" in failed.json()["message"]
    assert retried.status_code == 204
    assert deployed.fetch("w", "order-review.fulfil")[0]["activityId"] == "fulfil"
