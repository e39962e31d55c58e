"""A hostile client at the edges of the handlers: whatever it sends is a 4xx naming the field, never
a 5xx and never a silent change. Through the real handler code, with events as API Gateway passes
them on (it forwards such bodies as they come: text as text, binary as base64)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api, ColdStart
from tests.support.lambdas import HttpResult, invoke, load_event, with_caller, with_headers, with_path, with_query
from tests.support.refusals import assert_refused
from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.settings import Settings

START = {"processKey": "onboard-user", "correlationId": "edge-1", "variables": {"userId": "u-1"}}


@pytest.fixture
def api(tmp_path: Path, cold_start: ColdStart) -> Api:
    """The edges do not depend on the backend: SQLite alone."""
    url = f"sqlite:///{tmp_path / 'waitroom.sqlite3'}"
    migrate(dialect_for(url, Settings(database_url=url)))
    return cold_start(url)


def raw_event(name: str, body: bytes | str, *, content_type: str | None, base64_encoded: bool) -> dict[str, Any]:
    event = load_event(name)
    event["headers"].pop("content-type", None)
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    if base64_encoded:
        raw = body if isinstance(body, bytes) else body.encode()
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body, False
    return event


def send_raw(api: Api, name: str, body: bytes | str, *, content_type: str | None, base64_encoded: bool) -> HttpResult:
    event = raw_event(name, body, content_type=content_type, base64_encoded=base64_encoded)
    function = {"start": api.functions.start, "cancel": api.functions.cancel, "complete": api.functions.complete}[name]
    if name != "complete":
        event = with_caller(event, "alice")
    return invoke(function, with_headers(event, prefer="respond-async"))


# --- media types ------------------------------------------------------------------------------

UNSUPPORTED = [
    "text/plain",
    "application/xml",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
]


@pytest.mark.parametrize("route", ["start", "cancel"])
@pytest.mark.parametrize("content_type", UNSUPPORTED)
def test_valid_json_of_another_media_type_is_415(api: Api, route: str, content_type: str) -> None:
    body = json.dumps(START if route == "start" else {"correlationId": "edge-1"})
    # API Gateway sends what it takes for binary as base64; text types as text. Both are refused.
    for base64_encoded in (False, True):
        result = send_raw(api, route, body, content_type=content_type, base64_encoded=base64_encoded)
        assert_refused(result.status, result.body, 415, code="UNSUPPORTED_MEDIA_TYPE", field="Content-Type")
    assert not api.camunda.starts_of("edge-1")


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/json; charset=UTF-8", None])
def test_json_in_any_letter_case_or_without_a_media_type_is_read(api: Api, content_type: str | None) -> None:
    result = send_raw(api, "start", json.dumps(START), content_type=content_type, base64_encoded=True)
    assert result.status == 202, result.body
    assert api.camunda.starts_of("edge-1")


# --- bytes and depth --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_json_nested_10000_deep_is_400_also_in_a_base64_body(api: Api, content_type: str | None) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    body = json.dumps(START)[:-1] + f',"fetchVariables":{deep}}}'
    result = send_raw(api, "start", body, content_type=content_type, base64_encoded=True)
    assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field="body")


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_invalid_utf8_is_refused_never_replaced(api: Api, content_type: str | None) -> None:
    raw = json.dumps({**START, "variables": {"name": "@@"}}).encode().replace(b"@@", b"\xff\xfe")
    result = send_raw(api, "start", raw, content_type=content_type, base64_encoded=True)
    assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field="body")
    assert not api.camunda.starts_of("edge-1"), "nothing was stored or started"
    assert api.status("edge-1").status == 404


@pytest.mark.parametrize(
    ("route", "number", "field"),
    [
        ("start", "9" * 5000, "variables.n"),
        ("start", "-" + "1" * 5000, "variables.n"),
        ("start", "1e400", "variables.n"),
        ("complete", "9" * 5000, "data.n"),
        ("complete", "-1e400", "data.n"),
    ],
)
def test_a_number_python_cannot_hold_is_400_naming_the_field(api: Api, route: str, number: str, field: str) -> None:
    body = (
        f'{{"processKey":"onboard-user","correlationId":"edge-1","variables":{{"n":{number}}}}}'
        if route == "start"
        else f'{{"correlationId":"edge-1","status":"ok","data":{{"n":{number}}}}}'
    )
    for base64_encoded in (False, True):
        result = send_raw(api, route, body, content_type="application/json", base64_encoded=base64_encoded)
        assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field=field)


@pytest.mark.parametrize(
    ("route", "number", "field"),
    [
        ("start", "1e-999", "variables.n"),
        ("start", "-0.5e-400", "variables.n"),
        ("complete", "1E-999", "data.n"),
    ],
)
def test_a_non_zero_number_that_would_be_stored_as_0_is_400_naming_the_field(
    api: Api, route: str, number: str, field: str
) -> None:
    body = (
        f'{{"processKey":"onboard-user","correlationId":"edge-1","variables":{{"n":{number}}}}}'
        if route == "start"
        else f'{{"correlationId":"edge-1","status":"ok","data":{{"n":{number}}}}}'
    )
    result = send_raw(api, route, body, content_type="application/json", base64_encoded=False)
    assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field=field)
    assert not api.camunda.starts_of("edge-1")


@pytest.mark.parametrize("zero", ["0e-999", "-0.000e5", "0.0"])
def test_a_zero_written_any_way_is_zero(api: Api, zero: str) -> None:
    body = f'{{"processKey":"onboard-user","correlationId":"edge-1","variables":{{"n":{zero}}}}}'
    assert send_raw(api, "start", body, content_type="application/json", base64_encoded=False).status == 202
    (started,) = api.camunda.starts_of("edge-1")
    assert started["variables"]["n"] == {"value": 0.0, "type": "Double"}


def test_a_duplicated_key_is_400_naming_it_and_changes_nothing(api: Api) -> None:
    started = send_raw(api, "start", json.dumps(START), content_type="application/json", base64_encoded=False)
    assert started.status == 202
    report = '{"correlationId":"edge-1","status":"ok","status":"error"}'
    result = send_raw(api, "complete", report, content_type="application/json", base64_encoded=False)
    assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field="status")
    assert api.status("edge-1").body["status"] == "PENDING", "neither the first nor the last value won"


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("start", '{"processKey":"onboard-user","variables":{"a":1,"b":{"c":1,"c":2}}}', "variables.b.c"),
        ("start", '{"processKey":"onboard-user","processKey":"onboard-user"}', "processKey"),
        ("complete", '{"correlationId":"edge-1","status":"ok","data":[{"x":1},{"x":1,"x":1}]}', "data[1].x"),
    ],
)
def test_a_duplicated_key_anywhere_is_400_naming_its_path(api: Api, route: str, body: str, field: str) -> None:
    result = send_raw(api, route, body, content_type="application/json", base64_encoded=False)
    assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field=field)


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("start", '{"processKey":"onboard-user","variables":{"note":"\\ud800"}}', "variables.note"),
        ("start", '{"processKey":"onboard-user","variables":{"\\udfff":1}}', "variables"),
        ("complete", '{"correlationId":"edge-1","status":"ok","data":{"items":["ok","a\\udfffb"]}}', "data.items[1]"),
        ("cancel", '{"correlationId":"edge-1","reason":"\\ud800"}', "reason"),
    ],
)
def test_an_unpaired_surrogate_is_400_naming_the_field_that_holds_it(
    api: Api, route: str, body: str, field: str
) -> None:
    result = send_raw(api, route, body, content_type="application/json", base64_encoded=False)
    refusal = assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field=field)
    assert refusal.fields == (field,)


# --- times and cursors ------------------------------------------------------------------------


def list_raw(api: Api, **query: str) -> HttpResult:
    return invoke(api.functions.status, with_caller(with_query(load_event("status-all"), **query), "alice"))


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("startedAfter", "9999-12-31T23:59:59-14:00"), ("startedBefore", "0001-01-01T00:00:00+14:00")],
)
def test_a_time_with_no_utc_equivalent_is_400_naming_the_parameter(api: Api, parameter: str, value: str) -> None:
    result = list_raw(api, **{parameter: value})
    assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field=parameter)


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of(["9999-12-31T23:59:59-14:00", "x"]),
        cursor_of(["0001-01-01T00:00:00+14:00", "x"]),
        base64.urlsafe_b64encode(b"[" * 10_000).decode(),
        cursor_of({"a": 1, "b": 2}),
        cursor_of([1, 2]),
        "%%%",
    ],
    ids=["far-future", "far-past", "nested-10000", "object", "numbers", "not-base64"],
)
def test_a_bad_cursor_is_400_naming_the_cursor(api: Api, cursor: str) -> None:
    result = list_raw(api, cursor=cursor)
    assert_refused(result.status, result.body, 400, code="VALIDATION_ERROR", field="cursor")


@pytest.mark.parametrize("prefer", ["wait=²", "wait=" + "9" * 5000, "wait=٣"])
def test_a_prefer_wait_that_is_no_ascii_number_is_ignored(api: Api, prefer: str) -> None:
    result = api.start(START, prefer=f"respond-async, {prefer}")
    assert result.status == 202, result.body


# --- exact idempotency of a completion ---------------------------------------------------------


@pytest.mark.parametrize(
    ("winner", "repeat", "same"),
    [
        (1, 1, True),
        (1, True, False),
        (1, 1.0, False),
        (True, 1, False),
        (0, False, False),
        (1.5, 1.5, True),
        ({"a": 1, "b": [1, {"c": None}]}, {"b": [1, {"c": None}], "a": 1}, True),
        ({"a": [1]}, {"a": [1.0]}, False),
        ({"a": [1]}, {"a": [True]}, False),
        ({"a": None}, {}, False),
        ([1, 2], [2, 1], False),
        ("1", 1, False),
    ],
)
def test_a_repeated_completion_is_a_repeat_only_if_its_json_is_equal(
    api: Api, winner: Any, repeat: Any, same: bool
) -> None:
    assert api.start(START, prefer="respond-async").status == 202
    assert api.complete({"correlationId": "edge-1", "status": "ok", "data": winner}).status == 200
    again = api.complete({"correlationId": "edge-1", "status": "ok", "data": repeat})
    if same:
        assert again.status == 200, again.body
    else:
        assert_refused(again.status, again.body, 409, code="ALREADY_FINISHED")
    assert api.status("edge-1").body["data"] == winner


def test_a_repeated_error_report_is_compared_exactly_too(api: Api) -> None:
    assert api.start(START, prefer="respond-async").status == 202
    failed = {"correlationId": "edge-1", "status": "error", "error": {"code": "X", "attempt": 1}}
    assert api.complete(failed).status == 200
    assert api.complete({**failed, "error": {"attempt": 1, "code": "X"}}).status == 200
    again = api.complete({**failed, "error": {"code": "X", "attempt": True}})
    assert_refused(again.status, again.body, 409, code="ALREADY_FINISHED")


@pytest.mark.parametrize("encoded", ["edge%3A1", "%65dge:1", "edge%3a1"])
def test_a_percent_encoded_path_parameter_is_read_as_the_client_meant_it(api: Api, encoded: str) -> None:
    assert api.start({**START, "correlationId": "edge:1"}, prefer="respond-async").status == 202
    event = with_path(load_event("status"), f"/api/process/status/{encoded}", {"correlationId": encoded})
    result = invoke(api.functions.status, with_caller(event, "alice"))
    assert result.status == 202, result.body
    assert result.body["correlationId"] == "edge:1"
