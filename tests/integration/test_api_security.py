"""Who may call what, hostile input, and secrets kept out of the logs: through the real handler code
on every backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.api import Api, ColdStart
from tests.support.camunda_stub import CamundaStub
from tests.support.lambdas import HttpResult, invoke, load_event, with_body, with_headers, with_path
from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.settings import Settings

USER = {"userId": "u-1", "email": "u1@example.com"}


@pytest.fixture
def api(database_url: str, cold_start: ColdStart) -> Api:
    """The functions with the deployed defaults: only onboard-user may be started."""
    return cold_start(database_url)


def start_async(api: Api, correlation_id: str, **body: Any) -> HttpResult:
    return api.start({"processKey": "onboard-user", "correlationId": correlation_id, **body}, prefer="respond-async")


# --- ownership ----------------------------------------------------------------------------------


def test_another_caller_cannot_see_cancel_or_take_over_a_process(api: Api) -> None:
    assert start_async(api, "own-1", variables=USER).status == 202
    bob = api.as_caller("bob")

    read = bob.status("own-1")
    assert read.status == 404, "another caller's process is not found, not forbidden"
    assert read.body["code"] == "PROCESS_NOT_FOUND"
    assert bob.cancel({"correlationId": "own-1"}).status == 404
    taken = bob.start({"processKey": "onboard-user", "correlationId": "own-1", "variables": USER})
    assert taken.status == 409
    assert taken.body["errors"] == [{"field": "correlationId", "reason": "already in use"}]
    assert "processKey" not in json.dumps(taken.body), "nothing about alice's process is told"
    assert len(api.camunda.starts_of("own-1")) == 1
    assert api.status("own-1").status == 202, "alice still sees hers"


def test_the_list_shows_callers_their_own_processes_and_admins_every_one(api: Api) -> None:
    start_async(api, "mine-1")
    start_async(api.as_caller("bob"), "bobs-1")
    assert [item["correlationId"] for item in api.list().body["items"]] == ["mine-1"]
    assert [item["correlationId"] for item in api.as_caller("bob").list().body["items"]] == ["bobs-1"]
    admin = api.as_caller("carol", admin=True)
    assert {item["correlationId"] for item in admin.list().body["items"]} == {"mine-1", "bobs-1"}
    assert admin.status("bobs-1").status == 202, "an admin reads any process"
    assert admin.cancel({"correlationId": "bobs-1"}).status == 200, "and cancels any"


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "waitroom/processes waitroom/admin"},
        # A list claim (Azure AD, Okta): API Gateway passes it on as the list's string form.
        {"scp": "[waitroom/processes waitroom/admin]"},
    ],
)
def test_an_admin_is_recognised_from_the_claims_api_gateway_passes(api: Api, claims: dict[str, str]) -> None:
    start_async(api.as_caller("bob"), "claims-1")
    event = with_path(load_event("status"), "/api/process/status/claims-1", {"correlationId": "claims-1"})
    # No route declares AuthorizationScopes, so API Gateway passes no `scopes`: only the claims.
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": "carol", **claims}}}
    assert invoke(api.functions.status, event).status == 202, "an admin reads any process"
    event["requestContext"]["authorizer"]["jwt"]["claims"] = {"sub": "carol", "scp": "[waitroom/processes]"}
    assert invoke(api.functions.status, event).status == 404, "without the scope, carol is no admin"


def through_function_url(event: dict[str, Any], signer_arn: str) -> dict[str, Any]:
    """The event as a Function URL (``AuthType: AWS_IAM``) passes it on for a request ``signer_arn`` signed."""
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    event["requestContext"]["authorizer"] = {"iam": {"userArn": signer_arn, "accountId": "123456789012"}}
    return event


def test_a_role_owns_what_it_started_through_a_function_url_under_any_session_name(api: Api) -> None:
    role = "arn:aws:sts::123456789012:assumed-role/batch-runner"
    body = {"processKey": "onboard-user", "correlationId": "role-1", "variables": USER}
    event = with_headers(with_body(load_event("start"), body), prefer="respond-async")
    assert invoke(api.functions.start, through_function_url(event, f"{role}/session-a")).status == 202
    read = with_path(load_event("status"), "/api/process/status/role-1", {"correlationId": "role-1"})
    assert invoke(api.functions.status, through_function_url(read, f"{role}/session-b")).status == 202
    other = through_function_url(read, "arn:aws:sts::123456789012:assumed-role/another-role/session-a")
    assert invoke(api.functions.status, other).status == 404, "another role does not read it"


def test_a_request_without_a_token_subject_is_refused(api: Api) -> None:
    event = with_body(load_event("start"), {"processKey": "onboard-user", "variables": USER})
    del event["requestContext"]["authorizer"]
    response = invoke(api.functions.start, event)
    assert response.status == 401
    assert response.body["code"] == "UNAUTHENTICATED"
    assert api.camunda.starts == []


def test_only_allowed_process_keys_can_be_started(api: Api) -> None:
    response = api.start({"processKey": "slow-process", "correlationId": "key-1"})
    assert response.status == 403
    assert response.body["code"] == "PROCESS_KEY_NOT_ALLOWED"
    assert response.error_fields == ["processKey"]
    assert api.camunda.starts == [], "Camunda is never asked"
    assert api.status("key-1").status == 404, "and no row is left"


# --- hostile input ------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return '{"processKey": "onboard-user", "variables": {"v": ' + "[" * (depth - 2) + "1" + "]" * (depth - 2) + "}}"


def test_json_nested_deeper_than_32_is_refused_before_it_is_parsed(api: Api) -> None:
    assert start_async_raw(api, nested(32)).status == 202
    too_deep = start_async_raw(api, nested(33))
    assert too_deep.status == 400
    assert too_deep.error_fields == ["body"]
    bomb = start_async_raw(api, "[" * 200_000)
    assert bomb.status == 400, "not a RecursionError turned 500"


def start_async_raw(api: Api, body: str) -> HttpResult:
    return api.start(body, prefer="respond-async")


HOSTILE = [
    "Robert'); DROP TABLE process_store;--",
    "' OR '1'='1",
    "%s %(x)s %% {0} ${jndi:ldap://x}",
    "\\'; EXEC xp_cmdshell 'dir'--",
    "N'unicode' \u0000 \u202eevil\u202c \ufeff 👩‍👩‍👧",
    "<script>alert(1)</script>",
]


def test_hostile_variables_and_results_round_trip_untouched(api: Api) -> None:
    variables = {f"v{index}": text for index, text in enumerate(HOSTILE)}
    assert start_async(api, "hostile-1", variables=variables).status == 202
    (started,) = api.camunda.starts_of("hostile-1")
    assert {name: typed["value"] for name, typed in started["variables"].items()} == variables
    result = {text: text for text in HOSTILE}
    assert api.complete({"correlationId": "hostile-1", "status": "ok", "data": result}).status == 200
    assert api.status("hostile-1").body["data"] == result


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udfffb"'])
def test_unpaired_surrogates_are_a_400_naming_the_field(api: Api, text: str) -> None:
    response = start_async_raw(api, '{"processKey": "onboard-user", "variables": {"note": ' + text + "}}")
    assert response.status == 400
    assert "variables.note" in response.body["detail"]


# --- secrets and values never logged ------------------------------------------------------------

MARKERS = ("SECRET-DB-PASSWORD-7731", "SECRET-CAMUNDA-PASSWORD-7731", "SECRET-VARIABLE-VALUE-7731")


def test_no_secret_password_or_variable_value_reaches_a_log_line(
    pg_schema_url: str,
    camunda: CamundaStub,
    cold_start: ColdStart,
    log_lines: Callable[[], list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The local server trusts every connection, so a password in the URL is accepted and ignored.
    url = pg_schema_url.replace("postgres@", f"postgres:{MARKERS[0]}@")
    migrate(dialect_for(url, Settings(database_url=url)))
    api = cold_start(url, camunda_user="demo", camunda_password=MARKERS[1])
    secret_value = {"userId": MARKERS[2], "email": f"{MARKERS[2]}@example.com", "note": MARKERS[2]}

    api.start({"processKey": "onboard-user", "correlationId": "log-1", "variables": secret_value}, prefer="wait=0")
    api.start({"processKey": "onboard-user", "correlationId": "log-1", "variables": {"other": MARKERS[2]}})
    api.start({"processKey": "onboard-user", "variables": {"bad name": MARKERS[2]}})
    api.start({"processKey": "onboard-user", "variables": {"n": float("nan"), "v": MARKERS[2]}})
    api.complete({"correlationId": "log-1", "status": "error", "error": MARKERS[2], "data": MARKERS[2]})
    api.status("log-1")
    camunda.mode = "server-error"
    api.start({"processKey": "onboard-user", "correlationId": "log-2", "variables": secret_value})
    database_down = cold_start(
        url.replace(":5432/", ":1/"),
        db_connect_timeout_s=1,
        camunda_user="demo",
        camunda_password=MARKERS[1],
    )
    database_down.start({"processKey": "onboard-user", "variables": secret_value})

    logged = json.dumps(log_lines()) + caplog.text
    assert "process started" in logged, "the test did capture the logs"
    for marker in MARKERS:
        assert marker not in logged
