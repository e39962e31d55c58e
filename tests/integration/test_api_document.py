"""The OpenAPI document tells the truth: each problem it shows as an example is the answer the real
handler gives in that situation, recreated here, body for body; and the error table's problem types
are the ones the document names."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from devstack.stack import LocalSettings, LocalStack
from tests.support.api import Api, ColdStart
from tests.support.lambdas import HttpResult, invoke, load_event, with_body, with_caller, with_headers, with_query
from tests.support.stacks import run_stack
from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.entrypoints.http.docs import as_configured
from waitroom.entrypoints.http.problem_examples import DEFAULT_MAX_BODY_BYTES, INSTANCE_ID, PROBLEMS, problem_codes
from waitroom.entrypoints.http.problems import PROBLEM_JSON, problem_types
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "functions" / "docs" / "openapi.json").read_text(encoding="utf-8"))
USER = {"userId": "user-123", "email": "user@example.com"}
START = {"processKey": "onboard-user", "correlationId": "user-123", "variables": USER}
#: Nothing listens here: a connection is refused at once.
CLOSED_PORT_URL = "http://127.0.0.1:1/engine-rest"
DOWN_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/test"


def documented_examples() -> list[tuple[str, int, str, dict[str, Any]]]:
    """(operation, status, example name, body) of every problem example in the document."""
    found = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                examples = response.get("content", {}).get(PROBLEM_JSON, {}).get("examples", {})
                for name, example in examples.items():
                    found.append((f"{method.upper()} {path}", int(status), name, example["value"]))
    return found


class Situations:
    """The API functions on a fresh SQLite file, cold-started on the settings a situation needs."""

    def __init__(self, tmp_path: Path, cold_start: ColdStart, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = f"sqlite:///{tmp_path / 'waitroom.sqlite3'}"
        migrate(dialect_for(self.url, Settings(database_url=self.url)))
        self.cold_start = cold_start
        self.monkeypatch = monkeypatch

    def api(self, **settings: object) -> Api:
        return self.cold_start(str(settings.pop("database_url", self.url)), **settings)

    def failing(self, method: str) -> Api:
        """The functions, with the service's ``method`` failing as a defect would."""

        def defect(*_: object, **__: object) -> Any:
            raise RuntimeError("a defect")

        self.monkeypatch.setattr(ProcessService, method, defect)
        return self.api()


def start_raw(api: Api, body: str, **headers: str) -> HttpResult:
    event = with_headers(with_body(load_event("start"), body), **headers)
    return invoke(api.functions.start, with_caller(event, "alice"))


def anonymous(function: Any, event: dict[str, Any]) -> HttpResult:
    """A request whose token carries no subject."""
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {}, "scopes": []}}
    return invoke(function, event)


def too_large_body() -> str:
    """A start body of one byte over ``MAX_BODY_BYTES``."""
    head, tail = '{"processKey":"onboard-user","variables":{"pad":"', '"}}'
    return head + "x" * (DEFAULT_MAX_BODY_BYTES + 1 - len(head) - len(tail)) + tail


def finished(api: Api) -> Api:
    """``user-123`` started and completed DONE."""
    assert api.start(START, prefer="respond-async").status == 202
    assert api.complete({"correlationId": "user-123", "status": "ok", "data": {"accountId": "acct-1"}}).status == 200
    return api


def started(api: Api) -> Api:
    assert api.start(START, prefer="respond-async").status == 202
    return api


def start_with_failing_camunda(world: Situations) -> HttpResult:
    api = world.api()
    api.camunda.mode = "server-error"
    return api.start(START)


def cancel_with_failing_camunda(world: Situations) -> HttpResult:
    api = started(world.api())
    api.camunda.mode = "server-error"
    answer = api.cancel({"correlationId": "user-123"})
    (instance,) = api.camunda.starts_of("user-123")
    # Camunda names each new instance: the example's id stands for it.
    detail = answer.body["detail"].replace(instance["id"], INSTANCE_ID)
    return HttpResult(answer.status, answer.headers, {**answer.body, "detail": detail})


