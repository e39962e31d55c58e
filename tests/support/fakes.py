"""In-memory fakes of the service's ports (waitroom/service/ports.py), for unit tests of the service.

They keep the ports' promises (one winner among racing finishes, a finished row never changes,
write-once instance ids) in the simplest way, so that a unit test checks the service's logic in
milliseconds; the real adapters are checked against real databases and a real engine elsewhere.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from waitroom.domain.errors import CamundaNotFound, InvalidRequest
from waitroom.domain.process import ListQuery, NewProcess, Outcome, ProcessRecord, ProcessStatus, StepEvent
from waitroom.service.policies import StartPolicy, WaitPolicy
from waitroom.service.ports import Incident, InstanceHistory, ScopeEnd, Subscription
from waitroom.service.processes import ProcessService
from waitroom.service.waiting import PollSchedule

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds that move only when told (a pause moves them by its length)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InMemoryRepository:
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._rows: dict[str, ProcessRecord] = {}
        self._steps: dict[str, list[StepEvent]] = {}
        self._guard = threading.Lock()
        self.polls = 0
        self.durations_ms: dict[str, list[float]] = {}
        """What :meth:`recent_durations_ms` answers, by process key (a test sets it)."""
        self.waiters: dict[str, list[str]] = {}

    def _time(self) -> datetime:
        return EPOCH + timedelta(seconds=self._clock())

    def now(self) -> datetime:
        """The wall clock of the rows: EPOCH plus the fake clock."""
        return self._time()

    def save(self, new: NewProcess) -> tuple[ProcessRecord, bool]:
        with self._guard:
            if new.correlation_id in self._rows:
                return self._rows[new.correlation_id], False
            now = self._time()
            record = ProcessRecord(
                correlation_id=new.correlation_id,
                status=ProcessStatus.PENDING,
                process_key=new.process_key,
                payload=None,
                error=None,
                started_at=now,
                updated_at=now,
                request_hash=new.request_hash,
                owner=new.owner,
            )
            self._rows[new.correlation_id] = record
            return record, True

    def get(self, correlation_id: str) -> ProcessRecord | None:
        return self._rows.get(correlation_id)

    def poll(self, correlation_id: str) -> ProcessRecord | None:
        self.polls += 1
        return self.get(correlation_id)

    def remove(self, correlation_id: str) -> bool:
        with self._guard:
            self._steps.pop(correlation_id, None)
            return self._rows.pop(correlation_id, None) is not None

    def list_page(self, query: ListQuery) -> list[ProcessRecord]:
        rows = sorted(self._rows.values(), key=lambda row: (row.started_at, row.correlation_id), reverse=True)
        if query.owner is not None:
            rows = [row for row in rows if row.owner == query.owner]
        if query.status is not None:
            rows = [row for row in rows if row.status is query.status]
        if query.after is not None:
            rows = [row for row in rows if (row.started_at, row.correlation_id) < query.after]
        return rows[: query.limit]

    def pending_started_before(self, cutoff: datetime, *, limit: int) -> list[ProcessRecord]:
        pending = [
            row for row in self._rows.values() if row.status is ProcessStatus.PENDING and row.started_at < cutoff
        ]
        return sorted(pending, key=lambda row: row.started_at)[:limit]

    def cancelled_without_instance(
        self, *, started_after: datetime, started_before: datetime, limit: int
    ) -> list[ProcessRecord]:
        cancelled = [
            row
            for row in self._rows.values()
            if row.status is ProcessStatus.CANCELLED
            and row.camunda_instance_id is None
            and started_after <= row.started_at < started_before
        ]
        return sorted(cancelled, key=lambda row: row.started_at)[:limit]

    def purge_finished(self, *, updated_before: datetime, batch: int) -> int:
        old = [row.correlation_id for row in self._rows.values() if row.status.is_final][:batch]
        for correlation_id in old:
            self.remove(correlation_id)
        return len(old)

    def recent_durations_ms(self, process_key: str, *, limit: int) -> list[float]:
        return self.durations_ms.get(process_key, [])[:limit]

    def record_step(self, event: StepEvent) -> bool:
        with self._guard:
            if event.correlation_id not in self._rows:
                return False
            steps = self._steps.setdefault(event.correlation_id, [])
            if event.token is None or all(step.token != event.token for step in steps):
                steps.append(event)
            return True

    def steps(self, correlation_id: str) -> list[StepEvent]:
        return list(self._steps.get(correlation_id, []))

    def attach_instance(self, correlation_id: str, instance_id: str) -> None:
        with self._guard:
            row = self._rows.get(correlation_id)
            if row is not None and row.camunda_instance_id is None:
                self._rows[correlation_id] = replace(row, camunda_instance_id=instance_id)

    def discard_unstarted(self, correlation_id: str) -> bool:
        with self._guard:
            row = self._rows.get(correlation_id)
            if row is None or row.status is not ProcessStatus.PENDING or row.camunda_instance_id is not None:
                return False
            del self._rows[correlation_id]
            return True

    def replace_unstarted(self, new: NewProcess, ended: ProcessRecord) -> tuple[ProcessRecord, bool]:
        with self._guard:
            row = self._rows.get(new.correlation_id)
            if row is not None:
                if row != ended or not ended.never_started:
                    return row, False
                del self._rows[new.correlation_id]
        return self.save(new)

    def finish(self, correlation_id: str, outcome: Outcome, *, instance_id: str | None = None) -> ProcessRecord | None:
        with self._guard:
            row = self._rows.get(correlation_id)
            if row is None or row.status is not ProcessStatus.PENDING:
                return None
            now = self._time()
            finished = replace(
                row,
                status=outcome.status,
                payload=outcome.payload,
                error=outcome.error,
                camunda_instance_id=row.camunda_instance_id or instance_id,
                updated_at=now,
                completed_at=now,
            )
            self._rows[correlation_id] = finished
            return finished

    def has_pending(self, correlation_id: str) -> bool:
        row = self._rows.get(correlation_id)
        return row is not None and row.status is ProcessStatus.PENDING

    def pending_count(self) -> int:
        return sum(1 for row in self._rows.values() if row.status is ProcessStatus.PENDING)

    def add_waiter(self, correlation_id: str, callback_id: str) -> None:
        with self._guard:
            self.waiters.setdefault(correlation_id, []).append(callback_id)

    def take_waiters(self, correlation_id: str) -> list[str]:
        with self._guard:
            return self.waiters.pop(correlation_id, [])

    def drop_waiter(self, correlation_id: str, callback_id: str) -> None:
        with self._guard:
            waiting = self.waiters.get(correlation_id, [])
            if callback_id in waiting:
                waiting.remove(callback_id)


@dataclass
class FakeEngine:
    """An engine that starts instances in memory; ``fail_start`` makes the next start raise it."""

    instances: dict[str, InstanceHistory] = field(default_factory=dict)
    business_keys: dict[str, str] = field(default_factory=dict)
    starts: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    open_incidents: dict[str, list[Incident]] = field(default_factory=dict)
    #: How each ended instance ended (its scope's ends) and its final variables; ``history_reads``
    #: records the instances these were read for.
    ends: dict[str, list[ScopeEnd]] = field(default_factory=dict)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    history_reads: list[tuple[str, str]] = field(default_factory=list)
    fail_start: Exception | None = None
    #: Whether a start that raised had created its instance all the same (an answer lost on the way back).
    started_before_failing: bool = False
    #: Called with the business key after the instance exists and before the start answers.
    before_answer: Callable[[str], object] | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        for name, value in variables.items():
            if isinstance(value, float) and math.isnan(value):
                raise InvalidRequest(f"variable {name!r} is NaN", details=[{"field": f"variables.{name}"}])

    def start(self, process_key: str, *, business_key: str, variables: Mapping[str, Any]) -> str:
        if self.fail_start is not None:
            failure, self.fail_start = self.fail_start, None
            if self.started_before_failing:
                self._create(process_key, business_key, variables)
            raise failure
        instance_id = self._create(process_key, business_key, variables)
        if self.before_answer is not None:
            self.before_answer(business_key)
        return instance_id

    def _create(self, process_key: str, business_key: str, variables: Mapping[str, Any]) -> str:
        instance_id = f"instance-{next(self._ids)}"
        self.starts.append((process_key, business_key, dict(variables)))
        self.instances[instance_id] = InstanceHistory(instance_id, "ACTIVE")
        self.business_keys[instance_id] = business_key
        return instance_id

    def find_by_business_key(self, business_key: str, *, process_key: str | None) -> list[InstanceHistory]:
        return [self.instances[iid] for iid, key in self.business_keys.items() if key == business_key]

    def history(self, instance_id: str) -> InstanceHistory | None:
        return self.instances.get(instance_id)

    def delete(self, instance_id: str) -> bool:
        found = self.instances.get(instance_id)
        if found is None:
            raise CamundaNotFound(f"no instance {instance_id}")
        if found.state != "ACTIVE":
            return False
        self.deleted.append(instance_id)
        self.instances[instance_id] = InstanceHistory(instance_id, "EXTERNALLY_TERMINATED", "deleted")
        return True

    def incidents(self, instance_id: str) -> list[Incident]:
        return self.open_incidents.get(instance_id, [])

    def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
        return [incident for found in self.open_incidents.values() for incident in found][:limit]

    def instances_ended_after(self, moment: datetime, *, limit: int) -> list[InstanceHistory]:
        ended = [instance for instance in self.instances.values() if instance.state not in {"ACTIVE", "SUSPENDED"}]
        return ended[:limit]

    def scope_ends(self, instance_id: str) -> list[ScopeEnd]:
        self.history_reads.append(("ends", instance_id))
        return list(self.ends.get(instance_id, []))

    def final_variables(self, instance_id: str) -> dict[str, Any]:
        self.history_reads.append(("variables", instance_id))
        return dict(self.final.get(instance_id, {}))


class ScriptedWaker:
    """A waker whose pauses move the fake clock; ``on_pause`` runs at each pause (another function
    finishing the process meanwhile, say). Notifications are recorded."""

    name = "scripted"

    def __init__(self, clock: FakeClock, *, pushes: bool = False) -> None:
        self._clock = clock
        self.pushes = pushes
        self.notified: list[str] = []
        self.on_pause: Callable[[], object] | None = None

    @contextmanager
    def subscribe(self, correlation_id: str) -> Iterator[Subscription]:
        yield self

    def wait(self, timeout_s: float) -> bool:
        self._clock.advance(timeout_s)
        if self.on_pause is not None:
            self.on_pause()
        return False

    def notify(self, correlation_id: str) -> None:
        self.notified.append(correlation_id)


@dataclass
class CountedMetrics:
    started: list[str] = field(default_factory=list)
    finished: list[ProcessRecord] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    stuck: list[int] = field(default_factory=list)

    def process_started(self, process_key: str) -> None:
        self.started.append(process_key)

    def process_finished(self, record: ProcessRecord) -> None:
        self.finished.append(record)

    def repaired(self, repair: str) -> None:
        self.repairs.append(repair)

    def stuck_processes(self, count: int) -> None:
        self.stuck.append(count)


@dataclass
class Fakes:
    """A service on fakes, and the fakes, for a test to script and inspect."""

    clock: FakeClock
    repository: InMemoryRepository
    engine: FakeEngine
    waker: ScriptedWaker
    metrics: CountedMetrics
    service: ProcessService


def service_on_fakes(
    *,
    allowed: frozenset[str] = frozenset({"*"}),
    engine: FakeEngine | None = None,
    make_waker: Callable[[FakeClock], ScriptedWaker] = ScriptedWaker,
) -> Fakes:
    """A service on fresh fakes; ``engine``, and the waker ``make_waker`` makes on the fakes' clock,
    replace the plain ones."""
    clock = FakeClock()
    repository = InMemoryRepository(clock)
    engine = engine or FakeEngine()
    waker = make_waker(clock)
    metrics = CountedMetrics()
    service = ProcessService(
        repository=repository,
        engine=engine,
        waker=waker,
        metrics=metrics,
        start_policy=StartPolicy(allowed),
        wait_policy=WaitPolicy(
            poll_schedule=PollSchedule.parse("seed"),
            push_fallback_poll_ms=5_000,
            adaptive_history=0,
        ),
        clock=clock,
        wall_clock=repository.now,
    )
    return Fakes(clock, repository, engine, waker, metrics, service)
