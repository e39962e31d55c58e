"""The API functions end to end through their real handler code: the ``events/`` files in, a real
database (every backend) and a Camunda stand-in over real HTTP behind them."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.api import Api, ColdStart
from tests.support.lambdas import HttpResult, invoke, load_event, with_body, with_headers, with_path, with_query
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.domain.errors import ConfigurationError
from waitroom.domain.process import StepEvent, StepOutcome
from waitroom.settings import Settings

USER = {"userId": "user-123", "email": "user@example.com"}


@pytest.fixture
def configure(database_url: str, cold_start: ColdStart) -> Callable[..., Api]:
    """Cold-start the API functions with every process key allowed and these settings."""

    def configured(**settings: object) -> Api:
        return cold_start(database_url, **{"allowed_process_keys": "*", **settings})

    return configured


@pytest.fixture
def api(configure: Callable[..., Api]) -> Api:
    return configure()


# --- start and wait ---------------------------------------------------------------------------


def test_a_process_that_completes_in_200_ms_is_answered_200_with_its_data(api: Api) -> None:
    reporter = api.complete_later(0.2, {"correlationId": "user-123", "status": "ok", "data": {"success": True}})
    response = api.start({"processKey": "onboard-user", "correlationId": "user-123", "variables": USER})
    reporter.join()

    assert response.status == 200
    assert response.body["status"] == "DONE"
    assert response.body["data"] == {"success": True}
    assert response.body["correlationId"] == "user-123"
    assert response.body["processKey"] == "onboard-user"
    assert response.body["statusUrl"] == "/api/process/status/user-123"
    assert response.body["durationMs"] >= 0
    assert response.body["completedAt"].endswith("Z")
    assert "location" not in response.headers
    (start,) = api.camunda.starts_of("user-123")
    assert start["key"] == "onboard-user"
    assert start["variables"] == {
        "userId": {"value": "user-123", "type": "String"},
        "email": {"value": "user@example.com", "type": "String"},
    }


def test_a_process_that_never_completes_is_answered_202_after_the_sync_timeout(configure: Callable[..., Api]) -> None:
    api = configure(sync_timeout_ms=1000)
    began = time.monotonic()
    response = api.start({"processKey": "onboard-user", "correlationId": "slow-1", "variables": USER})
    elapsed = time.monotonic() - began

    assert response.status == 202
    assert elapsed >= 1.0, "the wait lasts SYNC_TIMEOUT_MS"
    assert elapsed < 5, "and not much longer"
    assert response.headers["location"] == "/api/process/status/slow-1"
    assert response.headers["retry-after"] == "1"
    assert response.body["status"] == "PENDING"
    assert response.body["statusUrl"] == "/api/process/status/slow-1"
    assert "completedAt" not in response.body


def test_a_generated_correlation_id_when_none_is_given(configure: Callable[..., Api]) -> None:
    api = configure()
    response = api.start({"processKey": "onboard-user", "variables": USER}, prefer="respond-async")
    assert response.status == 202
    generated = response.body["correlationId"]
    assert len(generated) == 36
    assert api.camunda.starts_of(generated)


def test_prefer_respond_async_answers_at_once(api: Api) -> None:
    began = time.monotonic()
    response = api.start({"processKey": "onboard-user", "correlationId": "async-1"}, prefer="respond-async")
    assert time.monotonic() - began < 2
    assert response.status == 202
    assert response.headers["preference-applied"] == "respond-async"


def test_prefer_wait_shortens_the_wait(configure: Callable[..., Api]) -> None:
    api = configure(sync_timeout_ms=20_000)
    began = time.monotonic()
    response = api.start({"processKey": "onboard-user", "correlationId": "short-1"}, prefer="wait=1")
    elapsed = time.monotonic() - began
    assert response.status == 202
    assert 1.0 <= elapsed < 5
    assert response.headers["preference-applied"] == "wait=1"


def test_a_process_that_ends_in_error_is_answered_500_with_the_error(api: Api) -> None:
    reporter = api.complete_later(
        0.1, {"correlationId": "bad-1", "status": "error", "error": {"code": "REJECTED", "message": "no email"}}
    )
    response = api.start({"processKey": "onboard-user", "correlationId": "bad-1", "variables": USER})
    reporter.join()
    assert response.status == 500
    assert response.body["status"] == "ERROR"
    assert response.body["error"] == {"code": "REJECTED", "message": "no email"}
    assert api.status("bad-1").status == 500


# --- idempotent start -------------------------------------------------------------------------


def test_the_same_start_again_joins_the_process_and_never_starts_a_second_instance(api: Api) -> None:
    first = api.start(
        {"processKey": "onboard-user", "correlationId": "join-1", "variables": USER}, prefer="respond-async"
    )
    # The same variables in another order are the same request.
    reordered = {"email": USER["email"], "userId": USER["userId"]}
    joined = api.start(
        {"processKey": "onboard-user", "correlationId": "join-1", "variables": reordered}, prefer="wait=0"
    )
    assert (first.status, joined.status) == (202, 202)

    api.complete({"correlationId": "join-1", "status": "ok", "data": {"n": 1}})
    finished = api.start({"processKey": "onboard-user", "correlationId": "join-1", "variables": USER})
    assert finished.status == 200
    assert finished.body["data"] == {"n": 1}
    assert len(api.camunda.starts_of("join-1")) == 1


def test_a_waiting_joiner_gets_the_result_too(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "join-2"}, prefer="respond-async")
    reporter = api.complete_later(0.3, {"correlationId": "join-2", "status": "ok", "data": "done"})
    joined = api.start({"processKey": "onboard-user", "correlationId": "join-2"})
    reporter.join()
    assert joined.status == 200
    assert joined.body["data"] == "done"
    assert len(api.camunda.starts_of("join-2")) == 1


@pytest.mark.parametrize(
    ("second", "field"),
    [
        ({"processKey": "slow-process", "variables": USER}, "processKey"),
        ({"processKey": "onboard-user", "variables": {**USER, "email": "other@example.com"}}, "variables"),
    ],
    ids=["other-key", "other-variables"],
)
def test_the_same_id_with_different_input_is_409(api: Api, second: dict[str, Any], field: str) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "dup-1", "variables": USER}, prefer="respond-async")
    response = api.start({**second, "correlationId": "dup-1"}, prefer="respond-async")
    assert response.status == 409
    assert response.body["code"] == "CORRELATION_ID_CONFLICT"
    assert response.error_fields == [field]
    assert len(api.camunda.starts_of("dup-1")) == 1


# --- status ------------------------------------------------------------------------------------


def test_status_202_then_complete_then_status_200(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "s-1"}, prefer="respond-async")
    pending = api.status("s-1")
    assert pending.status == 202
    assert pending.headers["location"] == "/api/process/status/s-1"
    assert pending.headers["retry-after"] == "1"

    assert api.complete({"correlationId": "s-1", "status": "ok", "data": {"a": 1}}).status == 200
    done = api.status("s-1")
    assert done.status == 200
    assert done.body["status"] == "DONE"
    assert done.body["data"] == {"a": 1}


def test_status_can_wait_when_asked(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "s-2"}, prefer="respond-async")
    reporter = api.complete_later(0.2, {"correlationId": "s-2", "status": "ok"})
    response = api.status("s-2", prefer="wait=5")
    reporter.join()
    assert response.status == 200
    assert response.headers["preference-applied"] == "wait=5"


def through_function_url(event: dict[str, Any]) -> dict[str, Any]:
    """The event as the start or status function's Function URL (IAM) passes it on."""
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    event["requestContext"]["authorizer"] = {"iam": {"userArn": "arn:aws:iam::123456789012:user/alice"}}
    return event