def status_of(api: Api, correlation_id: str, **query: str) -> HttpResult:
    return invoke(
        api.functions.status,
        with_caller(
            with_query(
                {
                    **load_event("status"),
                    "rawPath": f"/api/process/status/{correlation_id}",
                    "pathParameters": {"correlationId": correlation_id},
                },
                **query,
            ),
            "alice",
        ),
    )


Situation = Callable[[Situations], HttpResult]

#: How to get each example's answer from the real handler, by operation and example name.
SITUATIONS: dict[tuple[str, str], Situation] = {
    ("POST /api/process/start", "badVariableName"): lambda w: w.api().start(
        {"processKey": "onboard-user", "variables": {"1x": 1}}
    ),
    ("POST /api/process/start", "noSubject"): lambda w: anonymous(
        w.api().functions.start, with_body(load_event("start"), START)
    ),
    ("POST /api/process/start", "keyNotAllowed"): lambda w: w.api().start({"processKey": "payroll"}),
    ("POST /api/process/start", "unknownKey"): lambda w: w.api(allowed_process_keys="*").start(
        {"processKey": "payroll"}
    ),
    ("POST /api/process/start", "otherVariables"): lambda w: started(w.api()).start(
        {**START, "variables": {**USER, "email": "other@example.com"}}
    ),
    ("POST /api/process/start", "tooLarge"): lambda w: start_raw(w.api(), too_large_body()),
    ("POST /api/process/start", "notJson"): lambda w: start_raw(w.api(), json.dumps(START), content_type="text/plain"),
    ("POST /api/process/start", "unexpected"): lambda w: w.failing("start").start(START),
    ("POST /api/process/start", "camundaFailed"): start_with_failing_camunda,
    ("POST /api/process/start", "camundaDown"): lambda w: w.api(camunda_url=CLOSED_PORT_URL).start(START),
    ("POST /api/process/start", "storeDown"): lambda w: w.api(database_url=DOWN_DATABASE_URL).start(START),
    ("GET /api/process/status/all", "limitTooSmall"): lambda w: w.api().list(limit="0"),
    ("GET /api/process/status/all", "noSubject"): lambda w: anonymous(
        w.api().functions.status, load_event("status-all")
    ),
    ("GET /api/process/status/all", "unexpected"): lambda w: w.failing("list_page").list(),
    ("GET /api/process/status/all", "storeDown"): lambda w: w.api(database_url=DOWN_DATABASE_URL).list(),
    ("GET /api/process/status/{correlationId}", "badHistory"): lambda w: status_of(
        w.api(), "user-123", history="maybe"
    ),
    ("GET /api/process/status/{correlationId}", "noSubject"): lambda w: anonymous(
        w.api().functions.status,
        {**load_event("status"), "rawPath": "/api/process/status/user-123", "pathParameters": {}},
    ),
    ("GET /api/process/status/{correlationId}", "unknownId"): lambda w: w.api().status("user-123"),
    ("GET /api/process/status/{correlationId}", "unexpected"): lambda w: w.failing("status").status("user-123"),
    ("GET /api/process/status/{correlationId}", "storeDown"): lambda w: w.api(database_url=DOWN_DATABASE_URL).status(
        "user-123"
    ),
    ("POST /api/process/complete", "duplicatedKey"): lambda w: w.api().complete(
        '{"correlationId": "user-123", "status": "ok", "status": "error"}'
    ),
    ("POST /api/process/complete", "unknownId"): lambda w: w.api().complete(
        {"correlationId": "user-123", "status": "ok"}
    ),
    ("POST /api/process/complete", "otherOutcome"): lambda w: finished(w.api()).complete(
        {"correlationId": "user-123", "status": "error", "error": "too late"}
    ),
    ("POST /api/process/complete", "tooLarge"): lambda w: invoke(
        w.api().functions.complete, with_body(load_event("complete"), too_large_body())
    ),
    ("POST /api/process/complete", "notJson"): lambda w: invoke(
        w.api().functions.complete,
        with_headers(
            with_body(load_event("complete"), {"correlationId": "user-123", "status": "ok"}), content_type="text/plain"
        ),
    ),
    ("POST /api/process/complete", "unexpected"): lambda w: w.failing("complete").complete(
        {"correlationId": "user-123", "status": "ok"}
    ),
    ("POST /api/process/complete", "storeDown"): lambda w: w.api(database_url=DOWN_DATABASE_URL).complete(
        {"correlationId": "user-123", "status": "ok"}
    ),
    ("POST /api/process/cancel", "noCorrelationId"): lambda w: w.api().cancel({"reason": "the user withdrew"}),
    ("POST /api/process/cancel", "noSubject"): lambda w: anonymous(
        w.api().functions.cancel, with_body(load_event("cancel"), {"correlationId": "user-123"})
    ),
    ("POST /api/process/cancel", "unknownId"): lambda w: w.api().cancel({"correlationId": "user-123"}),
    ("POST /api/process/cancel", "alreadyDone"): lambda w: finished(w.api()).cancel({"correlationId": "user-123"}),
    ("POST /api/process/cancel", "tooLarge"): lambda w: invoke(
        w.api().functions.cancel, with_caller(with_body(load_event("cancel"), too_large_body()), "alice")
    ),
    ("POST /api/process/cancel", "notJson"): lambda w: invoke(
        w.api().functions.cancel,
        with_caller(
            with_headers(with_body(load_event("cancel"), {"correlationId": "user-123"}), content_type="text/plain"),
            "alice",
        ),
    ),
    ("POST /api/process/cancel", "unexpected"): lambda w: w.failing("cancel").cancel({"correlationId": "user-123"}),
    ("POST /api/process/cancel", "camundaFailed"): cancel_with_failing_camunda,
    ("POST /api/process/cancel", "camundaDown"): lambda w: (
        started(w.api()),
        w.api(camunda_url=CLOSED_PORT_URL).cancel({"correlationId": "user-123"}),
    )[1],
    ("POST /api/process/cancel", "storeDown"): lambda w: w.api(database_url=DOWN_DATABASE_URL).cancel(
        {"correlationId": "user-123"}
    ),
}

