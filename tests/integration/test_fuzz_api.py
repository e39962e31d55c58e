"""schemathesis against the local stack, from the OpenAPI document the API serves about itself.

Every generated request (valid and invalid) goes through the local gateway with what API Gateway
requires, added by an auth hook on the request as sent: a JWT, or a SigV4 signature of the very
bytes sent on /complete. Every check schemathesis has is on (status code, content type, headers and
body schema conformance, invalid input refused, valid input accepted, authentication enforced, …),
with its server-error check replaced by one that allows the documented 500 alone: one carrying a
process that ended in ERROR, and one more: every error is RFC 9457 problem details
(``application/problem+json``). ``make test`` runs a bounded, seeded run (``--fuzz-examples``, 40 per
operation); ``make fuzz`` the same with 1000 per operation.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.auth import AuthBase
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation

from devstack.identity import LocalIdentity
from devstack.stack import LocalSettings, LocalStack
from tests.support.stacks import run_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalSettings(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        engine_port=0,
        concurrency=1,
        schedules=False,
        # The fuzzer checks the API's contract, not the start route's throttle
        # (tests/integration/test_local_concurrency.py does): no throttle within its pace.
        parameter_overrides={"StartThrottleBurst": "100000", "StartThrottleRate": "100000"},
    )
    # A start waits briefly: no worker runs, and the fuzzer needs answers, not processes.
    with run_stack(local, {"DATABASE_URL": None, "SYNC_TIMEOUT_MS": "100"}) as running:
        yield running


#: Processes in every state, owned by the fuzzer, for the generated requests to meet.
SEEDED = {"seed-pending": None, "seed-done": "ok", "seed-error": "error", "seed-cancelled": "cancel"}


#: The list's filters: a cursor is taken only by its caller with the filters it was given out for.
LIST_FILTERS = ("status", "processKey", "startedAfter", "startedBefore")
#: A real cursor for the list's filters, as ``(name, value)`` pairs; None when there is no second page.
CursorFor = Callable[[tuple[tuple[str, str], ...]], str | None]


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> CursorFor:
    """Seeds the processes; returns where a real cursor comes from (the first one-process page of
    the filters, listed by the fuzzer's caller)."""
    headers = {"Authorization": f"Bearer {stack.identity.issue('fuzzer')}", "Prefer": "respond-async"}
    for correlation_id, ending in SEEDED.items():
        body = {"processKey": "onboard-user", "correlationId": correlation_id}
        assert requests.post(f"{stack.url}/api/process/start", json=body, headers=headers, timeout=10).ok
        if ending == "cancel":
            cancel = {"correlationId": correlation_id}
            assert requests.post(f"{stack.url}/api/process/cancel", json=cancel, headers=headers, timeout=10).ok
        elif ending:
            url = f"{stack.url}/api/process/complete"
            report = json.dumps({"correlationId": correlation_id, "status": ending, "data": {"seeded": True}}).encode()
            signed = LocalIdentity.sign("POST", url, report, {"Content-Type": "application/json"})
            assert requests.post(url, data=report, headers=signed, timeout=10).ok

    @functools.cache
    def cursor_for(filters: tuple[tuple[str, str], ...]) -> str | None:
        params = {"limit": "1", **dict(filters)}
        page = requests.get(f"{stack.url}/api/process/status/all", params=params, headers=headers, timeout=10)
        assert page.status_code == 200, page.text[:300]
        cursor: str | None = page.json().get("nextCursor")
        return cursor

    assert cursor_for(()), "the seeded processes fill more than one page"
    return cursor_for


def realistic(drawn: tuple[Any, bool, str], *, cursor_for: CursorFor) -> Any:
    """Half the cases meet real data: the allowed process key, or a seeded process's id. A cursor
    in a case meant to be valid is always a real one, given out for the case's filters (and left
    out when they have no second page): the document can say what a cursor looks like, not which
    ones the API gave out (invalid ones are refused, as test_request_edges proves)."""
    case, steer, correlation_id = drawn
    if case.query and "cursor" in case.query and not case.meta.is_negative_at(ParameterLocation.QUERY):
        filters = tuple((name, str(case.query[name])) for name in LIST_FILTERS if name in case.query)
        cursor = cursor_for(filters)
        if cursor:
            case.query["cursor"] = cursor
        else:
            del case.query["cursor"]
    if not steer:
        return case
    if isinstance(case.body, dict):
        if "processKey" in case.body:
            case.body["processKey"] = "onboard-user"
        if "correlationId" in case.body and case.operation.path != "/api/process/start":
            case.body["correlationId"] = correlation_id
    if case.path_parameters and "correlationId" in case.path_parameters:
        case.path_parameters["correlationId"] = correlation_id
    return case


@pytest.fixture(scope="module")
def api_schema(stack: LocalStack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.url}/api/process/openapi.json")


#: Every operation the document describes; a test below proves the list is the document's.
OPERATIONS = [
    ("POST", "/api/process/start"),
    ("GET", "/api/process/status/{correlationId}"),
    ("GET", "/api/process/status/all"),
    ("POST", "/api/process/complete"),
    ("POST", "/api/process/cancel"),
]
load_all_checks()
#: Every check schemathesis has, its "no server error" replaced by the one below.
ALL_CHECKS = [check for check in CHECKS.get_all() if getattr(check, "__name__", "") != "not_a_server_error"]
#: What the run sent and met, for its summary.
SENT: Counter[str] = Counter()


def test_every_documented_operation_is_fuzzed(api_schema: Any) -> None:
    documented = {
        (operation.method.upper(), operation.path)
        for result in api_schema.get_all_operations()
        for operation in [result.ok()]
    }
    assert documented == set(OPERATIONS)


@schemathesis.check
def no_server_error_but_a_failed_process(ctx: Any, response: Any, case: Any) -> None:
    """A 5xx is a defect, except the documented 500 that carries a process which ended in ERROR."""
    if response.status_code < 500:
        return
    assert response.status_code == 500, f"{response.status_code}: {response.text[:300]}"
    assert response.json().get("status") == "ERROR", f"500 without a failed process: {response.text[:300]}"


class Bearer(AuthBase):
    """The JWT API Gateway's authorizer requires on client routes."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class SigV4(AuthBase):
    """A SigV4 signature of the request exactly as it is sent, as the IAM authorizer of /complete requires."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        raw = request.body or b""
        body = raw if isinstance(raw, bytes) else raw.encode()
        signed = LocalIdentity.sign(request.method or "POST", request.url or "", body, dict(request.headers))
        request.headers.update({name: value for name, value in signed.items() if name.lower() != "content-type"})
        return request


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """Prints how many cases were sent and what came back, past pytest's capture, for the README."""
    yield
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(SENT.items()) if status != "cases")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nfuzzing: {SENT['cases']} generated cases sent; answers {statuses}")