def test_preference_applied_says_the_wait_granted_not_the_one_asked(api: Api) -> None:
    """``wait=999999`` is honoured as the longest wait each way in allows, and said so: 25 s
    (``SYNC_TIMEOUT_MS``) through API Gateway, 840 s (``LONG_WAIT_MAX_MS``) through a Function URL.
    The processes have ended, so that nothing waits that long."""
    body = {"processKey": "onboard-user", "correlationId": "granted-1"}
    assert api.start(body, prefer="respond-async").status == 202
    assert api.complete({"correlationId": "granted-1", "status": "ok"}).status == 200
    assert api.start(body, prefer="wait=999999").headers["preference-applied"] == "wait=25"
    assert api.status("granted-1", prefer="wait=999999").headers["preference-applied"] == "wait=25"

    url_body = {"processKey": "onboard-user", "correlationId": "granted-2"}
    url_start = through_function_url(with_headers(with_body(load_event("start"), url_body), prefer="wait=999999"))
    asynchronous = {**url_start, "headers": {**url_start["headers"], "prefer": "respond-async"}}
    assert invoke(api.functions.start, asynchronous).status == 202
    assert api.complete({"correlationId": "granted-2", "status": "ok"}).status == 200
    started = invoke(api.functions.start, url_start, timeout_s=900)
    assert (started.status, started.headers["preference-applied"]) == (200, "wait=840")
    url_status = through_function_url(
        with_headers(with_path(load_event("status"), "/api/process/status/granted-2", {}), prefer="wait=999999")
    )
    read = invoke(api.functions.status, url_status, timeout_s=900)
    assert (read.status, read.headers["preference-applied"]) == (200, "wait=840")


