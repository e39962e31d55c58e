"""The steps of ``bpmn/onboard-user.bpmn``, one handler per external-task topic.

validate-user-information → run-background-check → call-onboarding-api → prepare-response;
a user that fails validation is rejected with a BPMN error, which the process routes to
reject-user. The last step of either path returns the process's outcome, and the worker ends the
process with it (ProcessService.finish).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from waitroom.entrypoints.worker.tasks import BusinessRejection, ExternalTask, ProcessOutcome, Topic, WorkerResources

PROCESS_KEY = "onboard-user"
REJECTED = "USER_REJECTED"


def validate_user_information(task: ExternalTask, _: WorkerResources) -> Mapping[str, Any]:
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
    if problems:
        reason = "; ".join(problems)
        raise BusinessRejection(REJECTED, reason, variables={"rejectionReason": reason})
    return {"validation": {"userId": user_id, "email": normalized_email, "validatedAt": _now()}}


def run_background_check(task: ExternalTask, resources: WorkerResources) -> Mapping[str, Any]:
    """A demo rule, deterministic on the input: a score from the user id's hash; 90 and over needs review.

    ``delayMs`` makes the check take that long, for demos and tests of slow processes. It is capped
    below ``WORKER_TASK_BUDGET_MS``, the time a task fetched last in an invocation has to finish.
    """
    delay_ms = task.variables.get("delayMs")
    if isinstance(delay_ms, int) and not isinstance(delay_ms, bool) and delay_ms > 0:
        longest_ms = max(0, resources.settings.worker_task_budget_ms - 2_000)
        time.sleep(min(delay_ms, longest_ms) / 1000)
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


def call_onboarding_api(task: ExternalTask, resources: WorkerResources) -> Mapping[str, Any]:
    base_url = resources.settings.onboarding_api_url
    if base_url is None:
        raise RuntimeError("ONBOARDING_API_URL is not set")
    response = resources.http.post(
        f"{str(base_url).rstrip('/')}/users",
        json={"userId": task.variables["userId"], "email": task.variables["email"]},
        # The step may run twice (a lapsed lock): the key lets the service answer the second call alike.
        headers={"Idempotency-Key": f"{task.process_instance_id}:{task.activity_id}"},
        timeout=(resources.settings.camunda_connect_timeout_s, resources.settings.camunda_read_timeout_s),
    )
    response.raise_for_status()
    return {"onboarding": response.json()}


def prepare_response(task: ExternalTask, _: WorkerResources) -> ProcessOutcome:
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


def reject_user(task: ExternalTask, _: WorkerResources) -> ProcessOutcome:
    """The end of the rejection path: the process ends ERROR with the reason."""
    reason = str(task.variables.get("rejectionReason") or "the user was rejected")
    return ProcessOutcome(error={"code": REJECTED, "message": reason})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


TOPICS = (
    Topic(f"{PROCESS_KEY}.validate-user-information", validate_user_information, variables=("userId", "email")),
    Topic(f"{PROCESS_KEY}.run-background-check", run_background_check, variables=("userId", "delayMs")),
    Topic(f"{PROCESS_KEY}.call-onboarding-api", call_onboarding_api, variables=("userId", "email")),
    Topic(
        f"{PROCESS_KEY}.prepare-response",
        prepare_response,
        variables=("userId", "email", "validation", "backgroundCheck", "onboarding"),
    ),
    Topic(f"{PROCESS_KEY}.reject-user", reject_user, variables=("rejectionReason",)),
)