def content_type(response: Any) -> str | None:
    """schemathesis keeps headers as lists, under names in any case."""
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return str(value[0] if isinstance(value, list) else value)
    return None


@schemathesis.check
def every_error_is_a_problem(ctx: Any, response: Any, case: Any) -> None:
    """Every error answer of Waitroom is RFC 9457 problem details; the 500 of a process in ERROR is
    the process (as the document says, which content_type_conformance checks for each status). A 429
    is API Gateway's own (the start route's throttle), in its own shape, as the document says."""
    if response.status_code < 400:
        return
    body = response.json()
    if response.status_code == 429:
        assert body == {"message": "Too Many Requests"}, response.text[:300]
        return
    if response.status_code == 500 and body.get("status") == "ERROR":
        assert content_type(response) == "application/json"
        return
    assert content_type(response) == "application/problem+json", response.text[:300]
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:waitroom:problem:")
    assert {"title", "detail", "instance", "code", "errors"} <= set(body)
    assert "error" not in body


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_keeps_its_documented_promises(
    method: str, path: str, *, api_schema: Any, stack: LocalStack, seeded: CursorFor, summary: None, fuzz_examples: int
) -> None:
    operation = api_schema[path][method]
    cases = st.tuples(operation.as_strategy(), st.booleans(), st.sampled_from(sorted(SEEDED))).map(
        functools.partial(realistic, cursor_for=seeded)
    )
    auth: AuthBase = SigV4() if path == "/api/process/complete" else Bearer(stack.identity.issue("fuzzer"))
    # Named explicitly so that schemathesis knows the request is authenticated (its ignored_auth check
    # then proves that the same request without it, or with a wrong one, is refused); the hook then
    # puts in the real credential, which for SigV4 depends on the bytes sent.
    explicit = {"Authorization": "set by the auth hook"}

    @given(case=cases)
    @settings(
        max_examples=fuzz_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def keeps_its_promises(case: Any) -> None:
        with requests.Session() as session:
            response = case.call(base_url=stack.url, session=session, headers=explicit, auth=auth, timeout=30)
        SENT["cases"] += 1
        SENT[str(response.status_code)] += 1
        case.validate_response(
            response, checks=[no_server_error_but_a_failed_process, every_error_is_a_problem, *ALL_CHECKS]
        )

    keeps_its_promises()
