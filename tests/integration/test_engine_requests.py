"""Every request Waitroom sends to ``/engine-rest``, validated against the OpenAPI document of each
engine it supports: Camunda 7, Operaton and CIB seven (dev-engine/src/waitroom_dev_engine/testing/camunda7.py).

The requests are the real ones: Waitroom's own Camunda adapter (the HTTP functions' engine adapter,
the worker's and the dispatcher's calls, the CLI's deployment) drives the development engine over
HTTP through each scene below, and every request that leaves its session is recorded and then
validated, route, query and body, against each document.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any

import pytest
import requests

from waitroom.adapters.camunda.client import CamundaClient, FetchTopic
from waitroom.adapters.camunda.deployment import deploy_bpmn
from waitroom.adapters.camunda.engine import CamundaEngine
from waitroom.adapters.camunda.variables import DEFAULT_STRING_MAX_CHARS, to_typed_variables
from waitroom_dev_engine import EngineServer
from waitroom_dev_engine.testing.camunda7 import ENGINE_DOCUMENTS, SentRequest, validate_request

ONBOARD_USER = Path(__file__).resolve().parents[2] / "examples" / "onboard-user" / "bpmn"
PROCESS = "onboard-user"
FIRST_TOPIC = "onboard-user.validate-user-information"
WORKER = "waitroom-requests"
UNKNOWN = "00000000-0000-0000-0000-000000000000"
# The client's methods that are its plumbing, not requests of their own.
_NOT_REQUESTS = frozenset({"close", "from_settings"})
CLIENT_REQUESTS = frozenset(
    name
    for name, member in vars(CamundaClient).items()
    if inspect.isfunction(member) and not name.startswith("_") and name not in _NOT_REQUESTS
)


@dataclass
class Scene:
    """Waitroom's adapter on the development engine, and what it sent, scene by scene."""

    client: CamundaClient
    engine: CamundaEngine
    since: datetime
    current: str = ""
    sent: dict[str, list[SentRequest]] = field(default_factory=dict)
    called: set[str] = field(default_factory=set)

    def record(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        prepared = response.request
        assert prepared.method is not None and prepared.url is not None
        body = prepared.body if isinstance(prepared.body, bytes | str) else None
        request = SentRequest.from_prepared(prepared.method, prepared.url, prepared.headers, body, self.client.base_url)
        self.sent.setdefault(self.current, []).append(request)

    def start(self, business_key: str) -> str:
        return self.engine.start(PROCESS, business_key=business_key, variables=_VARIABLES)

    def locked(self, business_key: str) -> dict[str, Any]:
        """The first task of an instance started with ``business_key``, locked by the worker."""
        instance_id = self.start(business_key)
        tasks = self.client.fetch_and_lock(
            worker_id=WORKER,
            topics=[FetchTopic(FIRST_TOPIC, 30_000)],
            max_tasks=10,
            async_response_timeout_ms=0,
        )
        task = next((task for task in tasks if task["processInstanceId"] == instance_id), None)
        assert task is not None, tasks
        return task


# Every kind of value the adapter types (variables.py): strings, integers, longs, doubles, booleans,
# null, dates and JSON.
_VARIABLES: dict[str, Any] = {
    "email": "ada@example.com",
    "age": 36,
    "accountNumber": 2**40,
    "score": 0.75,
    "verified": True,
    "referrer": None,
    "joined": datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
    "profile": {"name": "Ada", "tags": ["admin"]},
    "roles": ["admin", "user"],
}


def _deploy(scene: Scene) -> None:
    deployment = deploy_bpmn(scene.client, ONBOARD_USER)
    assert deployment["id"]


def _start(scene: Scene) -> None:
    assert scene.start("requests-start")


def _find(scene: Scene) -> None:
    assert [found.business_key for found in scene.engine.find_by_business_key("requests-start", process_key=PROCESS)]
    assert scene.engine.find_by_business_key("requests-start", process_key=None)


def _history(scene: Scene) -> None:
    (instance,) = scene.engine.find_by_business_key("requests-start", process_key=PROCESS)
    assert scene.engine.history(instance.id) is not None
    assert scene.engine.history(UNKNOWN) is None


def _fetch(scene: Scene) -> None:
    scene.start("requests-fetch")
    tasks = scene.client.fetch_and_lock(
        worker_id=WORKER,
        topics=[
            FetchTopic(FIRST_TOPIC, 30_000, variables=["email", "profile"], local_variables=True),
            FetchTopic("onboard-user.run-background-check", 30_000),
        ],
        max_tasks=1,
        async_response_timeout_ms=1_000,
    )
    assert tasks


def _extend_lock(scene: Scene) -> None:
    task = scene.locked("requests-extend")
    scene.client.extend_lock(task["id"], worker_id=WORKER, new_duration_ms=60_000)


def _complete(scene: Scene) -> None:
    task = scene.locked("requests-complete")
    variables = to_typed_variables({"checked": True, "result": {"ok": 1}}, string_max_chars=DEFAULT_STRING_MAX_CHARS)
    scene.client.complete_task(task["id"], worker_id=WORKER, variables=variables)
    scene.client.complete_task(scene.locked("requests-complete-bare")["id"], worker_id=WORKER)


def _bpmn_error(scene: Scene) -> None:
    task = scene.locked("requests-rejected")
    variables = to_typed_variables({"reason": "under age"}, string_max_chars=DEFAULT_STRING_MAX_CHARS)
    scene.client.report_bpmn_error(
        task["id"], worker_id=WORKER, error_code="USER_REJECTED", error_message="rejected", variables=variables
    )


def _failure(scene: Scene) -> None:
    task = scene.locked("requests-retried")
    scene.client.report_failure(
        task["id"], worker_id=WORKER, error_message="ValueError: x", error_details=None, retries=2, retry_timeout_ms=500
    )
    task = scene.locked("requests-incident")
    scene.client.report_failure(
        task["id"],
        worker_id=WORKER,
        error_message="ValueError: y",
        error_details="Traceback (most recent call last):\n  ...",
        retries=0,
        retry_timeout_ms=0,
    )


def _backlog(scene: Scene) -> None:
    scene.start("requests-backlog")
    assert scene.client.count_fetchable_tasks(FIRST_TOPIC) >= 1
    scene.locked("requests-holder")
    assert WORKER in scene.client.lock_holders()


def _incidents(scene: Scene) -> None:
    (instance,) = scene.engine.find_by_business_key("requests-incident", process_key=PROCESS)
    assert scene.engine.incidents(instance.id)
    # Reads the incidents' instances and tasks too: there is one of each to read.
    raised = scene.engine.incidents_raised_after(scene.since, limit=10)
    assert [incident.topic for incident in raised] == [FIRST_TOPIC]


def _ended(scene: Scene) -> None:
    scene.engine.instances_ended_after(scene.since, limit=10)


def _ending(scene: Scene) -> None:
    instance_id = scene.start("requests-ending")
    # Running: no activity has completed its scope yet; its start variables are in history already.
    assert scene.engine.scope_ends(instance_id) == []
    assert scene.engine.final_variables(instance_id)["email"] == _VARIABLES["email"]


def _cancel(scene: Scene) -> None:
    instance_id = scene.start("requests-cancel")
    assert scene.engine.delete(instance_id) is True
    assert scene.engine.delete(UNKNOWN) is False
    assert [found.state for found in scene.engine.instances_ended_after(scene.since, limit=10)] == [
        "EXTERNALLY_TERMINATED"
    ]


# In order: each scene may use what the ones before it left.
SCENES: dict[str, Callable[[Scene], None]] = {
    "cli-deploy-bpmn": _deploy,
    "http-start": _start,
    "http-find-by-business-key": _find,
    "http-history": _history,
    "worker-fetch-and-lock": _fetch,
    "worker-extend-lock": _extend_lock,
    "worker-complete": _complete,
    "worker-bpmn-error": _bpmn_error,
    "worker-failure": _failure,
    "dispatcher-backlog": _backlog,
    "http-and-cli-incidents": _incidents,
    "reconciler-ended-after": _ended,
    "engine-watch-how-it-ended": _ending,
    "http-cancel": _cancel,
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    server = EngineServer(tmp_path_factory.mktemp("requests") / "engine.sqlite")
    server.start()
    client = CamundaClient(server.url)
    recorded = Scene(client, CamundaEngine(client, string_max_chars=DEFAULT_STRING_MAX_CHARS), datetime.now(UTC))
    recorded.since -= timedelta(seconds=5)  # on the engine's clock, which is this machine's
    client.session.hooks["response"].append(recorded.record)
    for name in CLIENT_REQUESTS:
        setattr(client, name, _noting(recorded, name, getattr(client, name)))
    for name, play in SCENES.items():
        recorded.current = name
        play(recorded)
    yield recorded
    client.close()
    server.stop()


def _noting(scene: Scene, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def noted(*args: Any, **kwargs: Any) -> Any:
        scene.called.add(name)
        return method(*args, **kwargs)

    return noted


@pytest.mark.parametrize("engine", sorted(ENGINE_DOCUMENTS))
@pytest.mark.parametrize("name", list(SCENES))
def test_the_requests_match_the_engine_document(scene: Scene, name: str, engine: str) -> None:
    sent = scene.sent.get(name, [])
    assert sent, f"{name} sent nothing"
    for request in sent:
        validate_request(engine, request)


def test_every_scene_covers_the_client(scene: Scene) -> None:
    missing = sorted(CLIENT_REQUESTS - scene.called)
    assert not missing, f"no scene sends {missing}: add one to SCENES"


# The validation itself refuses what a document does not say --------------------------------------

_REFUSED = {
    "an undocumented route": SentRequest("GET", "/external-task/abc/nothing", {}, None, b""),
    "an undocumented method": SentRequest("PUT", "/process-definition/key/x/start", {}, None, b""),
    "an undocumented query parameter": SentRequest("GET", "/incident", {"incidentColour": ["red"]}, None, b""),
    "a query value of another type": SentRequest("GET", "/incident", {"maxResults": ["ten"]}, None, b""),
    "a date in RFC 3339 form": SentRequest(
        "GET", "/incident", {"incidentTimestampAfter": ["2026-01-31T12:00:00+00:00"]}, None, b""
    ),
    "an undocumented body property": SentRequest(
        "POST", "/external-task/t1/extendLock", {}, "application/json", b'{"workerId": "w", "newDuration": 1, "x": 1}'
    ),
    "an undocumented property in a nested object": SentRequest(
        "POST",
        "/external-task/fetchAndLock",
        {},
        "application/json",
        b'{"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "t", "lockDuration": 1, "colour": "red"}]}',
    ),
    "a body value of another type": SentRequest(
        "POST", "/external-task/t1/failure", {}, "application/json", b'{"workerId": "w", "retries": "many"}'
    ),
    "an undocumented media type": SentRequest("POST", "/external-task/t1/complete", {}, "text/plain", b"done"),
    "a body where none is documented": SentRequest("GET", "/incident", {}, "application/json", b"{}"),
    "an undocumented form field": SentRequest(
        "POST",
        "/deployment/create",
        {},
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="deployment-colour"\r\n\r\nred\r\n--b--\r\n',
    ),
}


@pytest.mark.parametrize("engine", sorted(ENGINE_DOCUMENTS))
@pytest.mark.parametrize("case", list(_REFUSED))
def test_the_validation_refuses_what_the_document_does_not_say(case: str, engine: str) -> None:
    with pytest.raises(AssertionError):
        validate_request(engine, _REFUSED[case])
