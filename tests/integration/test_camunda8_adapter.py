"""Waitroom's Camunda 8 adapters (waitroom.adapters.camunda8) on the development engine's ``/v2`` over
real HTTP, running onboard-user for Camunda 8 (examples/onboard-user/bpmn-camunda8). Every request the
adapters send, and every answer they get, is validated against Camunda's OpenAPI document for the
Orchestration Cluster API (dev-engine/src/waitroom_dev_engine/testing/camunda8.py)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from waitroom.adapters import camunda8
from waitroom.adapters.camunda8.client import Camunda8Client, problem_error
from waitroom.adapters.camunda8.deployment import deploy_bpmn
from waitroom.adapters.camunda8.engine import Camunda8Engine
from waitroom.adapters.camunda8.task_queue import Camunda8TaskQueue
from waitroom.domain.errors import (
    CamundaFailed,
    CamundaNoAnswer,
    CamundaNotFound,
    CamundaRejected,
    ConfigurationError,
    InvalidRequest,
)
from waitroom.domain.process import Outcome
from waitroom.service.engine_watch import engine_ending
from waitroom.service.ports import ScopeEnd, TopicRequest
from waitroom_dev_engine import EngineServer
from waitroom_dev_engine.testing.bpmn import zeebe_process_xml
from waitroom_dev_engine.testing.camunda8 import document, validate_request, validate_response

BPMN_DIR = Path(__file__).resolve().parents[2] / "examples" / "onboard-user" / "bpmn-camunda8"
PROCESS = "onboard-user"
VALIDATE = TopicRequest("onboard-user.validate-user-information", lock_duration_ms=60_000)
CHECK = TopicRequest("onboard-user.run-background-check", lock_duration_ms=60_000)
ONBOARD = TopicRequest("onboard-user.call-onboarding-api", lock_duration_ms=60_000)
PREPARE = TopicRequest("onboard-user.prepare-response", lock_duration_ms=60_000)
REJECT = TopicRequest("onboard-user.reject-user", lock_duration_ms=60_000)
STEPS = (VALIDATE, CHECK, ONBOARD, PREPARE)
USER = {"userId": "ada", "email": "ada@example.org"}


@dataclass
class Exchange:
    method: str
    route: str
    request: Any
    status: int
    answer: Any
    content_type: str


@dataclass
class Adapters:
    client: Camunda8Client
    engine: Camunda8Engine
    tasks: Camunda8TaskQueue
    since: datetime
    exchanges: list[Exchange] = field(default_factory=list)

    def record(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        prepared = response.request
        assert prepared.method is not None and prepared.url is not None
        path = prepared.url.removeprefix(self.client.base_url)
        content_type = prepared.headers.get("Content-Type", "")
        body = json.loads(prepared.body) if prepared.body and content_type.startswith("application/json") else None
        self.exchanges.append(
            Exchange(
                prepared.method,
                _route(prepared.method, path),
                body,
                response.status_code,
                _answer(response),
                response.headers.get("Content-Type", ""),
            )
        )


def _answer(response: requests.Response) -> Any:
    """An answer's JSON, or its text when it is a document of another type (a process's XML)."""
    if not response.content:
        return None
    return response.json() if "json" in response.headers.get("Content-Type", "") else response.text


def _route(method: str, path: str) -> str:
    """The document's route of a path sent."""
    for route, item in document()["paths"].items():
        if method.lower() in item and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", route), path):
            return str(route)
    raise AssertionError(f"{method} {path} is not a route of Camunda's document")


