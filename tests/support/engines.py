"""What the behaviour suite (tests/integration/test_behaviour.py) reads and does in the engine itself,
behind one interface per engine protocol: start an instance the way a start function that died
before recording it leaves one, find a process's instance and its state and open incidents (through
Waitroom's own adapter of the engine port), and say which worker holds the lock of a process's task.

The lock holder is the only read with no port behind it: Camunda 7 lists locked external tasks
(``GET /external-task``); Camunda 8 searches jobs (``POST /v2/jobs/search``). The development engine
serves that search as Camunda's exporter fills it, without a job's activation (its worker and
deadline), so there the suite reads the development engine's own state instead. Whether a real
Camunda 8.8's search shows them is unproven: the adapter's task queue says why its exporter may not
(shared/waitroom/adapters/camunda8/task_queue.py), and only the ``camunda8-server`` CI job can tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from devstack.stack import LocalStack
from waitroom import bootstrap
from waitroom.adapters.camunda8.engine import correlation_tag
from waitroom.service.ports import InstanceHistory
from waitroom.settings import Settings

PROCESS_KEY = "onboard-user"
HTTP_TIMEOUT_S = 10


class EngineProbe(Protocol):
    #: How often a step that keeps failing runs before its incident: Waitroom's WORKER_MAX_RETRIES
    #: on Camunda 7, the job's own retries (the BPMN's) on Camunda 8.
    def failing_attempts(self, worker_max_retries: int) -> int: ...

    def start_unrecorded(self, correlation_id: str, variables: Mapping[str, Any]) -> str:
        """Start an instance for ``correlation_id`` straight in the engine; its id."""
        ...

    def instances(self, correlation_id: str) -> list[InstanceHistory]:
        """The instances the engine has for ``correlation_id`` (its searches may lag behind)."""
        ...

    def incident_activities(self, instance_id: str) -> list[str | None]:
        """The activities of the instance's open incidents."""
        ...

    def lock_holder(self, correlation_id: str, topic: str) -> str | None:
        """The worker holding the lock of the process's task on ``topic`` now, if one does."""
        ...

    def close(self) -> None: ...


class _PortProbe:
    """The reads and the start every engine has, through Waitroom's adapter of the engine port."""

    def __init__(self, settings: Settings) -> None:
        self.engine = bootstrap.engine(settings)

    def start_unrecorded(self, correlation_id: str, variables: Mapping[str, Any]) -> str:
        return self.engine.start(PROCESS_KEY, business_key=correlation_id, variables=variables)

    def instances(self, correlation_id: str) -> list[InstanceHistory]:
        return self.engine.find_by_business_key(correlation_id, process_key=PROCESS_KEY)

    def incident_activities(self, instance_id: str) -> list[str | None]:
        return [incident.activity_id for incident in self.engine.incidents(instance_id)]

    def close(self) -> None:
        self.engine.client.close()


class Camunda7Probe(_PortProbe):
    def __init__(self, url: str) -> None:
        super().__init__(Settings(camunda_url=url))
        self.url = url

    def failing_attempts(self, worker_max_retries: int) -> int:
        return worker_max_retries

    def lock_holder(self, correlation_id: str, topic: str) -> str | None:
        query = {"topicName": topic, "locked": "true"}
        tasks = requests.get(f"{self.url}/external-task", params=query, timeout=HTTP_TIMEOUT_S).json()
        return next(
            (str(task["workerId"]) for task in tasks if task.get("businessKey") == correlation_id and task["workerId"]),
            None,
        )


class Camunda8Probe(_PortProbe):
    """A real Camunda 8: jobs are read through its job search."""

    #: onboard-user's Camunda 8 BPMN gives each job 3 retries (examples/onboard-user/bpmn-camunda8).
    JOB_RETRIES = 3

    def __init__(self, url: str) -> None:
        super().__init__(Settings(engine="camunda8", camunda8_url=url))
        self.url = url

    def failing_attempts(self, worker_max_retries: int) -> int:
        return self.JOB_RETRIES

    def lock_holder(self, correlation_id: str, topic: str) -> str | None:
        now = datetime.now(UTC)
        for instance in self.instances(correlation_id):
            body = {"filter": {"type": topic, "processInstanceKey": instance.id, "state": "CREATED"}}
            answer = requests.post(f"{self.url}/jobs/search", json=body, timeout=HTTP_TIMEOUT_S)
            answer.raise_for_status()
            for job in answer.json().get("items") or []:
                deadline = job.get("deadline")
                if job.get("worker") and deadline and datetime.fromisoformat(deadline) > now:
                    return str(job["worker"])
        return None


class DevelopmentCamunda8Probe(Camunda8Probe):
    """The development engine's ``/v2``: its job search shows no activation, so its jobs are read in process."""

    def __init__(self, url: str, stack: LocalStack) -> None:
        super().__init__(url)
        assert stack.engine is not None, "the development engine runs in this process"
        self.development = stack.engine.engine

    def lock_holder(self, correlation_id: str, topic: str) -> str | None:
        tag = correlation_tag(correlation_id)
        instances = {history.id for history in self.development.historic_instances() if tag in history.tags}
        now = self.development.clock.now_ms()
        return next(
            (
                job.worker_id
                for job in self.development.jobs()
                if job.process_instance_id in instances
                and job.topic_name == topic
                and job.worker_id
                and (job.lock_expiration_time or 0) > now
            ),
            None,
        )


def probe_of(stack: LocalStack, engine: str) -> EngineProbe:
    """The probe of the engine the stack's functions call (its URL as the stack gave it to them)."""
    url = stack.environment["CAMUNDA8_URL" if engine == "camunda8" else "CAMUNDA_URL"]
    if engine == "camunda8":
        return DevelopmentCamunda8Probe(url, stack) if stack.engine is not None else Camunda8Probe(url)
    return Camunda7Probe(url)
