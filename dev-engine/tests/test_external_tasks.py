"""External tasks: fetchAndLock with long polling, and what workers can do with a locked task."""

from __future__ import annotations

import threading
import time
from typing import Any

from engine_client import Camunda, order_variables


def test_fetch_and_lock_returns_the_task_with_its_context(deployed: Camunda) -> None:
    instance = deployed.start("order-review", order_variables(), businessKey="order-1")

    task = deployed.fetch_one("worker-1", "order-review.validate", lock_duration=60_000)

    assert task["topicName"] == "order-review.validate"
    assert task["activityId"] == "validate"
    assert task["processInstanceId"] == instance["id"]
    assert task["processDefinitionKey"] == "order-review"
    assert task["processDefinitionVersionTag"] == "v1"
    assert task["businessKey"] == "order-1"
    assert task["workerId"] == "worker-1"
    assert task["retries"] is None
    assert task["variables"]["score"] == {"type": "Integer", "value": 7, "valueInfo": {}}
    assert task["variables"]["customer"]["value"] == "ada"
    # Locked tasks are not handed out twice.
    assert deployed.fetch("worker-2", "order-review.validate") == []


def test_fetch_filters_by_variables_business_key_and_definition(deployed: Camunda) -> None:
    deployed.start("order-review", order_variables(), businessKey="a")
    deployed.start("order-review", order_variables(), businessKey="b")

    none_for_other_key = deployed.fetch("w", "order-review.validate", processDefinitionKey="single-step")
    only_b = deployed.fetch("w", "order-review.validate", businessKey="b", variables=["score"])

    assert none_for_other_key == []
    assert [task["businessKey"] for task in only_b] == ["b"]
    assert set(only_b[0]["variables"]) == {"score"}
    assert deployed.fetch("w", "order-review.validate", variables=[])[0]["variables"] == {}


def test_long_poll_answers_as_soon_as_a_task_appears(deployed: Camunda) -> None:
    result: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        result["tasks"] = deployed.fetch("poller", "single-step.work", timeout=10_000)
        result["elapsed"] = time.monotonic() - started

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    # The pending long poll must not hold up other requests.
    instance = deployed.start("single-step")
    poller.join(timeout=10)

    assert [task["processInstanceId"] for task in result["tasks"]] == [instance["id"]]
    assert 0.25 <= result["elapsed"] < 3


def test_long_poll_returns_empty_after_the_timeout(deployed: Camunda) -> None:
    started = time.monotonic()

    tasks = deployed.fetch("poller", "single-step.work", timeout=500)

    elapsed = time.monotonic() - started
    assert tasks == []
    assert 0.45 <= elapsed < 3


def test_long_poll_picks_up_a_task_whose_lock_expires(deployed: Camunda) -> None:
    deployed.start("single-step")
    first = deployed.fetch_one("slow-worker", "single-step.work", lock_duration=400)

    started = time.monotonic()
    again = deployed.fetch_one("other-worker", "single-step.work", timeout=5_000)

    assert again["id"] == first["id"]
    assert again["workerId"] == "other-worker"
    assert time.monotonic() - started < 3
    # The first worker lost the lock to another worker, so it can no longer complete.
    late = deployed.complete(first["id"], "slow-worker")
    assert late.status_code == 400
    assert late.json()["message"] == (
        f"External Task {first['id']} cannot be completed by worker 'slow-worker'. "
        "It is locked by worker 'other-worker'."
    )


def test_an_expired_lock_can_still_be_completed_by_its_worker(deployed: Camunda) -> None:
    instance = deployed.start("single-step")
    task = deployed.fetch_one("w", "single-step.work", lock_duration=50)
    time.sleep(0.1)

    # Camunda only checks the worker id: nobody else locked the task, so its worker may finish it.
    assert deployed.complete(task["id"], "w").status_code == 204
    assert deployed.history(instance["id"])["state"] == "COMPLETED"


def test_complete_moves_the_process_through_the_gateway(deployed: Camunda) -> None:
    instance = deployed.start("order-review", order_variables(score=3))
    validate = deployed.fetch_one("w", "order-review.validate")

    wrong_worker = deployed.complete(validate["id"], "intruder")
    completed = deployed.complete(validate["id"], "w", {"score": {"value": 8, "type": "Integer"}})
    gone = deployed.complete(validate["id"], "w")

    assert wrong_worker.status_code == 400
    assert wrong_worker.json()["type"] == "RestException"
    assert completed.status_code == 204
    assert gone.status_code == 404
    assert gone.json()["message"] == f"External task with id {validate['id']} does not exist"
    fulfil = deployed.fetch_one("w", "order-review.fulfil", includeExtensionProperties=True)
    assert fulfil["variables"]["score"]["value"] == 8
    assert fulfil["priority"] == 5
    assert fulfil["extensionProperties"] == {"tier": "gold"}
    assert deployed.complete(fulfil["id"], "w").status_code == 204
    assert deployed.history(instance["id"])["state"] == "COMPLETED"


def test_bpmn_error_is_caught_by_the_matching_boundary_event(deployed: Camunda) -> None:
    instance = deployed.start("order-review", order_variables())
    validate = deployed.fetch_one("w", "order-review.validate")
    path = f"/external-task/{validate['id']}/bpmnError"

    wrong_worker = deployed.post(path, json={"workerId": "x", "errorCode": "INVALID_ORDER"})
    caught = deployed.post(
        path,
        json={
            "workerId": "w",
            "errorCode": "INVALID_ORDER",
            "errorMessage": "no such customer",
            "variables": {"checkedBy": {"value": "w", "type": "String"}},
        },
    )
    gone = deployed.post(path, json={"workerId": "w", "errorCode": "INVALID_ORDER"})

    assert wrong_worker.status_code == 400
    assert wrong_worker.json()["message"].startswith(f"Bpmn error of External Task {validate['id']} cannot be")
    assert caught.status_code == 204
    assert gone.status_code == 404
    rejection = deployed.fetch_one("w", "order-review.record-rejection")
    assert rejection["processInstanceId"] == instance["id"]
    assert rejection["variables"]["rejectionCode"]["value"] == "INVALID_ORDER"
    assert rejection["variables"]["rejectionReason"]["value"] == "no such customer"
    assert rejection["variables"]["checkedBy"]["value"] == "w"
    deployed.complete(rejection["id"], "w")
    assert deployed.history(instance["id"])["state"] == "COMPLETED"