def test_status_of_an_unknown_id_is_404(api: Api) -> None:
    response = api.status("nobody")
    assert response.status == 404
    assert response.body["code"] == "PROCESS_NOT_FOUND"
    assert "nobody" in response.body["detail"]


def test_status_all_lists_newest_first_within_the_limit(api: Api) -> None:
    for index in range(3):
        api.start({"processKey": "onboard-user", "correlationId": f"l-{index}"}, prefer="respond-async")
    api.complete({"correlationId": "l-1", "status": "ok"})

    listed = api.list(limit="2")
    assert listed.status == 200
    assert len(listed.body["items"]) == 2
    done = api.list(status="DONE")
    assert [item["correlationId"] for item in done.body["items"]] == ["l-1"]
    too_many = api.list(limit="100000")
    assert too_many.status == 400
    assert too_many.error_fields == ["limit"]


# --- complete ----------------------------------------------------------------------------------


def test_complete_twice_is_200_and_a_conflicting_complete_is_409(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "c-1"}, prefer="respond-async")
    report = {"correlationId": "c-1", "status": "ok", "data": {"x": [1, 2]}}
    first, again = api.complete(report), api.complete(report)
    assert (first.status, again.status) == (200, 200)
    assert first.body == again.body

    conflicting = api.complete({"correlationId": "c-1", "status": "ok", "data": {"x": [3]}})
    assert conflicting.status == 409
    assert conflicting.body["code"] == "ALREADY_FINISHED"
    failing = api.complete({"correlationId": "c-1", "status": "error", "error": "too late"})
    assert failing.status == 409
    assert api.status("c-1").body["data"] == {"x": [1, 2]}, "the first outcome stands"


def test_complete_of_an_unknown_id_is_404(api: Api) -> None:
    response = api.complete({"correlationId": "ghost", "status": "ok"})
    assert response.status == 404
    assert response.body["code"] == "PROCESS_NOT_FOUND"


