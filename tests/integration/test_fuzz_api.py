"""schemathesis against the local stack, from the OpenAPI document the API serves about itself.

Every generated request (valid and invalid) goes through the local gateway with what API Gateway
requires (a JWT, or a SigV4 signature on /complete). Checked: the answer matches the document
(status, content type, body schema, headers), every error is RFC 9457 problem details
(``application/problem+json``), invalid input is refused with a 4xx, and no 5xx ever comes back
except the documented one: a 500 carrying a process that ended in ERROR.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.identity import LocalIdentity
from devstack.stack import LocalSettings, LocalStack

EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABASE_URL", raising=False)
        # A start waits briefly: no worker runs, and the fuzzer needs answers, not processes.
        patch.setenv("SYNC_TIMEOUT_MS", "100")
        local = LocalSettings(data_dir=tmp_path_factory.mktemp("fuzz"), engine_port=0, concurrency=1, schedules=False)
        running = LocalStack(port=0, local=local).start()
    yield running
    running.stop()


#: Processes in every state, owned by the fuzzer, for the generated requests to meet.
SEEDED = {"seed-pending": None, "seed-done": "ok", "seed-error": "error", "seed-cancelled": "cancel"}


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> None:
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


def realistic(drawn: tuple[Any, bool, str]) -> Any:
    """Half the cases meet real data: the allowed process key, or a seeded process's id."""
    case, steer, correlation_id = drawn
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
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


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


def content_type(response: Any) -> str | None:
    """schemathesis keeps headers as lists, under names in any case."""
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return str(value[0] if isinstance(value, list) else value)
    return None


@schemathesis.check
def every_error_is_a_problem(ctx: Any, response: Any, case: Any) -> None:
    """Every error answer of Waitroom is RFC 9457 problem details; the 500 of a process in ERROR is
    the process (as the document says, which content_type_conformance checks for each status)."""
    if response.status_code < 400:
        return
    body = response.json()
    if response.status_code == 500 and body.get("status") == "ERROR":
        assert content_type(response) == "application/json"
        return
    assert content_type(response) == "application/problem+json", response.text[:300]
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:waitroom:problem:")
    assert {"title", "detail", "instance", "code", "errors"} <= set(body)
    assert "error" not in body


def send(stack: LocalStack, case: Any) -> requests.Response:
    """The generated request, signed in as API Gateway requires for its route."""
    kwargs = case.as_transport_kwargs(base_url=stack.url)
    headers = {name: str(value) for name, value in (kwargs.pop("headers", None) or {}).items()}
    body = kwargs.pop("data", None)
    if "json" in kwargs:
        body = json.dumps(kwargs.pop("json")).encode()
        headers["Content-Type"] = "application/json"
    prepared = requests.Request(
        kwargs.pop("method"), kwargs.pop("url"), params=kwargs.pop("params", None), data=body, headers=headers
    ).prepare()
    if case.operation.path == "/api/process/complete":
        raw = prepared.body or b""
        signed = LocalIdentity.sign(
            prepared.method or "POST", prepared.url or "", raw if isinstance(raw, bytes) else raw.encode()
        )
        prepared.headers.update(signed)
    else:
        prepared.headers["Authorization"] = f"Bearer {stack.identity.issue('fuzzer')}"
    with requests.Session() as session:
        return session.send(prepared, timeout=30)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_keeps_its_documented_promises(
    method: str, path: str, api_schema: Any, stack: LocalStack, seeded: None
) -> None:
    operation = api_schema[path][method]
    cases = st.tuples(operation.as_strategy(), st.booleans(), st.sampled_from(sorted(SEEDED))).map(realistic)

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def keeps_its_promises(case: Any) -> None:
        response = send(stack, case)
        case.validate_response(
            response, checks=[no_server_error_but_a_failed_process, every_error_is_a_problem, *CHECKS]
        )

    keeps_its_promises()
