"""The onboard-user steps' own rules (the whole process runs in tests/integration)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from onboard_user.handlers import (
    REJECTED,
    OnboardingServiceError,
    call_onboarding_api,
    run_background_check,
    validate_user_information,
)
from onboard_user.onboarding_api import OnboardingApi

from waitroom.entrypoints.worker.tasks import BusinessRejection, Task, WorkerResources
from waitroom.settings import Settings


def task(**variables: Any) -> Task:
    return Task("t-1", "onboard-user.x", "bk-1", "pi-1", "Task_1", None, variables)


def test_a_valid_user_passes_with_the_email_normalized() -> None:
    result = validate_user_information(task(userId="u-1", email="Ada@Example.COM"), RESOURCES)
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
        validate_user_information(task(**variables), RESOURCES)
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
    """An instance validated under a larger budget still ends its check within this worker's."""
    resources = WorkerResources(settings=Settings(worker_task_budget_ms=2_500), http=requests.Session())
    began = time.monotonic()
    run_background_check(task(userId="u-1", delayMs=60_000), resources)
    assert time.monotonic() - began < 2, "a task fetched last in an invocation still finishes in it"


USER = {"userId": "u-1", "email": "u1@example.com"}


@pytest.mark.parametrize("delay_ms", [0, 13_000])
def test_a_delay_within_the_workers_task_budget_is_valid(delay_ms: int) -> None:
    result = validate_user_information(task(**USER, delayMs=delay_ms), RESOURCES)
    assert result["validation"]["userId"] == "u-1"


@pytest.mark.parametrize(
    ("delay_ms", "reason"),
    [
        (
            13_001,
            "delayMs must be at most 13000 (a step must end within the worker's task budget, "
            "WORKER_TASK_BUDGET_MS less 2000 ms)",
        ),
        (40_000, "delayMs must be at most 13000"),
        ("5000", "delayMs must be a whole number of milliseconds, 0 or more"),
        (1.5, "delayMs must be a whole number of milliseconds, 0 or more"),
        (True, "delayMs must be a whole number of milliseconds, 0 or more"),
        (-1, "delayMs must be a whole number of milliseconds, 0 or more"),
    ],
)
def test_a_delay_the_background_check_cannot_honour_is_refused_with_the_limit(delay_ms: object, reason: str) -> None:
    """Refused at validation, not shortened unseen by the check (WORKER_TASK_BUDGET_MS is 15000 here)."""
    with pytest.raises(BusinessRejection) as rejection:
        validate_user_information(task(**USER, delayMs=delay_ms), RESOURCES)
    assert rejection.value.code == REJECTED
    assert reason in rejection.value.message


# --- the onboarding service's failures, as the process's client reads them -------------------------


@pytest.fixture
def onboarding() -> Iterator[OnboardingApi]:
    api = OnboardingApi(delay_ms=1_000).start()
    yield api
    api.stop()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def onboard(base_url: str, **settings: Any) -> None:
    """The step, with the example's own setting ONBOARDING_API_URL at ``base_url``."""
    resources = WorkerResources(settings=Settings(**settings), http=requests.Session())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONBOARDING_API_URL", base_url)
        call_onboarding_api(task(**USER), resources)


def test_without_its_setting_the_step_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONBOARDING_API_URL", raising=False)
    with pytest.raises(RuntimeError, match="ONBOARDING_API_URL is not set"):
        call_onboarding_api(task(**USER), RESOURCES)


def test_an_unreachable_onboarding_service_fails_without_its_address() -> None:
    port = closed_port()
    with pytest.raises(OnboardingServiceError) as failed:
        onboard(f"http://127.0.0.1:{port}")
    assert str(failed.value) == "the onboarding service could not be reached: connection refused"
    assert isinstance(failed.value.__cause__, requests.ConnectionError), "the cause is kept for Camunda's details"


def test_an_error_answer_of_the_onboarding_service_fails_without_its_address(onboarding: OnboardingApi) -> None:
    with pytest.raises(OnboardingServiceError) as failed:
        onboard(f"{onboarding.url}/no-such-prefix")
    assert str(failed.value) == "the onboarding service answered 404 Not Found"


def test_a_slow_onboarding_service_fails_without_its_address(onboarding: OnboardingApi) -> None:
    with pytest.raises(OnboardingServiceError) as failed:
        onboard(onboarding.url, camunda_read_timeout_s=0.2)
    assert str(failed.value) == "the onboarding service did not answer within 0.2 s"