def test_an_error_reported_as_text_becomes_an_object(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "c-2"}, prefer="respond-async")
    response = api.complete({"correlationId": "c-2", "status": "error", "error": "background check failed"})
    assert response.status == 200
    assert response.body["status"] == "ERROR"
    assert response.body["error"] == {"message": "background check failed"}


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"processKey": "onboard-user",', "body"),
        ({"correlationId": "x-1"}, "processKey"),
        ({"processKey": "onboard-user", "correlationId": "x" * 65}, "correlationId"),
        ({"processKey": "onboard-user", "correlationId": "all"}, "correlationId"),
        ({"processKey": "onboard-user", "correlationId": "has space"}, "correlationId"),
        ({"processKey": "onboard user"}, "processKey"),
        ({"processKey": "onboard-user", "variables": []}, "variables"),
        ({"processKey": "onboard-user", "variables": {"not-a-name": 1}}, "variables.not-a-name"),
        ({"processKey": "onboard-user", "variables": {"n": 2**70}}, "variables.n"),
        ({"processKey": "onboard-user", "surprise": 1}, "surprise"),
    ],
    ids=[
        "malformed-json",
        "missing-process-key",
        "id-65-chars",
        "id-all",
        "id-space",
        "bad-process-key",
        "variables-not-object",
        "bad-variable-name",
        "integer-too-big",
        "unknown-field",
    ],
)
def test_bad_start_input_is_400_naming_the_field(api: Api, body: Any, field: str) -> None:
    response = api.start(body)
    assert response.status == 400
    assert response.body["code"] == "VALIDATION_ERROR"
    assert any(found.startswith(field) for found in response.error_fields), response.body
    assert api.camunda.starts == [], "nothing reaches Camunda"


def test_bad_complete_input_is_400_naming_the_field(api: Api) -> None:
    response = api.complete({"correlationId": "c-3", "status": "finished"})
    assert response.status == 400
    assert response.error_fields == ["status"]


def test_a_status_id_that_cannot_exist_is_400(api: Api) -> None:
    response = api.status("x" * 65)
    assert response.status == 400
    assert response.error_fields == ["correlationId"]


def test_a_body_over_the_limit_is_413(api: Api) -> None:
    response = api.start({"processKey": "onboard-user", "variables": {"blob": "x" * 300_000}})
    assert response.status == 413
    assert response.body["code"] == "PAYLOAD_TOO_LARGE"
    assert response.error_fields == ["body"]


def test_a_string_over_camundas_limit_is_sent_as_json(api: Api) -> None:
    text = "é" * 5000
    response = api.start(
        {"processKey": "onboard-user", "correlationId": "long-1", "variables": {"note": text}}, prefer="respond-async"
    )
    assert response.status == 202
    (start,) = api.camunda.starts_of("long-1")
    assert start["variables"]["note"]["type"] == "Json"
    assert json.loads(start["variables"]["note"]["value"]) == text


# --- Camunda failing ---------------------------------------------------------------------------


def test_an_unknown_process_key_is_404_and_leaves_no_row(api: Api) -> None:
    response = api.start({"processKey": "no-such-process", "correlationId": "k-1"})
    assert response.status == 404
    assert response.body["code"] == "PROCESS_DEFINITION_NOT_FOUND"
    assert "no-such-process" in response.body["detail"]
    assert api.status("k-1").status == 404, "the row of a process that never started is gone"
    # Once the definition exists, the same id starts afresh.
    api.camunda.known_keys.add("no-such-process")
    assert api.start({"processKey": "no-such-process", "correlationId": "k-1"}, prefer="respond-async").status == 202


def test_camunda_unreachable_is_503_and_leaves_no_row(configure: Callable[..., Api]) -> None:
    api = configure(camunda_url="http://127.0.0.1:9/engine-rest", camunda_connect_timeout_s=1)
    response = api.start({"processKey": "onboard-user", "correlationId": "u-1"})
    assert response.status == 503
    assert response.body["code"] == "CAMUNDA_UNAVAILABLE"
    assert response.headers["retry-after"] == "1"
    assert api.status("u-1").status == 404


def test_camunda_failing_is_502_and_leaves_no_row(api: Api) -> None:
    api.camunda.mode = "server-error"
    response = api.start({"processKey": "onboard-user", "correlationId": "f-1"})
    assert response.status == 502
    assert response.body["code"] == "CAMUNDA_ERROR"
    assert "engine on fire" in response.body["detail"]
    assert response.body["errors"] == [], "no field is at fault"
    (camunda,) = response.body["camunda"]
    assert camunda["camundaStatus"] == 500
    assert "engine on fire" in camunda["camundaMessage"]
    assert api.status("f-1").status == 404