EXAMPLES = documented_examples()


def test_every_error_status_of_every_operation_has_a_problem_with_an_example() -> None:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response["content"]
                if int(status) < 400:
                    assert PROBLEM_JSON not in content
                    continue
                if PROBLEM_JSON not in content:
                    # What only API Gateway answers (throttling, a signature it refused) is its own.
                    assert list(content) == ["application/json"], f"{method} {path} {status}"
                    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/GatewayMessage"}
                    continue
                assert next(iter(content)) == PROBLEM_JSON, "the problem is what Swagger UI shows first"
                problem = content[PROBLEM_JSON]
                assert problem["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
                assert problem["examples"], f"{method} {path} {status} has no example"
                assert all(example["value"]["status"] == int(status) for example in problem["examples"].values())


def test_every_example_has_its_situation() -> None:
    assert {(operation, name) for operation, _, name, _ in EXAMPLES} == set(SITUATIONS)


@pytest.mark.parametrize(
    ("operation", "status", "name", "body"), EXAMPLES, ids=[f"{op} {st} {name}" for op, st, name, _ in EXAMPLES]
)
def test_each_example_is_the_answer_the_api_gives(
    *,
    operation: str,
    status: int,
    name: str,
    body: dict[str, Any],
    tmp_path: Path,
    cold_start: ColdStart,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = SITUATIONS[operation, name](Situations(tmp_path, cold_start, monkeypatch))
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.body == body


def test_the_problem_types_are_the_ones_the_document_names() -> None:
    schema = DOCUMENT["components"]["schemas"]["ProblemDetails"]["properties"]
    kinds = problem_types()
    assert sorted(kind.code for kind in kinds) == schema["code"]["enum"]
    assert sorted(kind.type for kind in kinds) == schema["type"]["enum"]
    assert all(kind.when and kind.title for kind in kinds)
    for _, status, _, body in EXAMPLES:
        (kind,) = [kind for kind in kinds if kind.code == body["code"]]
        assert (kind.status, kind.type, kind.title) == (status, body["type"], body["title"])


def test_every_problem_of_the_table_is_answered_by_an_operation_or_said_why_not() -> None:
    answered = {code for operation in PROBLEMS for codes in problem_codes(operation).values() for code in codes}
    # A path no operation has (a Function URL's), the command line's delete, and a Camunda 404, which
    # start turns into PROCESS_DEFINITION_NOT_FOUND and cancel into "the instance had already ended".
    unanswered = {"ROUTE_NOT_FOUND", "PROCESS_PENDING", "CAMUNDA_NOT_FOUND"}
    assert {kind.code for kind in problem_types()} - answered == unanswered
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, codes in problem_codes(f"{method.upper()} {path}").items():
                description = operation["responses"][str(status)]["description"]
                assert all(f"`{code}`" in description for code in codes), description


# --- what the document allows, the API accepts ----------------------------------------------------


def test_the_served_document_gives_the_deployments_largest_body() -> None:
    served = json.loads(as_configured(json.dumps(DOCUMENT), Settings(max_body_bytes=1000)))
    for path in ("/api/process/start", "/api/process/complete", "/api/process/cancel"):
        assert "at most 1000 bytes" in served["paths"][path]["post"]["requestBody"]["description"]
    default = Settings().max_body_bytes
    assert f"at most {default} bytes" in DOCUMENT["paths"]["/api/process/start"]["post"]["requestBody"]["description"]


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        (2**63 - 1, True),
        (-(2**63), True),
        (2**63, False),
        (-(2**63) - 1, False),
        (109061793567373197312, False),
        (0.5, True),
        ("109061793567373197312", True),
        ([2**64], True),
    ],
)
def test_a_variable_is_allowed_by_the_document_exactly_when_the_api_accepts_it(
    value: Any, allowed: bool, tmp_path: Path, cold_start: ColdStart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A top-level integer becomes a Camunda Integer or Long (a nested one travels inside a Json
    variable): the document bounds it as the API does."""
    body = {"processKey": "onboard-user", "correlationId": "range-1", "variables": {"n": value}}
    documented = Draft202012Validator(DOCUMENT["components"]["schemas"]["StartRequest"]).is_valid(body)
    answer = Situations(tmp_path, cold_start, monkeypatch).api().start(body, prefer="respond-async")
    assert documented is allowed
    assert (answer.status == 202) is allowed, answer.body
    if not allowed:
        assert answer.body["errors"] == [
            {"field": "variables.n", "reason": "integer outside the range of a 64-bit Long"}
        ]


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """``make run``: the local stack on its defaults (SQLite, the development engine, the worker)."""
    local = LocalSettings(data_dir=tmp_path_factory.mktemp("document"), engine_port=0, concurrency=1)
    with run_stack(local, dict.fromkeys(("DATABASE_URL", "CAMUNDA_URL", "ALLOWED_PROCESS_KEYS"))) as running:
        yield running


def test_the_start_example_succeeds_when_tried(local_stack: LocalStack) -> None:
    """What Swagger UI's "Try it out" sends by default, from the document the stack serves."""
    served = requests.get(f"{local_stack.url}/api/process/openapi.json", timeout=10).json()
    examples = served["paths"]["/api/process/start"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    example = next(iter(examples.values()))["value"]
    token = local_stack.identity.issue("swagger-user")
    answer = requests.post(
        f"{local_stack.url}/api/process/start", json=example, headers={"Authorization": f"Bearer {token}"}, timeout=40
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "DONE"
    assert answer.json()["data"]["success"] is True
