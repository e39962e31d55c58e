"""A team's own processes on Camunda 8 (``ENGINE=camunda8``), run by a job worker of the team's, are
answered from what Camunda 8 keeps of them: their variables at a plain end, a terminate end event,
an incident and its job's type. The behaviours every engine shares are in test_behaviour.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.stack import LocalSettings, LocalStack
from tests.support.stacks import run_stack
from waitroom.adapters.camunda8.client import Camunda8Client
from waitroom.adapters.camunda8.deployment import deploy_bpmn
from waitroom_dev_engine.testing.bpmn import zeebe_process_xml


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


#: How often the worker looks at the engine for instances ended and incidents raised here; the bound
#: on the answer is generous beside it (scheduling).
ENGINE_WATCH_MS = 500
ENDED_WITHIN_S = 15
TEAM_PROCESSES = {
    # Two steps, and no response step: the process simply ends at its none end event.
    "team-plain": zeebe_process_xml("team-plain", ("team.submit", "team.approve")),
    "team-stop": zeebe_process_xml("team-stop", ("team.submit",), end="terminate"),
    "team-audit": zeebe_process_xml("team-audit", ("team.audit",)),
    # Waitroom's response step between two of the team's steps: it, not the end, gives the result.
    "team-respond": zeebe_process_xml("team-respond", ("team.submit", "waitroom-respond", "team.approve")),
}


class TeamJobWorker:
    """The team's steps, as a job worker of its own on Camunda 8's REST API (not Waitroom's worker)."""

    def __init__(self, url_v2: str) -> None:
        self.url = url_v2
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="team-job-worker", daemon=True)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self.stopped.is_set():
                taken = 0
                for job_type in ("team.submit", "team.approve", "team.audit"):
                    body = {
                        "type": job_type,
                        "worker": "team",
                        "timeout": 60_000,
                        "maxJobsToActivate": 5,
                        "requestTimeout": -1,
                    }
                    jobs = session.post(f"{self.url}/jobs/activation", json=body, timeout=30).json()["jobs"]
                    for job in jobs:
                        self._handle(session, job)
                    taken += len(jobs)
                if not taken:
                    self.stopped.wait(0.05)

    def _handle(self, session: requests.Session, job: dict[str, Any]) -> None:
        key, variables = job["jobKey"], job["variables"]
        if job["type"] == "team.audit":
            failure = {"retries": 0, "errorMessage": "the audit service refused the claim"}
            session.post(f"{self.url}/jobs/{key}/failure", json=failure, timeout=30).raise_for_status()
            return
        outputs = (
            {"submittedBy": variables.get("employee")}
            if job["type"] == "team.submit"
            else {"approved": True, "approver": "lead-7"}
        )
        session.post(f"{self.url}/jobs/{key}/completion", json={"variables": outputs}, timeout=30).raise_for_status()


@pytest.fixture(scope="module")
def team_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("team-bpmn-camunda8")
    for key, xml in TEAM_PROCESSES.items():
        (folder / f"{key}.bpmn").write_text(xml)
    environment = {"ALLOWED_PROCESS_KEYS": ",".join(TEAM_PROCESSES), "ENGINE_WATCH_MS": str(ENGINE_WATCH_MS)}
    with camunda8_stack(tmp_path_factory.mktemp("stack"), **environment) as stack:
        client = Camunda8Client(stack.environment["CAMUNDA8_URL"])
        deploy_bpmn(client, folder)
        client.close()
        worker = TeamJobWorker(stack.environment["CAMUNDA8_URL"])
        worker.thread.start()
        try:
            yield stack
        finally:
            worker.stopped.set()
            worker.thread.join(timeout=10)


def start_waiting(stack: LocalStack, key: str, correlation_id: str, variables: dict[str, Any]) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.identity.issue('tester')}", "Prefer": f"wait={ENDED_WITHIN_S}"}
    body = {"processKey": key, "correlationId": correlation_id, "variables": variables}
    return requests.post(f"{stack.url}/api/process/start", json=body, headers=headers, timeout=60)


def test_a_process_without_a_response_step_is_answered_with_its_variables_at_its_end_on_camunda8(
    team_stack: LocalStack,
) -> None:
    response = start_waiting(team_stack, "team-plain", "c8-plain-1", {"employee": "grace", "amount": 700})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "DONE"
    # The instance's variables when it ended, read from Camunda 8's variable search.
    assert response.json()["data"] == {
        "employee": "grace",
        "amount": 700,
        "submittedBy": "grace",
        "approved": True,
        "approver": "lead-7",
    }


def test_the_response_step_answers_with_the_variables_it_receives_on_camunda8(team_stack: LocalStack) -> None:
    response = start_waiting(team_stack, "team-respond", "c8-respond-1", {"employee": "ada"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "DONE"
    # The job's variables when Waitroom's worker took it: the step after it had not run yet.
    assert response.json()["data"] == {"employee": "ada", "submittedBy": "ada"}


def test_a_terminate_end_event_ends_the_wait_in_error_terminated_on_camunda8(team_stack: LocalStack) -> None:
    response = start_waiting(team_stack, "team-stop", "c8-stop-1", {"employee": "grace"})
    assert response.status_code == 500, response.text
    assert response.json()["status"] == "ERROR"
    assert response.json()["error"] == {
        "code": "TERMINATED",
        "message": "the process reached the terminate end event End",
        "activityId": "End",
    }


def test_a_step_failed_for_good_by_another_worker_ends_the_wait_naming_its_topic_on_camunda8(
    team_stack: LocalStack,
) -> None:
    response = start_waiting(team_stack, "team-audit", "c8-audit-1", {"amount": 9})
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "INCIDENT"
    assert error["message"] == "step team.audit failed and has no retries left: the audit service refused the claim"
    assert error["topic"] == "team.audit"
