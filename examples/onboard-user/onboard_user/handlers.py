"""The steps of ``bpmn/onboard-user.bpmn``, one handler per external-task topic: a handler module, which
the worker serves when ``WORKER_HANDLER_MODULES`` names it (``onboard_user.handlers``).

validate-user-information → run-background-check → call-onboarding-api → prepare-response;
a user that fails validation is rejected with a BPMN error, which the process routes to
reject-user. The last step of either path returns the process's outcome (a ``ProcessOutcome``), and
the worker ends the process with it.

A step's error message is stored with the process and shown to its client: it says what failed in
the service's terms and never carries an internal address (the exception it was raised from, with
the URL, goes to Camunda's error details, for operators).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from email_validator import EmailNotValidError, validate_email
from pydantic import HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

from waitroom.entrypoints.worker.tasks import BusinessRejection, ProcessOutcome, Task, Topic, WorkerResources

PROCESS_KEY = "onboard-user"
REJECTED = "USER_REJECTED"
#: What a background check may take beyond ``delayMs``: a task fetched last in a worker invocation
#: has ``WORKER_TASK_BUDGET_MS`` to finish, its reporting included.
REPORTING_MARGIN_MS = 2_000


class OnboardingServiceError(RuntimeError):
    """The onboarding service failed the call: unreachable, too slow, or an error answer."""


def longest_delay_ms(resources: WorkerResources) -> int:
    """The longest ``delayMs`` a background check can honour within the worker's task budget."""
    return max(0, resources.settings.worker_task_budget_ms - REPORTING_MARGIN_MS)


def validate_user_information(task: Task, resources: WorkerResources) -> Mapping[str, Any]:
    user_id, email = task.variables.get("userId"), task.variables.get("email")
    problems = []
    if not isinstance(user_id, str) or not user_id.strip():
        problems.append("userId is required")
    normalized_email = None
    if not isinstance(email, str) or not email.strip():
        problems.append("email is required")
    else:
        try:
            normalized_email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems.append(f"email is not a well-formed address: {exc}")
    if "delayMs" in task.variables:
        problems.extend(_delay_problems(task.variables["delayMs"], longest_delay_ms(resources)))
    if problems:
        reason = "; ".join(problems)
        raise BusinessRejection(REJECTED, reason, variables={"rejectionReason": reason})
    return {"validation": {"userId": user_id, "email": normalized_email, "validatedAt": _now()}}


def _delay_problems(delay_ms: object, longest_ms: int) -> list[str]:
    """Why ``delayMs`` cannot be honoured, if it cannot: validation refuses it rather than the
    background check shortening it unseen."""
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or delay_ms < 0:
        return ["delayMs must be a whole number of milliseconds, 0 or more"]
    if delay_ms > longest_ms:
        return [
            f"delayMs must be at most {longest_ms} (a step must end within the worker's task budget, "
            f"WORKER_TASK_BUDGET_MS less {REPORTING_MARGIN_MS} ms)"
        ]
    return []


def run_background_check(task: Task, resources: WorkerResources) -> Mapping[str, Any]:
    """A demo rule, deterministic on the input: a score from the user id's hash; 90 and over needs review.

    ``delayMs`` makes the check take that long, for demos and tests of slow processes; validation
    has refused one longer than :func:`longest_delay_ms`. The bound holds here too, for an instance
    started before the worker's budget was lowered: the check must end within the invocation.
    """
    delay_ms = task.variables.get("delayMs")
    if isinstance(delay_ms, int) and not isinstance(delay_ms, bool) and delay_ms > 0:
        time.sleep(min(delay_ms, longest_delay_ms(resources)) / 1000)
    user_id = str(task.variables["userId"])
    score = int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16) % 100
    return {
        "backgroundCheck": {
            "status": "clear" if score < 90 else "review",
            "score": score,
            "rule": "demo: sha256(userId) mod 100, clear below 90",
            "checkedAt": _now(),
        }
    }


class OnboardingSettings(BaseSettings):
    """The example's own setting, beside Waitroom's."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    onboarding_api_url: HttpUrl | None = None
    """The onboarding service that the ``call-onboarding-api`` step calls (``ONBOARDING_API_URL``)."""


def call_onboarding_api(task: Task, resources: WorkerResources) -> Mapping[str, Any]:
    # Read at each call: a setting that changes needs no new worker (tests change it between processes).
    base_url = OnboardingSettings().onboarding_api_url
    if base_url is None:
        raise RuntimeError("ONBOARDING_API_URL is not set")
    read_timeout_s = resources.settings.camunda_read_timeout_s
    try:
        response = resources.http.post(
            f"{str(base_url).rstrip('/')}/users",
            json={"userId": task.variables["userId"], "email": task.variables["email"]},
            # The step may run twice (a lapsed lock): the key lets the service answer the second call alike.
            headers={"Idempotency-Key": f"{task.process_instance_id}:{task.activity_id}"},
            timeout=(resources.settings.camunda_connect_timeout_s, read_timeout_s),
        )
    except requests.ConnectTimeout as exc:
        raise OnboardingServiceError("the onboarding service could not be reached: the connection timed out") from exc
    except requests.Timeout as exc:
        raise OnboardingServiceError(f"the onboarding service did not answer within {read_timeout_s:g} s") from exc
    except requests.ConnectionError as exc:
        raise OnboardingServiceError(f"the onboarding service could not be reached: {_cause(exc)}") from exc
    if response.status_code >= 400:
        raise OnboardingServiceError(f"the onboarding service answered {response.status_code} {response.reason}")
    try:
        return {"onboarding": response.json()}
    except ValueError as exc:
        raise OnboardingServiceError(f"the onboarding service answered {response.status_code} without JSON") from exc


def _cause(error: BaseException) -> str:
    """The operating system's reason a connection failed ("Connection refused", "Name or service not
    known"), found under requests' and urllib3's wrappers, whose own text names the host and port."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and isinstance(current.strerror, str) and current.strerror:
            return current.strerror.lower()
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return "the connection failed"


def prepare_response(task: Task, _: WorkerResources) -> ProcessOutcome:
    """Aggregate every step's result: the process ends DONE with it."""
    return ProcessOutcome(
        data={
            "success": True,
            "userId": task.variables.get("userId"),
            "email": (task.variables.get("validation") or {}).get("email", task.variables.get("email")),
            "validation": task.variables.get("validation"),
            "backgroundCheck": task.variables.get("backgroundCheck"),
            "onboarding": task.variables.get("onboarding"),
        }
    )


def reject_user(task: Task, _: WorkerResources) -> ProcessOutcome:
    """The end of the rejection path: the process ends ERROR with the reason."""
    reason = str(task.variables.get("rejectionReason") or "the user was rejected")
    return ProcessOutcome(error={"code": REJECTED, "message": reason})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


TOPICS = (
    Topic(
        f"{PROCESS_KEY}.validate-user-information", validate_user_information, variables=("userId", "email", "delayMs")
    ),
    Topic(f"{PROCESS_KEY}.run-background-check", run_background_check, variables=("userId", "delayMs")),
    Topic(f"{PROCESS_KEY}.call-onboarding-api", call_onboarding_api, variables=("userId", "email")),
    Topic(
        f"{PROCESS_KEY}.prepare-response",
        prepare_response,
        variables=("userId", "email", "validation", "backgroundCheck", "onboarding"),
    ),
    Topic(f"{PROCESS_KEY}.reject-user", reject_user, variables=("rejectionReason",)),
)
