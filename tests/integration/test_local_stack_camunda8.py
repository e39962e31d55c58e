"""The whole flow on one machine with ``ENGINE=camunda8``: the local stack deploys onboard-user for
Camunda 8 (examples/onboard-user/bpmn-camunda8) through the development engine's ``/v2``, the HTTP
functions start and find instances through Waitroom's Camunda 8 adapter, and the worker on its
schedule takes and reports jobs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from devstack.stack import LocalSettings, LocalStack
from tests.support.stacks import run_stack

USER = {"userId": "user-123", "email": "user@example.com"}


@contextmanager
def camunda8_stack(tmp_path: Path, **environment: str) -> Iterator[LocalStack]:
    variables: dict[str, str | None] = {
        "ENGINE": "camunda8",
        "CAMUNDA_URL": None,
        "CAMUNDA8_URL": None,
        "DATABASE_URL": None,
        **environment,
    }
    local = LocalSettings(data_dir=tmp_path, engine_port=0, concurrency=1, schedule_interval_s=1)
    with run_stack(local, variables) as running:
        yield running


def post(stack: LocalStack, body: dict[str, Any]) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.identity.issue('tester')}"}
    return requests.post(f"{stack.url}/api/process/start", json=body, headers=headers, timeout=60)


def status(stack: LocalStack, correlation_id: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.identity.issue('tester')}"}
    return requests.get(f"{stack.url}/api/process/status/{correlation_id}", headers=headers, timeout=60)


def test_onboard_user_on_camunda8_answers_200_and_an_incident_answers_error(tmp_path: Path) -> None:
    with camunda8_stack(tmp_path) as stack:
        assert stack.engine is not None
        response = post(stack, {"processKey": "onboard-user", "correlationId": "c8-e2e-1", "variables": USER})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "DONE"
        assert body["data"]["success"] is True
        assert body["data"]["onboarding"]["userId"] == "user-123"
        # The instance is Camunda 8's, tagged with the correlation id.
        (instance,) = [h for h in stack.engine.engine.historic_instances() if "waitroom:c8-e2e-1" in h.tags]
        assert instance.state == "COMPLETED"

        rejected = post(stack, {"processKey": "onboard-user", "correlationId": "c8-e2e-2", "variables": {"userId": ""}})
        assert rejected.status_code == 500, rejected.text
        assert rejected.json()["error"]["code"] == "USER_REJECTED"


def test_a_step_failing_until_no_retries_are_left_ends_error_incident_on_camunda8(tmp_path: Path) -> None:
    # The onboarding API is out of reach: its step fails on every attempt; the job's retries (3 in
    # the BPMN) run out and the process ends ERROR.
    with camunda8_stack(tmp_path, ONBOARDING_API_URL="http://127.0.0.1:9", WORKER_RETRY_TIMEOUT_MS="100") as stack:
        response = post(stack, {"processKey": "onboard-user", "correlationId": "c8-inc", "variables": USER})
        assert response.status_code in (202, 500), response.text
        # Bounded by attempts, not by the clock: a loaded machine runs the retries more slowly.
        for _ in range(240):
            if response.json()["status"] != "PENDING":
                break
            time.sleep(0.25)
            response = status(stack, "c8-inc")
        assert response.status_code == 500, response.text
        assert response.json()["status"] == "ERROR"
        error = response.json()["error"]
        assert error["code"] == "INCIDENT"
        assert "onboard-user.call-onboarding-api" in error["message"]
        assert stack.engine is not None
        assert [i.activity_id for i in stack.engine.engine.incidents()] == ["Task_CallOnboardingApi"]
