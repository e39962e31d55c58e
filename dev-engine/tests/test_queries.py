"""The list queries: every documented parameter is applied with Camunda's semantics or refused.

Before, ``GET /history/process-instance`` dropped 43 of its 55 documented parameters (and the external
task query a few more) and answered the unfiltered list; the POST and /count forms, the runtime
instance list, the deployment list and the definition XML did not exist.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine_client import Camunda, order_variables
from waitroom_dev_engine import openapi
from waitroom_dev_engine.clock import format_date, now_ms


def _ids(answer: list[dict[str, Any]]) -> set[str]:
    return {entry["id"] for entry in answer}


def _history(camunda: Camunda, **params: Any) -> set[str]:
    response = camunda.get("/history/process-instance", params=params)
    assert response.status_code == 200, response.text
    return _ids(response.json())


def _locked_task(camunda: Camunda, business_key: str) -> dict[str, Any]:
    return camunda.fetch_one("q", "single-step.work", businessKey=business_key)


@pytest.fixture
def instances(deployed: Camunda) -> dict[str, str]:
    """Four instances: running, completed, deleted (externally terminated), and one with an incident."""
    running = deployed.start("single-step", order_variables(customer="ada"), businessKey="b-running")["id"]
    completed = deployed.start("single-step", order_variables(customer="bob"), businessKey="b-completed")["id"]
    assert deployed.complete(_locked_task(deployed, "b-completed")["id"], "q").status_code == 204
    deleted = deployed.start("order-review", order_variables(), businessKey="b-deleted")["id"]
    assert deployed.delete(f"/process-instance/{deleted}").status_code == 204
    failing = deployed.start("single-step", order_variables(customer="Cyd"), businessKey="x-failing")["id"]
    task = _locked_task(deployed, "x-failing")
    failure = {"workerId": "q", "errorMessage": "boom", "retries": 0, "retryTimeout": 0}
    assert deployed.post(f"/external-task/{task['id']}/failure", json=failure).status_code == 204
    return {"running": running, "completed": completed, "deleted": deleted, "failing": failing}


def test_history_filters_by_id_list_key_and_business_key(deployed: Camunda, instances: dict[str, str]) -> None:
    running, completed, deleted = instances["running"], instances["completed"], instances["deleted"]

    assert _history(deployed, processInstanceIds=f"{running},{completed}") == {running, completed}
    assert _history(deployed, processInstanceIdNotIn=f"{running},{completed}") == {deleted, instances["failing"]}
    assert _history(deployed, processDefinitionKeyIn="order-review") == {deleted}
    assert _history(deployed, processDefinitionKeyNotIn="order-review") == {running, completed, instances["failing"]}
    assert _history(deployed, processInstanceBusinessKeyIn="b-running,b-deleted") == {running, deleted}
    assert _history(deployed, processInstanceBusinessKeyLike="b-%") == {running, completed, deleted}
    assert _history(deployed, processDefinitionNameLike="Order%") == {deleted}


def test_history_filters_by_state(deployed: Camunda, instances: dict[str, str]) -> None:
    running, completed, deleted, failing = (instances[name] for name in ("running", "completed", "deleted", "failing"))

    assert _history(deployed, finished="true") == {completed, deleted}
    assert _history(deployed, unfinished="true") == {running, failing}
    assert _history(deployed, active="true") == {running, failing}
    assert _history(deployed, completed="true") == {completed}
    assert _history(deployed, externallyTerminated="true") == {deleted}
    assert _history(deployed, internallyTerminated="true") == set()
    assert _history(deployed, withIncidents="true") == {failing}
    # Camunda: "Value may only be true, as false is the default behavior".
    assert _history(deployed, finished="false") == {running, completed, deleted, failing}


def test_history_refuses_two_states_like_camunda(deployed: Camunda) -> None:
    response = deployed.get("/history/process-instance", params={"active": "true", "completed": "true"})

    assert response.status_code == 400
    assert response.json()["type"] == "BadUserRequestException"
    assert response.json()["message"] == (
        "Already querying for historic process instance with another state: ACTIVE is not null"
    )


def test_history_filters_by_start_and_finish_time(deployed: Camunda, instances: dict[str, str]) -> None:
    everything = set(instances.values())
    past, future = format_date(now_ms() - 3_600_000), format_date(now_ms() + 3_600_000)

    assert _history(deployed, startedAfter=past) == everything
    assert _history(deployed, startedAfter=future) == set()
    assert _history(deployed, startedBefore=future) == everything
    assert _history(deployed, finishedAfter=past) == {instances["completed"], instances["deleted"]}
    assert _history(deployed, finishedBefore=past) == set()


def test_history_sorting_and_paging(deployed: Camunda, instances: dict[str, str]) -> None:
    answer = deployed.get(
        "/history/process-instance",
        params={"sortBy": "businessKey", "sortOrder": "desc", "firstResult": 1, "maxResults": 2},
    ).json()

    assert [entry["businessKey"] for entry in answer] == ["b-running", "b-deleted"]


def test_history_post_and_count_forms(deployed: Camunda, instances: dict[str, str]) -> None:
    body = {
        "processInstanceIds": [instances["running"], instances["completed"]],
        "sorting": [{"sortBy": "businessKey", "sortOrder": "asc"}],
    }

    posted = deployed.post("/history/process-instance", json=body, params={"maxResults": 1})
    counted = deployed.get("/history/process-instance/count", params={"finished": "true"})
    counted_by_post = deployed.post("/history/process-instance/count", json={"withIncidents": True})

    assert posted.status_code == 200
    assert [entry["businessKey"] for entry in posted.json()] == ["b-completed"]
    assert counted.json() == {"count": 2}
    assert counted_by_post.json() == {"count": 1}


def test_runtime_instance_list_and_count(deployed: Camunda, instances: dict[str, str]) -> None:
    listed = deployed.get("/process-instance", params={"businessKeyLike": "b-%"}).json()
    with_incident = deployed.get("/process-instance", params={"withIncident": "true"}).json()
    by_variable = deployed.post(
        "/process-instance", json={"variables": [{"name": "customer", "operator": "eq", "value": "ada"}]}
    ).json()
    ignoring_case = deployed.get(
        "/process-instance", params={"variables": "CUSTOMER_eq_cyd", "variableNamesIgnoreCase": "true",
                                     "variableValuesIgnoreCase": "true"}
    ).json()  # fmt: skip
    numeric = deployed.post(
        "/process-instance/count", json={"variables": [{"name": "score", "operator": "gteq", "value": 7}]}
    ).json()

    assert _ids(listed) == {instances["running"]}
    assert listed[0] == {
        "links": [],
        "id": instances["running"],
        "definitionId": listed[0]["definitionId"],
        "definitionKey": "single-step",
        "businessKey": "b-running",
        "caseInstanceId": None,
        "ended": False,
        "suspended": False,
        "tenantId": None,
    }
    assert _ids(with_incident) == {instances["failing"]}
    assert _ids(by_variable) == {instances["running"]}
    assert _ids(ignoring_case) == {instances["failing"]}
    assert numeric == {"count": 2}
    assert deployed.get("/process-instance/count").json() == {"count": 2}


def test_a_get_variable_filter_compares_strings_as_camunda_documents(deployed: Camunda) -> None:
    # "Values are always treated as String objects on server side": score_eq_7 is the String "7".
    deployed.start("single-step", order_variables(score=7))

    assert deployed.get("/process-instance", params={"variables": "score_eq_7"}).json() == []
    assert len(deployed.get("/process-instance", params={"variables": "customer_like_a%"}).json()) == 1


def test_external_task_query_applies_process_variables_and_definition_name(
    deployed: Camunda, instances: dict[str, str]
) -> None:
    by_variable = deployed.get("/external-task", params={"processVariables": "customer_eq_ada"}).json()
    by_name = deployed.get("/external-task", params={"processDefinitionName": "Single step"}).json()
    by_name_like = deployed.post("/external-task", json={"processDefinitionNameLike": "Single%"}).json()
    ignoring_case = deployed.get(
        "/external-task", params={"processVariables": "customer_eq_ADA", "variableValuesIgnoreCase": "true"}
    ).json()
    counted = deployed.post("/external-task/count", json={"processDefinitionName": "Order review"}).json()

    assert {task["processInstanceId"] for task in by_variable} == {instances["running"]}
    assert {task["processInstanceId"] for task in by_name} == {instances["running"], instances["failing"]}
    assert {task["processInstanceId"] for task in by_name_like} == {instances["running"], instances["failing"]}
    assert {task["processInstanceId"] for task in ignoring_case} == {instances["running"]}
    assert counted == {"count": 0}


def test_incident_count(deployed: Camunda, instances: dict[str, str]) -> None:
    assert deployed.get("/incident/count", params={"incidentType": "failedExternalTask"}).json() == {"count": 1}


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/history/process-instance", "executedActivityIdIn"),
        ("/history/process-instance", "variables"),
        ("/history/process-instance", "incidentType"),
        ("/history/process-instance/count", "startedBy"),
        ("/process-instance", "activityIdIn"),
    ],
)
def test_a_documented_parameter_the_engine_does_not_apply_is_refused(
    deployed: Camunda, path: str, parameter: str
) -> None:
    response = deployed.get(path, params={parameter: "x"})

    assert response.status_code == 400
    assert response.json() == {
        "type": "InvalidRequestException",
        "message": f"Query parameter '{parameter}' is not supported by the development engine",
        "code": None,
    }


def test_a_documented_body_property_the_engine_does_not_apply_is_refused(deployed: Camunda) -> None:
    response = deployed.post("/history/process-instance", json={"executedJobAfter": "2020-01-01T00:00:00.000+0000"})

    assert response.status_code == 400
    assert response.json()["message"] == "Property 'executedJobAfter' is not supported by the development engine"


def test_no_documented_query_parameter_is_dropped(deployed: Camunda) -> None:
    """Each documented parameter of the list routes either filters (a value matching nothing empties
    the answer, or a bad value is refused) or is refused by name; none is silently ignored."""
    deployed.start("single-step", order_variables(), businessKey="present")
    silently_ignored = []
    for route in ("/history/process-instance", "/process-instance", "/external-task", "/incident", "/deployment"):
        for parameter in sorted(openapi.query_parameters("GET", route)):
            if parameter in ("firstResult", "maxResults", "sortBy", "sortOrder"):
                continue
            answers = (deployed.get(route, params={parameter: value}) for value in _PROBES)
            if (
                all(answer.status_code == 200 and answer.json() for answer in answers)
                and parameter not in _ALL_MATCHING
            ):
                silently_ignored.append(f"{route}?{parameter}")
    assert silently_ignored == []


# Filters whose Camunda meaning is "everything" here (no tenants, suspension, sub processes), or
# which only change how another filter compares.
_ALL_MATCHING = {"withoutTenantId", "processDefinitionWithoutTenantId", "rootProcessInstances",
                 "leafProcessInstances", "active", "notLocked", "withRetriesLeft", "variableNamesIgnoreCase",
                 "variableValuesIgnoreCase", "includeDeploymentsWithoutTenantId", "unfinished",
                 "processDefinitionKeyNotIn", "processInstanceIdNotIn"}  # fmt: skip

# Values no record matches, in each form a parameter may take (flag or text, date, variable).
_PROBES = ("true", "2999-01-01T00:00:00.000+0000", "nothing_eq_matches")