@pytest.fixture
def adapters(tmp_path: Path) -> Iterator[Adapters]:
    server = EngineServer(tmp_path / "engine.sqlite")
    server.start()
    client = Camunda8Client(server.url_v2)
    built = Adapters(
        client,
        Camunda8Engine(client),
        Camunda8TaskQueue(client, worker_id="waitroom-test"),
        since=datetime.now(UTC) - timedelta(seconds=1),
    )
    client.session.hooks["response"].append(built.record)
    deployed = deploy_bpmn(client, BPMN_DIR)
    assert [definition["processDefinitionId"] for definition in deployed] == [PROCESS]
    yield built
    # Every request sent was one the document allows, and every answer one it documents.
    for exchange in built.exchanges:
        if exchange.route != "/deployments":  # multipart: its parts are checked by the engine's suite
            validate_request(exchange.method, exchange.route, exchange.request)
        validate_response(exchange.method, exchange.route, exchange.status, exchange.answer, exchange.content_type)
    client.close()
    server.stop()


def _take_one(adapters: Adapters, topic: TopicRequest) -> Any:
    (task,) = adapters.tasks.take([topic], max_tasks=1, wait_ms=0)
    return task


def test_a_process_started_with_its_correlation_id_runs_through_jobs_to_its_end(adapters: Adapters) -> None:
    instance_id = adapters.engine.start(PROCESS, business_key="c-1", variables=USER)

    (found,) = adapters.engine.find_by_business_key("c-1", process_key=PROCESS)
    assert (found.id, found.state, found.business_key, found.ended_at) == (instance_id, "ACTIVE", "c-1", None)
    assert adapters.engine.find_by_business_key("c-2", process_key=PROCESS) == []
    assert adapters.engine.find_by_business_key("c-1", process_key="another") == []
    outputs: dict[str, dict[str, Any]] = {
        VALIDATE.topic: {"validation": {"ok": True}},
        CHECK.topic: {"backgroundCheck": {"status": "clear"}},
        ONBOARD.topic: {"onboarding": {"accountId": "acc-1"}},
        # A date travels as its ISO 8601 text.
        PREPARE.topic: {"outcome": {"status": "onboarded"}, "preparedAt": datetime(2026, 12, 6, tzinfo=UTC)},
    }
    for step in STEPS:
        # Every step's topic asked at once: the job ready is taken whichever topic it has.
        (task,) = adapters.tasks.take(list(reversed(STEPS)), max_tasks=5, wait_ms=0)
        assert (task.topic, task.business_key, task.process_instance_id) == (step.topic, "c-1", instance_id)
        assert task.retries == 3
        assert task.variables["userId"] == "ada"
        adapters.tasks.complete(task.id, outputs[step.topic])

    ended = adapters.engine.history(instance_id)
    assert ended is not None
    assert (ended.state, ended.business_key) == ("COMPLETED", "c-1")
    assert ended.ended_at is not None and ended.ended_at >= adapters.since
    assert [(h.id, h.business_key) for h in adapters.engine.instances_ended_after(adapters.since, limit=10)] == [
        (instance_id, "c-1")
    ]
    assert adapters.engine.instances_ended_after(ended.ended_at + timedelta(seconds=1), limit=10) == []
    # How it ended: the end event on its top level, a none end event, and its variables then.
    assert adapters.engine.scope_ends(instance_id) == [ScopeEnd("EndEvent_UserOnboarded", "noneEndEvent")]
    final = adapters.engine.final_variables(instance_id)
    assert {name: final[name] for name in (*USER, *(name for output in outputs.values() for name in output))} == {
        **USER,
        "validation": {"ok": True},
        "backgroundCheck": {"status": "clear"},
        "onboarding": {"accountId": "acc-1"},
        "outcome": {"status": "onboarded"},
        "preparedAt": "2026-12-06T00:00:00+00:00",
    }


def test_a_job_asked_for_named_variables_brings_those_only(adapters: Adapters) -> None:
    adapters.engine.start(PROCESS, business_key="c-vars", variables={**USER, "delayMs": 5})
    task = _take_one(adapters, TopicRequest(VALIDATE.topic, 60_000, variables=("email",)))
    assert (task.business_key, task.variables) == ("c-vars", {"email": "ada@example.org"})


