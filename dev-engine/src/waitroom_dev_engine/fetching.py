"""fetchAndLock: the request, its validation, and which external tasks it may lock in what order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from waitroom_dev_engine.errors import NullValueException, ProcessEngineException, ensure_message
from waitroom_dev_engine.records import ExternalTask
from waitroom_dev_engine.variables import TypedValue, to_python


@dataclass(frozen=True)
class TopicRequest:
    topic_name: str | None
    lock_duration: int
    variables: tuple[str, ...] | None = None
    local_variables: bool = False
    business_key: str | None = None
    process_definition_id: str | None = None
    process_definition_id_in: tuple[str, ...] | None = None
    process_definition_key: str | None = None
    process_definition_key_in: tuple[str, ...] | None = None
    process_definition_version_tag: str | None = None
    tenant_id_in: tuple[str, ...] | None = None
    process_variables: dict[str, Any] | None = None
    deserialize_values: bool = False
    include_extension_properties: bool = False


@dataclass(frozen=True)
class FetchRequest:
    worker_id: str | None
    max_tasks: int
    topics: tuple[TopicRequest, ...]
    use_priority: bool = False
    # Camunda's only fetch sorting is by createTime: None, "asc" or "desc".
    create_time_order: str | None = None
    async_response_timeout: int | None = None
    # Which tasks it locks: Camunda 8 jobs (/v2/jobs/activation) or Camunda 7 external tasks.
    jobs: bool = False

    def instructions(self) -> dict[str, TopicRequest]:
        """One instruction per topic; like Camunda, a repeated topic's last entry wins."""
        return {topic.topic_name: topic for topic in self.topics if topic.topic_name is not None}


@dataclass(frozen=True)
class LockedTask:
    task: ExternalTask
    variables: dict[str, TypedValue]
    deserialize_values: bool
    extension_properties: dict[str, str]


def validate(request: FetchRequest) -> None:
    """The checks of Camunda's FetchExternalTasksCmd, with its messages."""
    if request.worker_id is None:
        raise NullValueException(ensure_message("", "workerId", "is null"))
    if request.max_tasks < 0:
        raise ProcessEngineException(ensure_message("", "maxResults", "is not greater than or equal to 0"))
    for topic in request.topics:
        if topic.topic_name is None:
            raise NullValueException(ensure_message("", "topicName", "is null"))
        if topic.lock_duration <= 0:
            raise ProcessEngineException(ensure_message("", "lockTime", "is not greater than 0"))


def matches(task: ExternalTask, topic: TopicRequest, variables: dict[str, TypedValue]) -> bool:
    """Whether the task passes the topic's filters; ``variables`` are its instance's."""
    checks = (
        topic.business_key is None or task.business_key == topic.business_key,
        topic.process_definition_id is None or task.definition_id == topic.process_definition_id,
        topic.process_definition_id_in is None or task.definition_id in topic.process_definition_id_in,
        topic.process_definition_key is None or task.definition_key == topic.process_definition_key,
        topic.process_definition_key_in is None or task.definition_key in topic.process_definition_key_in,
        topic.process_definition_version_tag is None or task.version_tag == topic.process_definition_version_tag,
        # Tasks here never belong to a tenant, so any tenant filter excludes them.
        topic.tenant_id_in is None,
    )
    return all(checks) and _variables_equal(topic.process_variables or {}, variables)


def order(tasks: Iterable[ExternalTask], request: FetchRequest) -> list[ExternalTask]:
    ordered = list(tasks)
    if request.create_time_order is not None:
        ordered.sort(key=lambda task: task.create_time, reverse=request.create_time_order == "desc")
    if request.use_priority:
        # Priority comes first and the sort is stable, so createTime stays the tie-breaker.
        ordered.sort(key=lambda task: task.priority, reverse=True)
    return ordered


def next_unlock(tasks: Iterable[ExternalTask], now: int) -> int | None:
    """When the next locked (or retry-delayed) task with retries left becomes fetchable."""
    return min(
        (
            task.lock_expiration_time
            for task in tasks
            if task.lock_expiration_time is not None and task.lock_expiration_time > now and task.has_retries_left
        ),
        default=None,
    )


def _variables_equal(expected: dict[str, Any], variables: dict[str, TypedValue]) -> bool:
    for name, value in expected.items():
        if name not in variables:
            return False
        actual = to_python(variables[name])
        # JSON true and 1 are different values to Camunda; Python would call them equal.
        if isinstance(actual, bool) != isinstance(value, bool) or actual != value:
            return False
    return True
