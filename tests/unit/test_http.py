"""The HTTP glue: Prefer parsing, the error mapping, process responses, and the list's cursors."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from waitroom.adapters.secrets import cursor_key
from waitroom.domain import errors
from waitroom.domain.errors import CamundaNoAnswer, CamundaNotFound, ConfigurationError, InvalidRequest
from waitroom.domain.process import Caller, ListQuery, ProcessRecord, ProcessStatus
from waitroom.entrypoints.http.problems import TITLES, problem_type, status_of
from waitroom.entrypoints.http.resolver import Preferences, error_response, parse_prefer, process_response
from waitroom.entrypoints.http.schemas import CURSOR_TAG_BYTES, Cursors, cursor_scope
from waitroom.settings import Settings

NOW = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Preferences()),
        ("", Preferences()),
        ("respond-async", Preferences(respond_async=True)),
        ("wait=10", Preferences(wait_s=10)),
        ("respond-async, wait=10", Preferences(respond_async=True, wait_s=10)),
        ('wait="7"', Preferences(wait_s=7)),
        ("WAIT=3; foo=bar", Preferences(wait_s=3)),
        ("wait=soon, handling=lenient", Preferences()),
        ("return=minimal", Preferences()),
    ],
)
def test_prefer_header(header: str | None, expected: Preferences) -> None:
    assert parse_prefer(header) == expected


def test_preferences_bound_the_wait_and_say_what_was_applied() -> None:
    assert Preferences(respond_async=True, wait_s=5).max_wait_ms == 0
    assert Preferences(respond_async=True).applied(0) == "respond-async"
    assert Preferences(wait_s=5).max_wait_ms == 5000
    assert Preferences(wait_s=5).applied(5000) == "wait=5"
    assert Preferences().max_wait_ms is None and Preferences().applied(25_000) is None


def test_the_wait_applied_is_the_wait_granted_never_the_one_asked() -> None:
    assert Preferences(wait_s=999_999).applied(25_000) == "wait=25"
    # A wait of 14.6 s was not a wait of 15 s.
    assert Preferences(wait_s=20).applied(14_600) == "wait=14"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidRequest("x"), 400),
        (errors.PayloadTooLarge("x"), 413),
        (errors.ProcessNotFound("x"), 404),
        (errors.ProcessDefinitionNotFound("x"), 404),
        (errors.CorrelationConflict("x"), 409),
        (errors.AlreadyFinished("x"), 409),
        (errors.CamundaRejected("x"), 502),
        (CamundaNotFound("x"), 502),
        (errors.CamundaFailed("x"), 502),
        (CamundaNoAnswer("x"), 502),
        (errors.CamundaStartUnconfirmed("x"), 502),
        (errors.CamundaUnavailable("x"), 503),
        (errors.StoreUnavailable("x"), 503),
        (errors.WaitroomError("x"), 500),
    ],
)
def test_every_domain_error_has_its_status(error: errors.WaitroomError, status: int) -> None:
    assert status_of(error) == status


def test_an_error_is_answered_as_rfc_9457_problem_details() -> None:
    response = error_response(
        errors.InvalidRequest("bad", details=[{"field": "processKey", "reason": "missing"}]),
        retry_after_s=1,
        instance="/api/process/start",
    )
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert json.loads(str(response.body)) == {
        "type": "urn:waitroom:problem:validation-error",
        "title": "The request is invalid",
        "status": 400,
        "detail": "bad",
        "instance": "/api/process/start",
        "code": "VALIDATION_ERROR",
        "errors": [{"field": "processKey", "reason": "missing"}],
    }
    unavailable = error_response(errors.StoreUnavailable("db down"), retry_after_s=7)
    assert unavailable.headers["Retry-After"] == "7"
    body = json.loads(str(unavailable.body))
    assert (body["type"], body["status"], body["code"], body["errors"]) == (
        "urn:waitroom:problem:store-unavailable",
        503,
        "STORE_UNAVAILABLE",
        [],
    )


def _error_classes(cls: type[errors.WaitroomError]) -> list[type[errors.WaitroomError]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _error_classes(direct))]


def test_every_error_code_has_a_title_and_a_stable_type() -> None:
    codes = {cls.code for cls in _error_classes(errors.WaitroomError)} | {"ROUTE_NOT_FOUND"}
    assert codes <= set(TITLES), f"codes without a title: {codes - set(TITLES)}"
    types = [problem_type(code) for code in TITLES]
    assert len(set(types)) == len(types)
    assert all(re.fullmatch(r"urn:waitroom:problem:[a-z]+(-[a-z0-9]+)*", kind) for kind in types)


@pytest.mark.parametrize(
    ("status", "http_status"),
    [
        (ProcessStatus.PENDING, 202),
        (ProcessStatus.DONE, 200),
        (ProcessStatus.CANCELLED, 200),
        (ProcessStatus.ERROR, 500),
    ],
)
def test_a_process_response_carries_the_status_of_its_process(status: ProcessStatus, http_status: int) -> None:
    record = ProcessRecord("p-1", status, "key", {"a": 1}, None, NOW, NOW)
    response = process_response(record, retry_after_s=1, preference_applied="wait=1")
    assert response.status_code == http_status
    body = json.loads(str(response.body))
    assert body["status"] == status.value
    assert body["startedAt"] == "2026-01-01T12:00:00.123Z"
    assert response.headers["Preference-Applied"] == "wait=1"
    assert ("Location" in response.headers) is (status is ProcessStatus.PENDING)


# --- the list's cursors ---------------------------------------------------------------------------

CURSORS = Cursors(b"k" * 32)
ALICE = Caller(subject="alice")
QUERY = ListQuery(limit=10, process_key="onboard-user", started_after=NOW - timedelta(days=1))
ROW = ProcessRecord("p-1", ProcessStatus.DONE, "onboard-user", None, None, NOW, NOW)


def refused(cursor: str, scope: bytes, cursors: Cursors = CURSORS) -> bool:
    with pytest.raises(InvalidRequest) as refusal:
        cursors.decode(cursor, scope)
    assert refusal.value.details == [{"field": "cursor", "reason": "not a cursor this API gave out for this query"}]
    return True


def test_a_cursor_gives_back_its_position_to_its_scope() -> None:
    scope = cursor_scope(ALICE, QUERY)
    cursor = CURSORS.encode(ROW, scope)
    assert CURSORS.decode(cursor, scope) == (NOW, "p-1")
    assert CURSORS.decode(cursor, cursor_scope(ALICE, replace(QUERY, limit=500))) == (NOW, "p-1")


@pytest.mark.parametrize(
    ("caller", "query"),
    [
        (Caller(subject="mallory"), QUERY),
        (Caller(subject="alice2"), QUERY),
        (ALICE, ListQuery(limit=10)),
        (ALICE, ListQuery(limit=10, process_key="onboard-user")),
        (ALICE, replace(QUERY, status=ProcessStatus.DONE)),
        (ALICE, replace(QUERY, process_key="other")),
        (ALICE, replace(QUERY, started_after=NOW)),
        (ALICE, replace(QUERY, started_before=NOW)),
    ],
)
def test_a_cursor_is_refused_to_another_caller_or_other_filters(caller: Caller, query: ListQuery) -> None:
    cursor = CURSORS.encode(ROW, cursor_scope(ALICE, QUERY))
    assert refused(cursor, cursor_scope(caller, query))


def test_the_scope_keeps_its_parts_apart() -> None:
    # A subject that ends like a filter begins must not make the same scope as another split.
    one = cursor_scope(Caller(subject='a","b'), ListQuery(limit=1))
    other = cursor_scope(Caller(subject="a"), ListQuery(limit=1, process_key="b"))
    assert one != other


def test_a_forged_truncated_or_tampered_cursor_is_refused() -> None:
    scope = cursor_scope(ALICE, QUERY)
    cursor = CURSORS.encode(ROW, scope)
    position = json.dumps([NOW.isoformat(), "p-1"], separators=(",", ":")).encode()
    forged = base64.urlsafe_b64encode(position + bytes(CURSOR_TAG_BYTES)).decode().rstrip("=")
    unsigned = base64.urlsafe_b64encode(position).decode().rstrip("=")
    token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    tampered = base64.urlsafe_b64encode(token.replace(b"p-1", b"p-2")).decode().rstrip("=")
    for bad in (forged, unsigned, tampered, cursor[:-1], cursor[:-3], cursor[:20], "", "x" * 600):
        assert refused(bad, scope), bad


def test_a_cursor_of_another_key_is_refused() -> None:
    scope = cursor_scope(ALICE, QUERY)
    cursor = Cursors(b"o" * 32).encode(ROW, scope)
    assert refused(cursor, scope)


def test_the_cursor_key_comes_from_the_settings_or_is_random_outside_lambda() -> None:
    assert cursor_key(Settings(cursor_key="s" * 32)) == b"s" * 32
    made = {cursor_key(Settings()) for _ in range(2)}
    assert len(made) == 2, "each process makes its own"
    assert all(len(key) == 32 for key in made)


def test_in_lambda_a_cursor_key_is_required() -> None:
    settings = Settings(aws_lambda_function_name="status", database_url="sqlite:///x.sqlite3")
    with pytest.raises(ConfigurationError, match="CURSOR_KEY_SECRET_ARN"):
        cursor_key(settings)


def test_a_short_cursor_key_fails_the_settings() -> None:
    with pytest.raises(ValueError, match="cursor_key"):
        Settings(cursor_key="short")