def test_no_job_comes_within_a_wait_and_take_answers_none(adapters: Adapters) -> None:
    assert adapters.tasks.take(list(STEPS), max_tasks=5, wait_ms=200) == []


def test_a_job_that_comes_during_the_long_poll_is_taken_then(adapters: Adapters) -> None:
    starter = threading.Timer(0.3, adapters.engine.start, (PROCESS,), {"business_key": "c-late", "variables": USER})
    starter.start()
    try:
        # The wait is far longer than the start takes: the poll returns when the job comes.
        (task,) = adapters.tasks.take([CHECK, VALIDATE], max_tasks=1, wait_ms=60_000)
    finally:
        starter.join()
    assert (task.topic, task.business_key) == (VALIDATE.topic, "c-late")


def test_a_job_failed_with_no_retries_left_raises_an_incident_with_its_business_key(adapters: Adapters) -> None:
    instance_id = adapters.engine.start(PROCESS, business_key="c-inc", variables=USER)
    task = _take_one(adapters, VALIDATE)
    adapters.tasks.fail(task.id, message="directory down", details="Traceback ...", retries=2, retry_in_ms=0)
    # Retries left: the job is handed out again, with the retries reported.
    again = _take_one(adapters, VALIDATE)
    assert (again.id, again.retries) == (task.id, 2)
    adapters.tasks.fail(again.id, message="directory down", details=None, retries=0, retry_in_ms=0)

    (incident,) = adapters.engine.incidents(instance_id)
    assert (incident.activity_id, incident.message, incident.instance_id) == (
        "Task_ValidateUserInformation",
        "directory down",
        instance_id,
    )
    (raised,) = adapters.engine.incidents_raised_after(adapters.since, limit=10)
    assert (raised.id, raised.business_key, raised.instance_id) == (incident.id, "c-inc", instance_id)
    # Its job's type, from the job search: the step's topic, as Camunda 7's external task gives it.
    assert raised.topic == VALIDATE.topic
    assert raised.raised_at is not None and raised.raised_at > adapters.since
    assert adapters.engine.incidents_raised_after(raised.raised_at, limit=10) == []
    assert adapters.tasks.take([VALIDATE], max_tasks=1, wait_ms=0) == []


def test_a_failure_with_a_back_off_hands_the_job_out_only_after_it(adapters: Adapters) -> None:
    adapters.engine.start(PROCESS, business_key="c-backoff", variables=USER)
    task = _take_one(adapters, VALIDATE)
    adapters.tasks.fail(task.id, message="later", details=None, retries=2, retry_in_ms=3_600_000)
    assert adapters.tasks.take([VALIDATE], max_tasks=1, wait_ms=0) == []


def test_a_bpmn_error_takes_the_process_s_error_path(adapters: Adapters) -> None:
    adapters.engine.start(PROCESS, business_key="c-err", variables={"userId": "", "email": "nobody"})
    task = _take_one(adapters, VALIDATE)
    adapters.tasks.throw_bpmn_error(
        task.id, code="USER_REJECTED", message="userId is required", variables={"rejectionReason": "no userId"}
    )
    assert adapters.tasks.take([CHECK], max_tasks=1, wait_ms=0) == []
    reject = _take_one(adapters, REJECT)
    assert (reject.business_key, reject.variables["rejectionReason"]) == ("c-err", "no userId")


def _deploy(adapters: Adapters, folder: Path, key: str, job_type: str, **shape: Any) -> None:
    (folder / f"{key}.bpmn").write_text(zeebe_process_xml(key, (job_type,), **shape))
    deploy_bpmn(adapters.client, folder)


def _run(adapters: Adapters, key: str, job_type: str, variables: dict[str, Any]) -> str:
    """Start ``key`` and complete its one job with ``{"done": True}``; the instance's id."""
    instance_id = adapters.engine.start(key, business_key=f"c-{key}", variables=variables)
    adapters.tasks.complete(_take_one(adapters, TopicRequest(job_type, 60_000)).id, {"done": True})
    return instance_id