def test_camunda_not_answering_a_start_is_502_and_keeps_the_row_for_the_reconciler(
    configure: Callable[..., Api],
) -> None:
    api = configure(camunda_read_timeout_s=0.5)
    api.camunda.mode, api.camunda.hang_s = "hang", 1.5
    response = api.start({"processKey": "onboard-user", "correlationId": "h-1"})
    assert response.status == 502
    assert response.body["code"] == "CAMUNDA_START_UNCONFIRMED"
    assert api.status("h-1").status == 202, "the instance may exist, so the row stays PENDING"


# --- cold start and logs -----------------------------------------------------------------------


def test_a_bad_setting_fails_the_cold_start_naming_the_variable(configure: Callable[..., Api]) -> None:
    with pytest.raises(ConfigurationError, match="SYNC_TIMEOUT_MS") as failure:
        configure(sync_timeout_ms="soon")
    assert "soon" not in str(failure.value), "values are not echoed: they may be secrets"


def test_logs_are_json_and_carry_the_correlation_id(api: Api, log_lines: Callable[[], list[dict[str, Any]]]) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "log-1", "variables": USER}, prefer="respond-async")
    api.status("log-1")
    logs = log_lines()
    started = [line for line in logs if line["message"] == "process started"]
    assert len(started) == 1
    assert started[0]["correlation_id"] == "log-1"
    assert started[0]["request_id"] == "c0ffee00-0000-4000-8000-000000000000"
    assert started[0]["function_name"] == "start"
    assert started[0]["level"] == "INFO"
    assert all(line["service"] == "waitroom" for line in logs)


# --- the database down --------------------------------------------------------------------------


@pytest.mark.parametrize("down_url", ["postgresql://postgres@127.0.0.1:1/test", "mssql://sa:x@127.0.0.1:1/waitroom"])
def test_a_database_that_is_down_is_a_clear_503(down_url: str, cold_start: ColdStart) -> None:
    api = cold_start(down_url, db_connect_timeout_s=1)

    began = time.monotonic()
    started = api.start({"processKey": "onboard-user", "correlationId": "db-down", "variables": USER})
    assert time.monotonic() - began < 4
    assert started.status == 503
    assert started.body["code"] == "STORE_UNAVAILABLE"
    assert started.headers["retry-after"] == "1"
    assert api.camunda.starts == [], "no process starts without its row"
    assert api.status("db-down").status == 503
    assert api.complete({"correlationId": "db-down", "status": "ok"}).status == 503


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_deletes_the_instance_and_the_process_ends_cancelled(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "x-1"}, prefer="respond-async")
    waiting: list[HttpResult] = []
    waiter = threading.Thread(target=lambda: waiting.append(api.status("x-1", prefer="wait=10")))
    waiter.start()
    time.sleep(0.3)
    response = api.cancel({"correlationId": "x-1", "reason": "the user withdrew"})
    waiter.join()

    assert response.status == 200
    assert response.body["status"] == "CANCELLED"
    assert response.body["error"] == {"code": "CANCELLED", "message": "the user withdrew"}
    (started,) = api.camunda.starts_of("x-1")
    assert api.camunda.deleted == [started["id"]]
    assert waiting[0].status == 200, "a client waiting on the process gets the cancellation"
    assert waiting[0].body["status"] == "CANCELLED"
    again = api.cancel({"correlationId": "x-1"})
    assert (again.status, again.body["status"]) == (200, "CANCELLED"), "cancelling twice is a success"


def test_a_cancel_before_the_start_has_its_instance_still_ends_the_instance(api: Api) -> None:
    cancels: list[HttpResult] = []
    api.camunda.before_start_answer = lambda business_key: cancels.append(api.cancel({"correlationId": business_key}))
    started = api.start({"processKey": "onboard-user", "correlationId": "x-race"})
    assert (cancels[0].status, cancels[0].body["status"]) == (200, "CANCELLED")
    assert (started.status, started.body["status"]) == (200, "CANCELLED")
    (instance,) = api.camunda.starts_of("x-race")
    assert api.camunda.deleted == [instance["id"]], "the start deletes the instance the cancel could not see yet"


