"""The metrics, as CloudWatch receives them: the embedded metric format (EMF) lines the functions
write, captured and read back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.api import Api, ColdStart
from tests.support.fake_task_queue import FakeTaskQueue, for_seconds, task
from tests.support.services import reconciler_on
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.domain.process import NewProcess
from waitroom.settings import Settings

Metric = tuple[str, frozenset[tuple[str, str]], float]


def emitted(output: str) -> list[Metric]:
    """Every data point of the EMF lines in ``output``: (name, dimensions, value)."""
    points = []
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "Waitroom"
            dimensions = frozenset((name, str(document[name])) for name in directive["Dimensions"][0])
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                for single in value if isinstance(value, list) else [value]:
                    points.append((metric["Name"], dimensions, float(single)))
    return points


def named(points: list[Metric], name: str, **dimensions: str) -> list[float]:
    wanted = frozenset({("service", "waitroom"), *dimensions.items()})
    return [value for metric, found, value in points if metric == name and found == wanted]


@pytest.fixture
def api(database_url: str, cold_start: ColdStart) -> Api:
    return cold_start(database_url)


def test_a_start_answered_in_time_counts_the_start_the_answer_the_wait_and_the_duration(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = api.complete_later(0.2, {"correlationId": "m-1", "status": "ok", "data": 1})
    began = time.monotonic()
    assert api.start({"processKey": "onboard-user", "correlationId": "m-1"}).status == 200
    elapsed_ms = (time.monotonic() - began) * 1000
    reporter.join()
    points = emitted(capsys.readouterr().out)

    assert named(points, "ProcessesStarted", ProcessKey="onboard-user") == [1]
    assert named(points, "ProcessesStarted") == [1], "and the total, for alarms"
    assert named(points, "AnsweredInTime", ProcessKey="onboard-user") == [1]
    assert named(points, "ProcessesFinished", ProcessKey="onboard-user", Status="DONE") == [1]
    (waited,) = named(points, "WaitTime", ProcessKey="onboard-user")
    (duration,) = named(points, "ProcessDuration", ProcessKey="onboard-user")
    # Ordered by what happens, not by how fast the machine is: the route's clock starts before the row
    # is saved and stops after the finish is read, and the call encloses both (1 ms for rounding).
    assert 0 <= duration <= waited + 1 <= elapsed_ms + 1


def test_deferred_failed_and_cancelled_answers_are_counted(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "m-2"}, prefer="respond-async")
    reporter = api.complete_later(0.1, {"correlationId": "m-3", "status": "error", "error": "no"})
    api.start({"processKey": "onboard-user", "correlationId": "m-3"})
    reporter.join()
    api.cancel({"correlationId": "m-2"})
    points = emitted(capsys.readouterr().out)
    assert named(points, "Deferred", ProcessKey="onboard-user") == [1]
    assert named(points, "Failed", ProcessKey="onboard-user") == [1]
    assert named(points, "ProcessesFinished", ProcessKey="onboard-user", Status="CANCELLED") == [1]
    assert named(points, "ProcessesFinished", ProcessKey="onboard-user", Status="ERROR") == [1]


def test_server_errors_are_counted_by_code_but_a_failed_process_is_not_one(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    api.camunda.mode = "server-error"
    assert api.start({"processKey": "onboard-user", "correlationId": "m-4"}).status == 502
    api.camunda.mode = "ok"
    reporter = api.complete_later(0.1, {"correlationId": "m-5", "status": "error", "error": "no"})
    assert api.start({"processKey": "onboard-user", "correlationId": "m-5"}).status == 500
    reporter.join()
    points = emitted(capsys.readouterr().out)
    assert named(points, "ServerErrors", Code="CAMUNDA_ERROR") == [1]
    assert named(points, "ServerErrors") == [1], "the 500 of a process that ended in ERROR is an answer"


def test_the_worker_counts_task_durations_and_failures_per_topic(
    capsys: pytest.CaptureFixture[str], make_worker: Callable[..., Any]
) -> None:
    tasks = FakeTaskQueue([task("1", "t.succeed", name="a"), task("2", "t.explode")])
    make_worker(tasks, Settings(worker_task_budget_ms=0, worker_poll_ms=50)).run(for_seconds(0.3))
    points = emitted(capsys.readouterr().out)
    assert len(named(points, "TaskDuration", Topic="t.succeed")) == 1
    assert named(points, "TaskFailures", Topic="t.explode") == [1]
    assert named(points, "TaskFailures") == [1]
    assert named(points, "TaskFailures", Topic="t.succeed") == []


def test_the_reconciler_counts_its_repairs_and_the_stuck_processes(
    database_url: str, store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    store.save(NewProcess("m-6", "onboard-user", "0" * 64))
    later = datetime.now(UTC) + timedelta(hours=1)
    settings = Settings(stuck_after="PT30M", max_process_age="P1D")  # an hour on: past RECONCILE_MIN_AGE_S
    down = CamundaClient("http://127.0.0.1:9/engine-rest", connect_timeout_s=0.5)
    reconciler_on(store, down, settings, now=later).run()
    assert named(emitted(capsys.readouterr().out), "StuckProcesses") == [1]
    aged = reconciler_on(store, down, settings, now=later + timedelta(days=2))
    aged.run()
    points = emitted(capsys.readouterr().out)
    assert named(points, "Repairs", Repair="TIMED_OUT") == [1]
    assert named(points, "StuckProcesses") == [0]