def test_an_instance_that_ended_plainly_is_done_with_its_variables_at_its_end(
    adapters: Adapters, tmp_path: Path
) -> None:
    _deploy(adapters, tmp_path, "plain", "plain.step", sub_process=True)
    # A value longer than the search gives whole (Camunda truncates it there) is read whole.
    note = "n" * 10_000
    instance_id = _run(adapters, "plain", "plain.step", {"amount": 700, "note": note, "lines": [{"sku": "a"}]})

    # The sub process's end event ended its own scope, not the instance's.
    assert adapters.engine.scope_ends(instance_id) == [ScopeEnd("End", "noneEndEvent")]
    ended = adapters.engine.history(instance_id)
    assert ended is not None
    assert engine_ending(ended, adapters.engine) == (
        "ENDED_AT_END_EVENT",
        Outcome.done({"amount": 700, "note": note, "lines": [{"sku": "a"}], "done": True}),
    )
    assert any(exchange.route == "/variables/{variableKey}" for exchange in adapters.exchanges)


def test_an_instance_that_reached_a_terminate_end_event_ends_error_terminated(
    adapters: Adapters, tmp_path: Path
) -> None:
    _deploy(adapters, tmp_path, "stop", "stop.step", end="terminate")
    instance_id = _run(adapters, "stop", "stop.step", {})

    assert adapters.engine.scope_ends(instance_id) == [ScopeEnd("End", "terminateEndEvent")]
    ended = adapters.engine.history(instance_id)
    assert ended is not None
    repair, outcome = engine_ending(ended, adapters.engine) or ("", None)
    assert repair == "TERMINATED"
    assert outcome is not None and outcome.error is not None
    assert (outcome.error["code"], outcome.error["activityId"]) == ("TERMINATED", "End")


def test_an_error_nothing_catches_is_an_incident_without_a_topic(adapters: Adapters, tmp_path: Path) -> None:
    # Camunda 8 keeps the instance running with an UNHANDLED_ERROR_EVENT incident where Camunda 7
    # ends it: the incident ends its process, and it is no step that ran out of retries.
    _deploy(adapters, tmp_path, "throws", "throws.step")
    instance_id = adapters.engine.start("throws", business_key="c-throws", variables={})
    task = _take_one(adapters, TopicRequest("throws.step", 60_000))
    adapters.tasks.throw_bpmn_error(task.id, code="NOPE", message="not here", variables={})

    (raised,) = adapters.engine.incidents_raised_after(adapters.since, limit=10)
    assert (raised.instance_id, raised.business_key, raised.activity_id, raised.topic) == (
        instance_id,
        "c-throws",
        "Task_0",
        None,
    )


def test_a_lock_is_extended_and_a_report_on_a_job_gone_is_refused(adapters: Adapters) -> None:
    adapters.engine.start(PROCESS, business_key="c-lock", variables=USER)
    task = _take_one(adapters, VALIDATE)
    adapters.tasks.extend_lock(task.id, 120_000)
    adapters.tasks.complete(task.id, {})
    with pytest.raises(CamundaRejected):
        adapters.tasks.complete(task.id, {})
    with pytest.raises(CamundaNotFound):
        adapters.tasks.extend_lock(task.id, 1_000)


def test_an_instance_is_cancelled_once(adapters: Adapters) -> None:
    instance_id = adapters.engine.start(PROCESS, business_key="c-cancel", variables=USER)
    assert adapters.engine.delete(instance_id) is True
    cancelled = adapters.engine.history(instance_id)
    assert cancelled is not None
    assert (cancelled.state, cancelled.business_key) == ("EXTERNALLY_TERMINATED", "c-cancel")
    assert adapters.engine.delete(instance_id) is False
    assert adapters.engine.history("2251799813685249") is None