def test_cancel_of_a_finished_process_is_409_and_of_an_unknown_one_404(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "x-2"}, prefer="respond-async")
    api.complete({"correlationId": "x-2", "status": "ok", "data": 1})
    finished = api.cancel({"correlationId": "x-2"})
    assert finished.status == 409
    assert finished.body["code"] == "ALREADY_FINISHED"
    assert api.camunda.deleted == [], "a finished process's instance is left alone"
    assert api.status("x-2").body["status"] == "DONE"
    assert api.cancel({"correlationId": "nobody"}).status == 404
    assert api.cancel({"correlationId": "x-2", "reason": ""}).status == 400


def test_cancel_with_camunda_down_leaves_the_process_pending(configure: Callable[..., Api]) -> None:
    api = configure()
    api.start({"processKey": "onboard-user", "correlationId": "x-3"}, prefer="respond-async")
    down = configure(camunda_url="http://127.0.0.1:9/engine-rest", camunda_connect_timeout_s=1)
    response = down.cancel({"correlationId": "x-3"})
    assert response.status == 503
    assert down.status("x-3").body["status"] == "PENDING", "nothing changed, the client may cancel again"


# --- list pages, history, fetchVariables ---------------------------------------------------------


def test_the_list_pages_through_every_process_once_in_a_stable_order(api: Api) -> None:
    for index in range(7):
        api.start({"processKey": "onboard-user", "correlationId": f"pg-{index}"}, prefer="respond-async")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = api.list(**query)
        assert page.status == 200
        seen += [item["correlationId"] for item in page.body["items"]]
        pages += 1
        cursor = page.body.get("nextCursor")
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == [f"pg-{index}" for index in range(7)]
    assert len(seen) == len(set(seen))


def first_page_cursor(api: Api, **query: str) -> str:
    """The ``nextCursor`` of a one-row first page of ``query``."""
    page = api.list(limit="1", **query)
    assert page.status == 200
    cursor: str = page.body["nextCursor"]
    return cursor


