"""What the service needs from the world, stated as the service needs it.

The adapters in :mod:`waitroom.adapters` implement these (the SQL store, the Camunda 7 and Camunda 8
REST clients, the wake channels, CloudWatch metrics); the unit tests implement them in memory. Nothing here names
a database, an HTTP library or AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from waitroom.domain.process import ListQuery, NewProcess, Outcome, ProcessRecord, StepEvent

#: Seconds on a monotonic clock: when waits end.
Clock = Callable[[], float]
#: The time of day, aware and in UTC: how old a process is.
WallClock = Callable[[], datetime]


class ProcessRepository(Protocol):
    """Where every process's state lives; the single source of truth.

    A row is created PENDING and ends once: :meth:`finish` moves it to DONE, ERROR or CANCELLED, or
    :meth:`discard_unstarted` deletes it when its start certainly failed (these two are the ending
    statements; only ``ProcessService._end`` runs them). A finished row keeps its status and outcome,
    and changes in two ways only: :meth:`attach_instance` records the engine instance it lacks (found
    after the row ended), and :meth:`replace_unstarted` makes a row that provably never started
    (:attr:`~waitroom.domain.process.ProcessRecord.never_started`) PENDING for its client's new start,
    as if it had been deleted and saved anew. Every transition is one conditional statement, so
    racing callers cannot both win.
    """

    def save(self, new: NewProcess) -> tuple[ProcessRecord, bool]:
        """Insert a PENDING row unless the id exists. Returns the row and whether this call made it."""
        ...

    def get(self, correlation_id: str) -> ProcessRecord | None: ...

    def poll(self, correlation_id: str) -> ProcessRecord | None:
        """:meth:`get`, as the wait loop reads it: repeatedly, while a completion may be writing."""
        ...

    def remove(self, correlation_id: str) -> bool:
        """Delete a row and its steps. Whether it existed."""
        ...

    def list_page(self, query: ListQuery) -> list[ProcessRecord]:
        """A page of processes, newest first, filtered as the query says; never the whole table."""
        ...

    def pending_started_before(self, cutoff: datetime, *, limit: int) -> list[ProcessRecord]:
        """PENDING rows started before ``cutoff``, oldest first (the reconciler's work list)."""
        ...

    def cancelled_without_instance(
        self, *, started_after: datetime, started_before: datetime, limit: int
    ) -> list[ProcessRecord]:
        """CANCELLED rows with no engine instance recorded, started in ``[started_after,
        started_before)``, oldest first: cancels that came before their start was confirmed, whose
        instance the reconciler looks for."""
        ...

    def purge_finished(self, *, updated_before: datetime, batch: int) -> int:
        """Delete at most ``batch`` finished rows last changed before ``updated_before``, with their
        steps. Returns how many rows went."""
        ...

    def recent_durations_ms(self, process_key: str, *, limit: int) -> list[float]:
        """How long the key's most recent DONE processes took, in milliseconds."""
        ...

    def record_step(self, event: StepEvent) -> bool:
        """Add a step to a process's history, once: a step whose token is recorded already (an
        attempt repeated after a lost answer) adds nothing. False when Waitroom has no row for the
        process."""
        ...

    def steps(self, correlation_id: str) -> list[StepEvent]:
        """A process's steps in the order they were recorded."""
        ...

    def attach_instance(self, correlation_id: str, instance_id: str) -> None:
        """Record the engine's instance of a row, PENDING or finished. Write-once: a recorded id is
        never replaced."""
        ...

    def discard_unstarted(self, correlation_id: str) -> bool:
        """Delete a PENDING row that has no engine instance: its start failed and never happened."""
        ...

    def replace_unstarted(self, new: NewProcess, ended: ProcessRecord) -> tuple[ProcessRecord, bool]:
        """Make ``ended``, a row that never started (``ended.never_started``), a new PENDING row for
        ``new``, in one conditional statement that changes nothing if the row is no longer ``ended``
        (another start replaced it first, or an instance was attached). Changes nothing either when
        ``ended`` did not provably never start: any other finished row may have an instance, and
        stays as it is. Returns the row and whether this call replaced it, as :meth:`save` does
        (inserted anew if the row is gone)."""
        ...

    def finish(self, correlation_id: str, outcome: Outcome, *, instance_id: str | None = None) -> ProcessRecord | None:
        """PENDING → the outcome's status, recording ``instance_id`` too if the row has no instance
        yet. Returns the finished row, or None when the row was not PENDING (or absent): exactly one
        of racing finishes gets the row."""
        ...

    def has_pending(self, correlation_id: str) -> bool: ...

    def pending_count(self) -> int: ...

    def add_waiter(self, correlation_id: str, callback_id: str) -> None:
        """Record the callback a durable waiter of the process suspended on."""
        ...

    def take_waiters(self, correlation_id: str) -> list[str]:
        """Remove and return every callback recorded for the process: of racing takers, each
        callback goes to one."""
        ...

    def drop_waiter(self, correlation_id: str, callback_id: str) -> None:
        """Forget one recorded callback (its waiter saw the process end before it suspended)."""
        ...


@dataclass(frozen=True)
class InstanceHistory:
    """What the engine remembers of a process instance, running or ended."""

    id: str
    state: str
    """``ACTIVE``, ``SUSPENDED``, ``COMPLETED``, ``EXTERNALLY_TERMINATED`` or ``INTERNALLY_TERMINATED``."""
    delete_reason: str | None = None
    #: The Waitroom correlation id of a process started through Waitroom.
    business_key: str | None = None
    #: When it ended, on the engine's clock (None while it runs).
    ended_at: datetime | None = None


@dataclass(frozen=True)
class ScopeEnd:
    """An activity whose end completed an instance's own scope, as the engine's history records it:
    an end event reached on the process's top level (a none, error, terminate ... end event), or a
    task there whose uncaught BPMN error ended its path."""

    activity_id: str
    #: Camunda's activity type: ``noneEndEvent``, ``errorEndEvent``, ``terminateEndEvent``, ``serviceTask`` ...
    activity_type: str


@dataclass(frozen=True)
class Incident:
    activity_id: str | None
    message: str | None
    id: str | None = None
    instance_id: str | None = None
    #: The business key of its instance: the Waitroom correlation id of a process started through Waitroom.
    business_key: str | None = None
    #: The topic of the external task that raised it (None for another kind of incident).
    topic: str | None = None
    #: When it was raised, on the engine's clock.
    raised_at: datetime | None = None


class Engine(Protocol):
    """The process engine (Camunda 7, or Camunda 8). Its failures are the ``Camunda*`` errors of the domain."""

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        """Raise :class:`~waitroom.domain.errors.InvalidRequest` naming the first variable the engine
        cannot take, before anything is started."""
        ...

    def start(self, process_key: str, *, business_key: str, variables: Mapping[str, Any]) -> str:
        """Start an instance of the latest definition of ``process_key``. Returns its id."""
        ...

    def find_by_business_key(self, business_key: str, *, process_key: str | None) -> list[InstanceHistory]: ...

    def history(self, instance_id: str) -> InstanceHistory | None: ...

    def delete(self, instance_id: str) -> bool:
        """Delete a running instance. False when it had ended already."""
        ...

    def incidents(self, instance_id: str) -> list[Incident]:
        """The open incidents of an instance."""
        ...

    def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
        """The open incidents raised after ``moment``, oldest first, at most ``limit``, each with its
        instance's id and business key, and its external task's topic."""
        ...

    def instances_ended_after(self, moment: datetime, *, limit: int) -> list[InstanceHistory]:
        """The instances that ended at or after ``moment``, oldest end first, at most ``limit``, each with
        its business key."""
        ...

    def scope_ends(self, instance_id: str) -> list[ScopeEnd]:
        """How an ended instance ended: the activities that completed its own scope (several when
        parallel paths each reached an end). Empty when the engine's history keeps no activities."""
        ...

    def final_variables(self, instance_id: str) -> dict[str, Any]:
        """The variables of an ended instance's own scope as they were when it ended (not the local
        variables of its activities), as Python values. Empty when the engine's history keeps no
        variables (Camunda's history level ``activity``)."""
        ...


class Subscription(Protocol):
    def wait(self, timeout_s: float) -> bool:
        """Pause up to ``timeout_s``; True when woken by a notification, False when the time ran out."""
        ...


class Waker(Protocol):
    """Wakes the requests that wait for a process as soon as it finishes."""

    name: str
    #: Whether a notification is expected at all: when so, polling is only the fallback.
    pushes: bool

    def subscribe(self, correlation_id: str) -> AbstractContextManager[Subscription]: ...

    def notify(self, correlation_id: str) -> None: ...


class Callbacks(Protocol):
    """Resumes the durable waiters of a process: each suspended on a callback that this sends a
    message to (the durable wait mode; the classic mode has none)."""

    #: The largest message a callback carries, in bytes.
    max_message_bytes: int

    def send(self, callback_id: str, message: str) -> bool:
        """Deliver ``message`` to the callback. False when the callback was closed already (it timed
        out, or its execution ended): nobody waits on it any more. Raises
        :class:`~waitroom.domain.errors.CallbackNotSent` when it could not be delivered."""
        ...


class Metrics(Protocol):
    """What Waitroom counts about processes."""

    def process_started(self, process_key: str) -> None: ...

    def process_finished(self, record: ProcessRecord) -> None: ...

    def repaired(self, repair: str) -> None:
        """The reconciler settled a process the happy path could not (``repair`` says how)."""
        ...

    def stuck_processes(self, count: int) -> None: ...


@dataclass(frozen=True)
class Task:
    """A task the engine handed to this worker, locked to it until it reports (or its lock lapses):
    a Camunda 7 external task, a Camunda 8 job. What its handler reads."""

    id: str
    #: The topic it waits on (a Camunda 8 job's type).
    topic: str
    #: The Waitroom correlation id of a process started through Waitroom (a Camunda 8 business id).
    business_key: str | None
    process_instance_id: str | None
    #: The BPMN element it runs for, as the process model names it.
    activity_id: str | None
    #: The attempts the engine still allows, as the worker reported them last time; None for a task
    #: no worker has failed yet (Camunda 7), for which the worker starts from ``WORKER_MAX_RETRIES``.
    retries: int | None
    #: Its variables as Python values (JSON's, and ``datetime`` for an engine's dates): never an
    #: engine's typed values.
    variables: dict[str, Any]


@dataclass(frozen=True)
class TopicRequest:
    """What the worker asks of one topic when it takes tasks."""

    topic: str
    #: How long a task taken stays locked to this worker (a Camunda 8 job's timeout).
    lock_duration_ms: int
    #: Which variables to bring with each task; None brings them all.
    variables: tuple[str, ...] | None = None
    #: Bring the variables of the task's own scope (those of its input mappings when it has any, else
    #: the instance's) instead of the instance's: what the response step returns.
    local_variables: bool = False


class TaskQueue(Protocol):
    """The engine as the worker and its dispatcher see it: per topic, a queue of tasks waiting for a
    worker, each taken under a lock that lapses unless the worker reports or extends it.

    Named for what both engines have, not for either's words: Camunda 7 fetches and locks *external
    tasks* of a topic, Camunda 8 activates *jobs* of a type with a timeout; both are a queue of work
    handed out on a lease, and the steps of Waitroom's processes come out of it. One adapter value
    takes tasks for one worker: it carries that worker's id in the engine's locks.

    Failures are the ``Camunda*`` errors of the domain, as the :class:`Engine`'s are. A report or an
    extension the engine refuses because the task is gone or locked to another worker raises
    :class:`~waitroom.domain.errors.CamundaRejected` (or its :class:`CamundaNotFound`): the lock is
    lost for good. Any other :class:`~waitroom.domain.errors.WaitroomError` means the engine was out of
    reach, and the same call may succeed later.
    """

    def take(self, topics: Sequence[TopicRequest], *, max_tasks: int, wait_ms: int) -> list[Task]:
        """Lock up to ``max_tasks`` tasks of ``topics`` to this worker, oldest first among equals,
        waiting up to ``wait_ms`` for the first one to come (a long poll); none when none came."""
        ...

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        """Raise :class:`~waitroom.domain.errors.InvalidRequest` naming the first variable the engine
        cannot take: what a handler returns is checked before its step is recorded or reported."""
        ...

    def complete(self, task_id: str, variables: Mapping[str, Any]) -> None:
        """The task is done; ``variables`` go into its process."""
        ...

    def fail(self, task_id: str, *, message: str, details: str | None, retries: int, retry_in_ms: int) -> None:
        """The task failed: the engine hands it out again after ``retry_in_ms`` while ``retries`` is
        above 0, and raises an incident at 0."""
        ...

    def throw_bpmn_error(self, task_id: str, *, code: str, message: str, variables: Mapping[str, Any]) -> None:
        """The task ends with the BPMN error ``code``, which the process catches where it models it."""
        ...

    def extend_lock(self, task_id: str, duration_ms: int) -> None:
        """Keep the task locked to this worker for ``duration_ms`` from now."""
        ...

    def backlog(self, topic: str) -> int:
        """The tasks of ``topic`` a worker could take now (unlocked, with retries left)."""
        ...

    def busy_workers(self) -> int:
        """How many workers hold a lock on a task now."""
        ...