def test_what_camunda_8_cannot_take_is_refused_before_it_is_sent(adapters: Adapters) -> None:
    with pytest.raises(CamundaNotFound):
        adapters.engine.start("nobody-deployed-this", business_key="c-none", variables={})
    with pytest.raises(InvalidRequest) as refused:
        adapters.engine.check_variables({"fine": 1, "ratio": float("nan")})
    assert refused.value.details == [{"field": "variables.ratio", "reason": "NaN and infinity are not valid JSON"}]
    with pytest.raises(InvalidRequest):
        adapters.tasks.check_variables({"big": 2**63})
    with pytest.raises(InvalidRequest):
        adapters.tasks.check_variables({"raw": b"bytes"})
    # The adapter reads no backlog (the job search cannot tell a job taken from one waiting), and says so.
    with pytest.raises(ConfigurationError):
        adapters.tasks.backlog(VALIDATE.topic)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, CamundaNotFound),
        (409, CamundaRejected),
        (400, CamundaRejected),
        (503, CamundaNoAnswer),
        (504, CamundaNoAnswer),
        (500, CamundaFailed),
    ],
)
def test_a_problem_detail_becomes_the_domain_s_error(status: int, error: type[Exception]) -> None:
    body = {"type": "about:blank", "title": "INVALID_STATE", "status": status, "detail": "why", "instance": "/v2/x"}
    mapped = problem_error(status, body, "POST", "/x")
    assert type(mapped) is error
    assert mapped.details == [{"camundaStatus": status, "camundaType": "INVALID_STATE", "camundaMessage": "why"}]


#: A path the adapters send, in their source: a literal or an f-string below /v2.
_SENT_PATH = re.compile(r'f?"(/[a-z][a-z-]*(?:/[^"\s]*)?)"')


def _routes_in_source() -> set[str]:
    """The document's routes of every path the Camunda 8 adapters' modules send."""
    package = Path(camunda8.__file__).parent
    routes = set()
    for source in package.glob("*.py"):
        for sent in _SENT_PATH.findall(source.read_text(encoding="utf-8")):
            if sent in document()["paths"]:
                routes.add(sent)
                continue
            path = re.sub(r"\{[^}]*\}", "1", sent)
            (route,) = [
                documented
                for documented in document()["paths"]
                if "{" in documented and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", documented), path)
            ]
            routes.add(route)
    return routes


def test_every_route_the_adapters_send_is_exercised_and_validated(adapters: Adapters, tmp_path: Path) -> None:
    # One scene through every request the adapters can send; the fixture validates each one.
    _deploy(adapters, tmp_path, "plain", "plain.step")
    ended = _run(adapters, "plain", "plain.step", {"note": "n" * 10_000})
    adapters.engine.find_by_business_key("c-plain", process_key="plain")
    adapters.engine.history(ended)
    adapters.engine.instances_ended_after(adapters.since, limit=10)
    adapters.engine.scope_ends(ended)
    adapters.engine.final_variables(ended)
    running = adapters.engine.start(PROCESS, business_key="c-scene", variables=USER)
    task = _take_one(adapters, VALIDATE)
    adapters.tasks.extend_lock(task.id, 60_000)
    adapters.tasks.fail(task.id, message="down", details=None, retries=0, retry_in_ms=0)
    adapters.engine.incidents(running)
    adapters.engine.incidents_raised_after(adapters.since, limit=10)
    other = adapters.engine.start(PROCESS, business_key="c-scene-2", variables=USER)
    adapters.tasks.throw_bpmn_error(_take_one(adapters, VALIDATE).id, code="USER_REJECTED", message="no", variables={})
    adapters.tasks.complete(_take_one(adapters, REJECT).id, {})
    adapters.engine.delete(running)
    assert adapters.engine.history(other) is not None

    sent = {exchange.route for exchange in adapters.exchanges}
    assert sent == _routes_in_source()