def unsigned_cursor(started_at: str, correlation_id: str) -> str:
    """A cursor made without the key: the position of a row, in the form a signed cursor carries it."""
    position = json.dumps([started_at, correlation_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(position + bytes(32)).decode().rstrip("=")


def assert_cursor_refused(response: HttpResult) -> None:
    assert response.status == 400
    assert response.body["code"] == "VALIDATION_ERROR"
    assert response.error_fields == ["cursor"]


def test_a_cursor_is_refused_to_another_caller(api: Api) -> None:
    for index in range(3):
        api.start({"processKey": "onboard-user", "correlationId": f"own-{index}"}, prefer="respond-async")
    cursor = first_page_cursor(api)
    assert api.list(cursor=cursor).status == 200, "its own caller pages on"
    assert_cursor_refused(api.as_caller("mallory").list(cursor=cursor))
    assert_cursor_refused(api.as_caller("root", admin=True).list(cursor=cursor))


def test_a_cursor_is_refused_for_other_filters(api: Api) -> None:
    for index in range(3):
        api.start({"processKey": "onboard-user", "correlationId": f"flt-{index}"}, prefer="respond-async")
    cursor = first_page_cursor(api, processKey="onboard-user", startedAfter="2000-01-01T00:00:00Z")
    same = {"processKey": "onboard-user", "startedAfter": "2000-01-01T00:00:00Z"}
    assert api.list(cursor=cursor, limit="5", **same).status == 200, "the limit may change from page to page"
    assert api.list(cursor=cursor, processKey="onboard-user", startedAfter="2000-01-01T00:00:00+00:00").status == 200
    assert_cursor_refused(api.list(cursor=cursor))
    assert_cursor_refused(api.list(cursor=cursor, processKey="onboard-user"))
    assert_cursor_refused(api.list(cursor=cursor, status="PENDING", **same))
    assert_cursor_refused(api.list(cursor=cursor, processKey="slow-process", startedAfter="2000-01-01T00:00:00Z"))
    assert_cursor_refused(api.list(cursor=cursor, startedBefore="2999-01-01T00:00:00Z", **same))


def test_a_forged_or_damaged_cursor_is_refused(api: Api) -> None:
    for index in range(3):
        api.start({"processKey": "onboard-user", "correlationId": f"fg-{index}"}, prefer="respond-async")
    first = api.list(limit="1")
    row = first.body["items"][0]
    cursor: str = first.body["nextCursor"]
    assert_cursor_refused(api.list(cursor=unsigned_cursor(row["startedAt"], row["correlationId"])))
    assert_cursor_refused(api.list(cursor=cursor[:-1]))
    assert_cursor_refused(api.list(cursor=cursor[:-4]))
    assert_cursor_refused(api.list(cursor=cursor[: len(cursor) // 2]))
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    assert_cursor_refused(api.list(cursor=flipped))
    assert api.list(cursor=cursor).status == 200


def test_a_cursor_of_another_key_is_refused(configure: Callable[..., Api]) -> None:
    old_key, new_key = "k" * 32, "n" * 32
    api = configure(cursor_key=old_key)
    for index in range(3):
        api.start({"processKey": "onboard-user", "correlationId": f"key-{index}"}, prefer="respond-async")
    cursor = first_page_cursor(api)
    assert configure(cursor_key=old_key).list(cursor=cursor).status == 200, "another environment, the same key"
    assert_cursor_refused(configure(cursor_key=new_key).list(cursor=cursor))


def test_the_list_filters(api: Api) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "f-1"}, prefer="respond-async")
    api.start({"processKey": "slow-process", "correlationId": "f-2"}, prefer="respond-async")
    api.complete({"correlationId": "f-1", "status": "ok"})
    only_done = api.list(status="DONE")
    assert [item["correlationId"] for item in only_done.body["items"]] == ["f-1"]
    only_slow = api.list(processKey="slow-process")
    assert [item["correlationId"] for item in only_slow.body["items"]] == ["f-2"]
    started = only_slow.body["items"][0]["startedAt"]
    assert api.list(startedAfter="2000-01-01T00:00:00Z").body["items"]
    assert api.list(startedBefore="2000-01-01T00:00:00Z").body["items"] == []
    assert api.list(startedAfter=started, processKey="slow-process").body["items"][0]["correlationId"] == "f-2"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"startedAfter": "yesterday"}, "startedAfter"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_list_parameters_are_400(api: Api, query: dict[str, str], field: str) -> None:
    response = api.list(**query)
    assert response.status == 400
    assert response.error_fields == [field]


def test_status_with_history_lists_the_steps_in_order(api: Api, database_url: str) -> None:
    api.start({"processKey": "onboard-user", "correlationId": "h-9"}, prefer="respond-async")
    store = SqlStore(dialect_for(database_url, Settings(database_url=database_url)))
    try:
        for topic, outcome, error in [
            ("onboard-user.validate-user-information", StepOutcome.FAILED, {"message": "flaky"}),
            ("onboard-user.validate-user-information", StepOutcome.COMPLETED, None),
            ("onboard-user.run-background-check", StepOutcome.COMPLETED, None),
        ]:
            store.record_step(StepEvent("h-9", topic, "Task_X", outcome, 12, error))
    finally:
        store.close()
    plain = api.status("h-9")
    assert "history" not in plain.body
    event = with_query(
        with_path(load_event("status"), "/api/process/status/h-9", {"correlationId": "h-9"}), history="true"
    )
    detailed = invoke(api.functions.status, event)
    steps = detailed.body["history"]
    assert [(step["topic"].split(".")[1], step["outcome"]) for step in steps] == [
        ("validate-user-information", "FAILED"),
        ("validate-user-information", "COMPLETED"),
        ("run-background-check", "COMPLETED"),
    ]
    assert steps[0]["error"] == {"message": "flaky"}
    assert steps[0]["durationMs"] == 12
    assert steps[0]["occurredAt"].endswith("Z")


def test_fetch_variables_answers_with_the_named_fields_only(api: Api) -> None:
    result = {"success": True, "userId": "u-1", "onboarding": {"accountId": "a"}, "noise": "x" * 1000}
    reporter = api.complete_later(0.1, {"correlationId": "fv-1", "status": "ok", "data": result})
    response = api.start(
        {"processKey": "onboard-user", "correlationId": "fv-1", "fetchVariables": ["userId", "onboarding", "absent"]}
    )
    reporter.join()
    assert response.status == 200
    assert response.body["data"] == {"userId": "u-1", "onboarding": {"accountId": "a"}}
    assert api.status("fv-1").body["data"] == result, "the stored result stays whole"


# --- answers as callers follow them -------------------------------------------------------------


def test_every_error_answer_is_an_rfc_9457_problem(api: Api) -> None:
    invalid = api.start({"processKey": "onboard-user", "variables": {"1-bad": 1}})
    assert invalid.status == 400
    assert invalid.headers["content-type"] == "application/problem+json"
    assert invalid.body["type"] == "urn:waitroom:problem:validation-error"
    assert invalid.body["title"] == "The request is invalid"
    assert invalid.body["status"] == 400
    assert invalid.body["instance"] == "/api/process/start"
    assert invalid.body["code"] == "VALIDATION_ERROR"
    assert invalid.body["detail"].startswith("invalid request: variables.1-bad")
    assert invalid.error_fields == ["variables.1-bad"], "the field the caller sent, not pydantic's mark of a key"
    assert "error" not in invalid.body

    missing = api.status("nobody-here")
    assert (missing.status, missing.headers["content-type"]) == (404, "application/problem+json")
    assert missing.body["instance"] == "/api/process/status/nobody-here"
    assert (missing.body["type"], missing.body["errors"]) == ("urn:waitroom:problem:process-not-found", [])

    too_large = api.start({"processKey": "onboard-user", "variables": {"blob": "x" * 300_000}})
    assert (too_large.status, too_large.headers["content-type"]) == (413, "application/problem+json")
    assert too_large.body["type"] == "urn:waitroom:problem:payload-too-large"


def test_a_process_in_error_is_answered_with_the_process_not_a_problem(api: Api) -> None:
    reporter = api.complete_later(0.1, {"correlationId": "err-1", "status": "error", "error": "no luck"})
    response = api.start({"processKey": "onboard-user", "correlationId": "err-1", "variables": USER})
    reporter.join()
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    assert response.body["status"] == "ERROR"
    assert response.body["links"]["status"] == "/api/process/status/err-1"


def test_links_are_absolute_when_the_gateway_says_its_host(configure: Callable[..., Api]) -> None:
    api = configure(sync_timeout_ms=100)
    host = {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "x_forwarded_proto": "https"}
    pending = api.start({"processKey": "onboard-user", "correlationId": "linked-1", "variables": USER}, **host)
    base = "https://abc123.execute-api.eu-west-1.amazonaws.com"
    assert pending.status == 202
    assert pending.body["links"] == {
        "status": f"{base}/api/process/status/linked-1",
        "history": f"{base}/api/process/status/linked-1?history=true",
        "cancel": f"{base}/api/process/cancel",
    }
    assert pending.headers["location"] == f"{base}/api/process/status/linked-1"
    assert 1 <= int(pending.headers["retry-after"]) <= 30

    read = api.status("linked-1", **host)
    assert read.body["links"]["status"] == f"{base}/api/process/status/linked-1"
    listed = api.list(limit="5")
    assert listed.body["items"][0]["links"]["status"] == "/api/process/status/linked-1", "no proto: paths"
    cancelled = api.cancel({"correlationId": "linked-1"})
    assert cancelled.body["links"]["cancel"] == "/api/process/cancel"
