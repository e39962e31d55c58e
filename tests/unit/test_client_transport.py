"""The Python client's pure parts: reading problems, Retry-After and the back-off between attempts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from waitroom_client import Retry
from waitroom_client.client import retry_after_s
from waitroom_client.errors import BadGateway, Conflict, InvalidRequest, Problem, ServerError, Unauthorized, error_for


def test_a_problem_answer_becomes_the_error_of_its_status_with_its_code_and_fields() -> None:
    body = {
        "type": "https://waitroom.dev/problems/validation-error",
        "title": "Invalid request",
        "status": 400,
        "detail": "invalid request: variables.x: bad",
        "instance": "/api/process/start",
        "code": "VALIDATION_ERROR",
        "errors": [{"field": "variables.x", "reason": "bad"}],
    }
    error = error_for(400, body)
    assert isinstance(error, InvalidRequest)
    assert (error.code, error.problem.title, error.problem.instance) == (
        "VALIDATION_ERROR",
        "Invalid request",
        "/api/process/start",
    )
    assert [(item.field, item.reason) for item in error.errors] == [("variables.x", "bad")]


def test_the_gateways_own_answers_get_the_code_of_their_status() -> None:
    error = error_for(401, {"message": "Unauthorized"})
    assert isinstance(error, Unauthorized)
    assert error.code == "UNAUTHORIZED"
    assert isinstance(error_for(409, None), Conflict)
    assert isinstance(error_for(504, "not json"), ServerError)
    assert error_for(504, "not json").code == "GATEWAY_TIMEOUT"
    assert isinstance(error_for(502, {"code": "CAMUNDA_START_UNCONFIRMED"}), BadGateway)
    assert Problem.from_answer(599, {}).code == "HTTP_599"


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None
    later = retry_after_s(format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True))
    assert later is not None and 100 < later <= 120
    assert retry_after_s(format_datetime(datetime.now(UTC) - timedelta(seconds=120), usegmt=True)) == 0.0


def test_a_retry_after_is_never_cut_short_and_stretched_by_at_most_the_jitter() -> None:
    retry, rng = Retry(jitter=0.2), random.Random(7)  # noqa: S311 -- jitter, not cryptography
    pauses = [retry.pause_s(attempt, 3.0, rng) for attempt in range(200)]
    assert all(3.0 <= pause <= 3.6 for pause in pauses)
    assert len({round(pause, 6) for pause in pauses}) > 100, "spread, not one value"


@pytest.mark.parametrize("attempt", range(8))
def test_without_retry_after_the_back_off_doubles_up_to_the_cap_with_equal_jitter(attempt: int) -> None:
    retry, rng = Retry(base_s=0.5, cap_s=30.0), random.Random(attempt)  # noqa: S311
    backoff = min(30.0, 0.5 * 2**attempt)
    pauses = [retry.pause_s(attempt, None, rng) for _ in range(50)]
    assert all(backoff / 2 <= pause <= backoff for pause in pauses)
