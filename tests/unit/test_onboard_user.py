"""The onboard-user steps' own rules (the whole process runs in tests/integration)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from waitroom.entrypoints.worker.onboard_user import REJECTED, run_background_check, validate_user_information
from waitroom.entrypoints.worker.tasks import BusinessRejection, ExternalTask, WorkerResources
from waitroom.settings import Settings


def task(**variables: Any) -> ExternalTask:
    return ExternalTask("t-1", "onboard-user.x", "bk-1", "pi-1", "Task_1", None, variables)


def test_a_valid_user_passes_with_the_email_normalized() -> None:
    result = validate_user_information(task(userId="u-1", email="Ada@Example.COM"), None)  # type: ignore[arg-type]
    assert result["validation"]["userId"] == "u-1"
    assert result["validation"]["email"] == "Ada@example.com"


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"email": "a@example.com"}, "userId is required"),
        ({"userId": "  ", "email": "a@example.com"}, "userId is required"),
        ({"userId": "u-1"}, "email is required"),
        ({"userId": "u-1", "email": "not-an-email"}, "email is not a well-formed address"),
        ({"userId": "u-1", "email": "a@@example.com"}, "email is not a well-formed address"),
        ({}, "userId is required; email is required"),
    ],
)
def test_an_invalid_user_is_rejected_with_the_reason(variables: dict[str, Any], reason: str) -> None:
    with pytest.raises(BusinessRejection) as rejection:
        validate_user_information(task(**variables), None)  # type: ignore[arg-type]
    assert rejection.value.code == REJECTED
    assert reason in rejection.value.message
    assert rejection.value.variables == {"rejectionReason": rejection.value.message}


RESOURCES = WorkerResources(settings=Settings(), http=requests.Session())


def test_the_background_check_is_deterministic_on_the_user() -> None:
    first = run_background_check(task(userId="u-42"), RESOURCES)["backgroundCheck"]
    again = run_background_check(task(userId="u-42"), RESOURCES)["backgroundCheck"]
    assert (first["score"], first["status"]) == (again["score"], again["status"])
    assert 0 <= first["score"] < 100
    assert first["status"] == ("clear" if first["score"] < 90 else "review")


def test_delay_ms_makes_the_background_check_take_that_long() -> None:
    began = time.monotonic()
    run_background_check(task(userId="u-1", delayMs=300), RESOURCES)
    assert time.monotonic() - began >= 0.3


def test_delay_ms_is_capped_below_the_workers_task_budget() -> None:
    resources = WorkerResources(settings=Settings(worker_task_budget_ms=2_500), http=requests.Session())
    began = time.monotonic()
    run_background_check(task(userId="u-1", delayMs=60_000), resources)
    assert time.monotonic() - began < 2, "a task fetched last in an invocation still finishes in it"
