"""What the service needs from the world, stated as the service needs it.

The adapters in :mod:`waitroom.adapters` implement these (the SQL store, the Camunda 7 REST client,
the wake channels, CloudWatch metrics); the unit tests implement them in memory. Nothing here names
a database, an HTTP library or AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    """The process engine (Camunda 7). Its failures are the ``Camunda*`` errors of the domain."""

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