def test_catch_all_boundary_event_and_uncaught_errors(deployed: Camunda) -> None:
    caught = deployed.start("order-review", order_variables())
    deployed.complete(deployed.fetch_one("w", "order-review.validate")["id"], "w")
    fulfil = deployed.fetch_one("w", "order-review.fulfil")
    uncaught = deployed.start("order-review", order_variables())
    validate = deployed.fetch_one("w", "order-review.validate")

    deployed.post(f"/external-task/{fulfil['id']}/bpmnError", json={"workerId": "w", "errorCode": "ANY"})
    deployed.post(f"/external-task/{validate['id']}/bpmnError", json={"workerId": "w", "errorCode": "UNKNOWN"})

    assert deployed.history(caught["id"])["state"] == "COMPLETED"
    # Without a catching boundary event Camunda (by default) just ends the token: the instance completes.
    assert deployed.history(uncaught["id"])["state"] == "COMPLETED"
    assert deployed.get("/external-task").json() == []


def test_failure_with_retries_delays_the_task(deployed: Camunda) -> None:
    deployed.start("single-step")
    task = deployed.fetch_one("w", "single-step.work")
    path = f"/external-task/{task['id']}/failure"

    wrong_worker = deployed.post(path, json={"workerId": "x", "retries": 1})
    failed = deployed.post(
        path, json={"workerId": "w", "errorMessage": "boom", "errorDetails": "trace", "retries": 2, "retryTimeout": 300}
    )

    assert wrong_worker.status_code == 400
    assert failed.status_code == 204
    assert deployed.fetch("w", "single-step.work") == []
    retried = deployed.fetch_one("w2", "single-step.work", timeout=5_000)
    assert retried["retries"] == 2
    assert retried["errorMessage"] == "boom"
    assert retried["errorDetails"] == "trace"
    assert deployed.get("/incident").json() == []


def test_failure_without_retries_raises_an_incident(deployed: Camunda) -> None:
    instance = deployed.start("single-step")
    task = deployed.fetch_one("w", "single-step.work")

    deployed.post(f"/external-task/{task['id']}/failure", json={"workerId": "w", "errorMessage": "down"})

    incidents = deployed.get("/incident", params={"processInstanceId": instance["id"]}).json()
    assert len(incidents) == 1
    assert incidents[0]["incidentType"] == "failedExternalTask"
    assert incidents[0]["incidentMessage"] == "down"
    assert incidents[0]["configuration"] == task["id"]
    assert incidents[0]["activityId"] == "work"
    assert deployed.get(f"/external-task/{task['id']}").json()["retries"] == 0
    assert deployed.fetch("w", "single-step.work", timeout=200) == []
    assert deployed.get("/external-task", params={"noRetriesLeft": "true"}).json()[0]["id"] == task["id"]
    deployed.delete(f"/process-instance/{instance['id']}")
    assert deployed.get("/incident").json() == []
    gone = deployed.post(f"/external-task/{task['id']}/failure", json={"workerId": "w"})
    assert gone.status_code == 404


def test_extend_lock_and_unlock(deployed: Camunda) -> None:
    deployed.start("single-step")
    task = deployed.fetch_one("w", "single-step.work", lock_duration=1_000)
    path = f"/external-task/{task['id']}"

    extended = deployed.post(f"{path}/extendLock", json={"workerId": "w", "newDuration": 60_000})
    wrong_worker = deployed.post(f"{path}/extendLock", json={"workerId": "x", "newDuration": 60_000})
    unlocked = deployed.post(f"{path}/unlock")

    assert extended.status_code == 204
    assert wrong_worker.status_code == 400
    assert wrong_worker.json()["message"] == (
        f"The lock of the External Task {task['id']} cannot be extended by worker 'x''. It is locked by worker 'w'."
    )
    assert unlocked.status_code == 204
    assert deployed.get(path).json()["workerId"] is None
    assert deployed.fetch_one("other", "single-step.work")["id"] == task["id"]
    assert deployed.post("/external-task/nope/unlock").status_code == 404
    assert deployed.post("/external-task/nope/extendLock", json={"workerId": "w", "newDuration": 1}).status_code == 404


def test_external_task_queries(deployed: Camunda) -> None:
    first = deployed.start("single-step")
    deployed.start("order-review", order_variables())
    locked = deployed.fetch_one("w", "single-step.work")

    by_topic = deployed.get("/external-task", params={"topicName": "order-review.validate"}).json()
    locked_only = deployed.post("/external-task", json={"locked": True}).json()
    paged = deployed.get("/external-task", params={"sortBy": "taskPriority", "sortOrder": "desc", "maxResults": 1})
    missing = deployed.get("/external-task/missing")

    assert [task["activityId"] for task in by_topic] == ["validate"]
    assert [task["id"] for task in locked_only] == [locked["id"]]
    assert locked_only[0]["processInstanceId"] == first["id"]
    assert len(paged.json()) == 1
    assert deployed.get("/external-task", params={"sortOrder": "asc"}).status_code == 400
    assert missing.status_code == 404
    assert missing.json()["message"] == "External task with id missing does not exist"
