"""Camunda 8's jobs as the worker's :class:`~waitroom.service.ports.TaskQueue`: a topic is a job type,
a lock a job's timeout, its extension a new timeout (``PATCH /jobs/{jobKey}``).

Camunda 8 activates jobs of one type per request, so :meth:`Camunda8TaskQueue.take` asks each
topic once without waiting (any job ready now is taken whichever topic it has: the next step of a
process just completed is found at once), and when none came, long-polls the topics in turn, each
for at most :data:`LONG_POLL_SLICE_MS`, until the wait is over. A job that comes while another
topic is polled waits at most the other topics' slices (5 s with onboard-user's six topics), and an
idle worker sends about one activation a second. A job carries its instance's tags, among them the
correlation id's (:mod:`.engine`). A job brings every variable visible from its element:
``TopicRequest.local_variables`` has no counterpart in Camunda 8's activation.

The backlog is not read on Camunda 8: Camunda 8.8's job search (``POST /v2/jobs/search``) reads
the job index its exporter writes from job events, and a job's activation is no job event (it is a
job batch's), so a job a worker holds looks there like one waiting (``CREATED``, no ``worker``, no
``deadline``), and the workers holding jobs cannot be counted. A backlog read from it would count
every job running as waiting, and the dispatcher would start workers for jobs already taken.
:meth:`backlog` and :meth:`busy_workers` raise :class:`~waitroom.domain.errors.ConfigurationError`,
and the dispatcher, the one reader of both, is not composed on Camunda 8
(:mod:`waitroom.composition.dispatcher`); the worker then runs on its schedule alone. (The job search
does serve the engine: an incident's job type, :mod:`.engine`.)

Only the worker's composition loads this module: an API function never does (an import contract in
pyproject.toml says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from waitroom.adapters.camunda8.client import Camunda8Client
from waitroom.adapters.camunda8.engine import correlation_id_of
from waitroom.adapters.camunda8.variables import to_json_variables
from waitroom.domain.errors import ConfigurationError
from waitroom.service.ports import Task, TopicRequest

#: What Camunda 8's activation reads as "answer at once, do not long-poll" (its requestTimeout).
NO_WAIT = -1
#: The longest long poll of one topic while others wait their turn.
LONG_POLL_SLICE_MS = 1_000
NO_BACKLOG = (
    "Waitroom's Camunda 8 adapter reads no backlog (Camunda 8's job search does not tell a job taken from one "
    "waiting), so the dispatcher does not run on ENGINE=camunda8"
)


class Camunda8TaskQueue:
    def __init__(self, client: Camunda8Client, *, worker_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        #: The name Camunda records as the worker of each job this worker activates.
        self.worker_id = worker_id
        self._clock = clock

    def take(self, topics: Sequence[TopicRequest], *, max_tasks: int, wait_ms: int) -> list[Task]:
        taken: list[Task] = []
        for topic in topics:
            if len(taken) >= max_tasks:
                return taken
            taken += self._activate(topic, max_tasks - len(taken), NO_WAIT)
        if taken or wait_ms <= 0:
            return taken
        deadline = self._clock() + wait_ms / 1000
        while True:
            for topic in topics:
                left_ms = int((deadline - self._clock()) * 1000)
                if left_ms < 1:
                    return []
                taken = self._activate(topic, max_tasks, min(left_ms, LONG_POLL_SLICE_MS))
                if taken:
                    return taken

    def _activate(self, topic: TopicRequest, max_jobs: int, request_timeout_ms: int) -> list[Task]:
        body: dict[str, Any] = {
            "type": topic.topic,
            "worker": self.worker_id,
            "timeout": topic.lock_duration_ms,
            "maxJobsToActivate": max_jobs,
            "requestTimeout": request_timeout_ms,
        }
        if topic.variables is not None:
            body["fetchVariable"] = list(topic.variables)
        # The answer may take as long as the long poll, and then some.
        read_timeout_s = self.client.timeout[1] + max(request_timeout_ms, 0) / 1000
        answer = self.client.request("POST", "/jobs/activation", json=body, read_timeout_s=read_timeout_s)
        return [_task(job) for job in answer.get("jobs") or []]

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        to_json_variables(variables)

    def complete(self, task_id: str, variables: Mapping[str, Any]) -> None:
        self.client.request("POST", f"/jobs/{task_id}/completion", json={"variables": to_json_variables(variables)})

    def fail(self, task_id: str, *, message: str, details: str | None, retries: int, retry_in_ms: int) -> None:
        # A job's failure has one message, which its incident shows: the details go after it.
        text = message if not details else f"{message}\n\n{details}"
        self.client.request(
            "POST",
            f"/jobs/{task_id}/failure",
            json={"errorMessage": text, "retries": retries, "retryBackOff": retry_in_ms},
        )

    def throw_bpmn_error(self, task_id: str, *, code: str, message: str, variables: Mapping[str, Any]) -> None:
        self.client.request(
            "POST",
            f"/jobs/{task_id}/error",
            json={"errorCode": code, "errorMessage": message, "variables": to_json_variables(variables)},
        )

    def extend_lock(self, task_id: str, duration_ms: int) -> None:
        self.client.request("PATCH", f"/jobs/{task_id}", json={"changeset": {"timeout": duration_ms}})

    def backlog(self, topic: str) -> int:
        raise ConfigurationError(NO_BACKLOG)

    def busy_workers(self) -> int:
        raise ConfigurationError(NO_BACKLOG)


def _task(job: Mapping[str, Any]) -> Task:
    """An ActivatedJobResult as the port's value."""
    return Task(
        id=str(job["jobKey"]),
        topic=str(job["type"]),
        business_key=correlation_id_of(job.get("tags")),
        process_instance_id=job.get("processInstanceKey"),
        activity_id=job.get("elementId"),
        retries=job.get("retries"),
        variables=dict(job.get("variables") or {}),
    )
