"""The Camunda 7 adapter of the worker's task queue (shared/waitroom/adapters/camunda/task_queue.py): what
it puts on the wire, and how Camunda's answers become the port's values, on a server that records the
requests and answers as Camunda 7's REST API does. The worker runs it against the development engine in
tests/integration/test_worker.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.task_queue import CamundaTaskQueue
from waitroom.domain.errors import CamundaNotFound, InvalidRequest
from waitroom.service.ports import Task, TopicRequest

#: A LockedExternalTaskDto as fetchAndLock answers it (Camunda 7's REST API reference).
LOCKED = {
    "id": "task-1",
    "topicName": "expense.check",
    "workerId": "worker-1",
    "businessKey": "claim-1",
    "processInstanceId": "instance-1",
    "activityId": "Task_Check",
    "retries": 2,
    "lockExpirationTime": "2026-12-06T20:00:30.000+0000",
    "variables": {
        "amount": {"type": "Integer", "value": 12, "valueInfo": {}},
        "claim": {"type": "Json", "value": '{"items": [1, 2]}', "valueInfo": {}},
        "submitted": {"type": "Date", "value": "2026-12-06T20:00:00.000+0000", "valueInfo": {}},
        "note": {"type": "Null", "value": None, "valueInfo": {}},
    },
}

Recorded = list[tuple[str, str, Any]]


@pytest.fixture
def camunda() -> Iterator[tuple[CamundaTaskQueue, Recorded]]:
    """The adapter on a server that answers as Camunda 7 and records (method, path, body)."""
    requests: Recorded = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            path = self.path.removeprefix("/engine-rest")
            requests.append(("POST", path, body))
            if path == "/external-task/fetchAndLock":
                self.answer(200, [LOCKED])
            elif path == "/external-task/count":
                self.answer(200, {"count": 7})
            elif path == "/external-task":
                self.answer(200, [{"id": "a", "workerId": "w-1"}, {"id": "b", "workerId": "w-2"}, {"id": "c"}])
            elif path == "/external-task/gone/complete":
                self.answer(404, {"type": "RestException", "message": "External task with id gone does not exist"})
            else:
                self.send_response(204)
                self.end_headers()

        def answer(self, status: int, document: Any) -> None:
            encoded = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = CamundaClient(f"http://127.0.0.1:{server.server_port}/engine-rest")
    yield CamundaTaskQueue(client, worker_id="worker-1", string_max_chars=10), requests
    client.close()
    server.shutdown()
    server.server_close()


def test_taking_tasks_fetches_and_locks_them_and_gives_their_variables_as_python_values(
    camunda: tuple[CamundaTaskQueue, Recorded],
) -> None:
    queue, requests = camunda
    topics = [TopicRequest("expense.check", 30_000, ("amount", "claim")), TopicRequest("respond", 5_000, None, True)]
    (task,) = queue.take(topics, max_tasks=3, wait_ms=2_000)

    assert task == Task(
        id="task-1",
        topic="expense.check",
        business_key="claim-1",
        process_instance_id="instance-1",
        activity_id="Task_Check",
        retries=2,
        variables={
            "amount": 12,
            "claim": {"items": [1, 2]},
            "submitted": datetime(2026, 12, 6, 20, 0, tzinfo=UTC),
            "note": None,
        },
    )
    (method, path, body), *_ = requests
    assert (method, path) == ("POST", "/external-task/fetchAndLock")
    assert (body["workerId"], body["maxTasks"], body["asyncResponseTimeout"]) == ("worker-1", 3, 2_000)
    assert body["topics"] == [
        {"topicName": "expense.check", "lockDuration": 30_000, "variables": ["amount", "claim"]},
        {"topicName": "respond", "lockDuration": 5_000, "localVariables": True},
    ]


def test_reports_carry_the_worker_s_id_and_typed_variables(camunda: tuple[CamundaTaskQueue, Recorded]) -> None:
    queue, requests = camunda
    queue.complete("t-1", {"verdict": "ok", "score": 2.5, "items": [1], "long": "x" * 11})
    queue.fail("t-2", message="ValueError: boom", details="Traceback ...", retries=1, retry_in_ms=2_000)
    queue.throw_bpmn_error("t-3", code="REJECTED", message="no", variables={"why": "because"})
    queue.extend_lock("t-4", 30_000)

    assert requests == [
        (
            "POST",
            "/external-task/t-1/complete",
            {
                "workerId": "worker-1",
                "variables": {
                    "verdict": {"value": "ok", "type": "String"},
                    "score": {"value": 2.5, "type": "Double"},
                    "items": {"value": "[1]", "type": "Json"},
                    # Longer than the setting's String: sent as a JSON string.
                    "long": {"value": json.dumps("x" * 11), "type": "Json"},
                },
            },
        ),
        (
            "POST",
            "/external-task/t-2/failure",
            {
                "workerId": "worker-1",
                "errorMessage": "ValueError: boom",
                "errorDetails": "Traceback ...",
                "retries": 1,
                "retryTimeout": 2_000,
            },
        ),
        (
            "POST",
            "/external-task/t-3/bpmnError",
            {
                "workerId": "worker-1",
                "errorCode": "REJECTED",
                "errorMessage": "no",
                "variables": {"why": {"value": "because", "type": "String"}},
            },
        ),
        ("POST", "/external-task/t-4/extendLock", {"workerId": "worker-1", "newDuration": 30_000}),
    ]


def test_a_report_on_a_task_that_is_gone_is_refused(camunda: tuple[CamundaTaskQueue, Recorded]) -> None:
    queue, _ = camunda
    with pytest.raises(CamundaNotFound):
        queue.complete("gone", {})


def test_a_variable_camunda_cannot_take_is_refused_naming_it_before_anything_is_sent(
    camunda: tuple[CamundaTaskQueue, Recorded],
) -> None:
    queue, requests = camunda
    queue.check_variables({"fine": 1, "big": 2**62})
    checks: list[Callable[[], None]] = [
        lambda: queue.check_variables({"fine": 1, "score": float("nan")}),
        lambda: queue.complete("t-1", {"score": float("nan")}),
        lambda: queue.throw_bpmn_error("t-1", code="X", message="x", variables={"score": float("nan")}),
    ]
    for check in checks:
        with pytest.raises(InvalidRequest) as refused:
            check()
        assert str(refused.value) == (
            "variable 'score' cannot be sent to Camunda: NaN and infinity are not numbers Camunda can store"
        )
    assert requests == []


def test_the_backlog_counts_a_topic_s_fetchable_tasks_and_the_busy_workers_are_the_lock_holders(
    camunda: tuple[CamundaTaskQueue, Recorded],
) -> None:
    queue, requests = camunda
    assert queue.backlog("expense.check") == 7
    assert queue.busy_workers() == 2
    assert requests == [
        ("POST", "/external-task/count", {"topicName": "expense.check", "notLocked": True, "withRetriesLeft": True}),
        ("POST", "/external-task", {"locked": True}),
    ]
