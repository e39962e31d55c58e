"""Camunda 7's external tasks as the worker's :class:`~waitroom.service.ports.TaskQueue`: typed variables
on the way in and out, the worker's id in every lock.

Only the worker's and the dispatcher's compositions load this module: an API function never does
(an import contract in pyproject.toml says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from waitroom.adapters.camunda.client import CamundaClient, FetchTopic
from waitroom.adapters.camunda.variables import from_typed_variables, to_typed_variables_or_invalid
from waitroom.service.ports import Task, TopicRequest


class CamundaTaskQueue:
    def __init__(self, client: CamundaClient, *, worker_id: str, string_max_chars: int) -> None:
        self.client = client
        #: The id Camunda records in the locks this worker holds, and asks for in its reports.
        self.worker_id = worker_id
        self._string_max_chars = string_max_chars

    def _typed(self, variables: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        return to_typed_variables_or_invalid(variables, string_max_chars=self._string_max_chars)

    def take(self, topics: Sequence[TopicRequest], *, max_tasks: int, wait_ms: int) -> list[Task]:
        locked = self.client.fetch_and_lock(
            worker_id=self.worker_id,
            topics=[
                FetchTopic(topic.topic, topic.lock_duration_ms, topic.variables, topic.local_variables)
                for topic in topics
            ],
            max_tasks=max_tasks,
            async_response_timeout_ms=wait_ms,
        )
        return [_task(task) for task in locked]

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        self._typed(variables)

    def complete(self, task_id: str, variables: Mapping[str, Any]) -> None:
        self.client.complete_task(task_id, worker_id=self.worker_id, variables=self._typed(variables))

    def fail(self, task_id: str, *, message: str, details: str | None, retries: int, retry_in_ms: int) -> None:
        self.client.report_failure(
            task_id,
            worker_id=self.worker_id,
            error_message=message,
            error_details=details,
            retries=retries,
            retry_timeout_ms=retry_in_ms,
        )

    def throw_bpmn_error(self, task_id: str, *, code: str, message: str, variables: Mapping[str, Any]) -> None:
        self.client.report_bpmn_error(
            task_id,
            worker_id=self.worker_id,
            error_code=code,
            error_message=message,
            variables=self._typed(variables),
        )

    def extend_lock(self, task_id: str, duration_ms: int) -> None:
        self.client.extend_lock(task_id, worker_id=self.worker_id, new_duration_ms=duration_ms)

    def backlog(self, topic: str) -> int:
        return self.client.count_fetchable_tasks(topic)

    def busy_workers(self) -> int:
        return len(self.client.lock_holders())


def _task(locked: Mapping[str, Any]) -> Task:
    """A LockedExternalTaskDto, as ``fetchAndLock`` returns it, as the port's value."""
    return Task(
        id=str(locked["id"]),
        topic=str(locked["topicName"]),
        business_key=locked.get("businessKey"),
        process_instance_id=locked.get("processInstanceId"),
        activity_id=locked.get("activityId"),
        retries=locked.get("retries"),
        variables=from_typed_variables(locked.get("variables")),
    )
