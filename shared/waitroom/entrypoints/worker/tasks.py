"""What a handler gets and may answer, and the registry of topics.

A handler receives a :class:`~waitroom.service.ports.Task` (re-exported here, where handler modules
import it from), the engine's task with its variables as Python values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from waitroom.service.ports import Task, TopicRequest
from waitroom.settings import Settings

__all__ = ["BusinessRejection", "ProcessOutcome", "Task", "TaskHandler", "Topic", "TopicRegistry", "WorkerResources"]


class BusinessRejection(Exception):
    """Raised by a handler for a business outcome the process models: it becomes a BPMN error."""

    def __init__(self, code: str, message: str, *, variables: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.variables = dict(variables or {})


@dataclass(frozen=True)
class ProcessOutcome:
    """What the last step of a process returns: the process ends DONE with ``data``, or ERROR with
    ``error``. The worker records the step, then finishes the process, then completes the task."""

    data: Any = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class WorkerResources:
    """What handlers may use: the settings and one HTTP session."""

    settings: Settings
    http: requests.Session


#: A handler returns the variables to complete its task with (or, as the last step of a process,
#: the process's outcome), raises BusinessRejection for a modelled business outcome, or raises
#: anything else for a failure that the engine retries.
TaskHandler = Callable[[Task, WorkerResources], Mapping[str, Any] | ProcessOutcome | None]


@dataclass(frozen=True)
class Topic:
    name: str
    handler: TaskHandler
    #: How long the engine keeps the task locked to us (default ``WORKER_LOCK_DURATION_MS``); the lock
    #: is extended while the handler runs, so this bounds how soon a crashed worker's task is retried.
    lock_duration_ms: int | None = None
    #: Which process variables to fetch with the task; None fetches them all.
    variables: tuple[str, ...] | None = None
    #: Fetch the variables of the task's own scope (Camunda 7's ``localVariables``): those of its
    #: input mappings when it has any, else the instance's.
    local_variables: bool = False


@dataclass(frozen=True)
class TopicRegistry:
    topics: dict[str, Topic] = field(default_factory=dict)

    @classmethod
    def of(cls, topics: Iterable[Topic]) -> TopicRegistry:
        registry: dict[str, Topic] = {}
        for topic in topics:
            if topic.name in registry:
                raise ValueError(f"topic {topic.name!r} has two handlers")
            registry[topic.name] = topic
        return cls(registry)

    def __getitem__(self, name: str) -> Topic:
        return self.topics[name]

    def __iter__(self) -> Iterator[Topic]:
        return iter(self.topics.values())

    def fetch_topics(self, default_lock_duration_ms: int) -> list[TopicRequest]:
        """What the worker asks of each topic when it takes tasks."""
        return [
            TopicRequest(
                topic.name, topic.lock_duration_ms or default_lock_duration_ms, topic.variables, topic.local_variables
            )
            for topic in self
        ]
