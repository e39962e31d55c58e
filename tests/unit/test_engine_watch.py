"""The engine watch: which processes an incident or an ended instance ends, and that each is acted on
once (the engine's side, and the worker thread that runs it, are in
tests/integration/test_local_stack_own_process.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from tests.support.fakes import Fakes, service_on_fakes
from waitroom.domain.process import NewProcess, Outcome, ProcessStatus
from waitroom.service.engine_watch import OVERLAP, READ_PER_POLL, EngineWatch
from waitroom.service.ports import Incident, InstanceHistory

LOOKBACK = timedelta(minutes=5)


@dataclass
class EngineFeed:
    """The engine's incidents and ended instances, as the watch reads them; records what was asked."""

    open: list[Incident] = field(default_factory=list)
    ended: list[InstanceHistory] = field(default_factory=list)
    asked: list[tuple[str, datetime, int]] = field(default_factory=list)

    def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
        self.asked.append(("incidents", moment, limit))
        return list(self.open)

    def instances_ended_after(self, moment: datetime, *, limit: int) -> list[InstanceHistory]:
        self.asked.append(("ended", moment, limit))
        return list(self.ended)


def watch_on(fakes: Fakes, feed: EngineFeed) -> EngineWatch:
    return EngineWatch(service=fakes.service, engine=feed, lookback=LOOKBACK, now=fakes.repository.now)  # type: ignore[arg-type]


def pending(fakes: Fakes, correlation_id: str, instance_id: str | None) -> None:
    fakes.repository.save(NewProcess(correlation_id, "expense-claim", "hash"))
    if instance_id is not None:
        fakes.repository.attach_instance(correlation_id, instance_id)


def incident(incident_id: str, business_key: str | None, instance_id: str = "i-1") -> Incident:
    return Incident("Task_Pay", "the bank refused", id=incident_id, instance_id=instance_id, business_key=business_key)


def test_an_incident_ends_its_pending_process_in_error_once() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-1", "i-1")
    feed = EngineFeed([incident("inc-1", "claim-1")])
    watch = watch_on(fakes, feed)

    assert watch.poll() == 1
    record = fakes.repository.get("claim-1")
    assert record is not None and record.status is ProcessStatus.ERROR
    assert record.error == {
        "code": "INCIDENT",
        "message": "incident in Task_Pay: the bank refused",
        "activityId": "Task_Pay",
    }
    assert fakes.waker.notified == ["claim-1"], "its waiters are woken, as by any end"
    assert watch.poll() == 0
    assert fakes.waker.notified == ["claim-1"], "an incident seen before is not acted on again"


def test_the_watch_asks_for_the_incidents_of_the_lookback() -> None:
    fakes = service_on_fakes()
    feed = EngineFeed()
    watch_on(fakes, feed).poll()
    since = fakes.repository.now() - LOOKBACK
    assert feed.asked == [("incidents", since, 500), ("ended", since, 500)]


def test_an_unconfirmed_start_is_ended_and_gets_its_instance() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-2", None)
    assert watch_on(fakes, EngineFeed([incident("inc-2", "claim-2", "i-9")])).poll() == 1
    record = fakes.repository.get("claim-2")
    assert record is not None and record.status is ProcessStatus.ERROR
    assert record.camunda_instance_id == "i-9"


def test_an_incident_of_another_instance_of_the_business_key_leaves_the_process_alone() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-3", "i-3")
    assert watch_on(fakes, EngineFeed([incident("inc-3", "claim-3", "i-other")])).poll() == 0
    record = fakes.repository.get("claim-3")
    assert record is not None and record.status is ProcessStatus.PENDING


def test_incidents_of_instances_without_a_waitroom_row_or_business_key_end_nothing() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-4", "i-4")
    feed = EngineFeed([incident("inc-4", None, "i-4"), incident("inc-5", "not-waitroom", "i-5")])
    assert watch_on(fakes, feed).poll() == 0
    record = fakes.repository.get("claim-4")
    assert record is not None and record.status is ProcessStatus.PENDING


def test_a_finished_process_keeps_its_outcome() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-5", "i-5")
    fakes.service.finish("claim-5", Outcome.done({"paid": True}))
    assert watch_on(fakes, EngineFeed([incident("inc-6", "claim-5", "i-5")])).poll() == 0
    record = fakes.repository.get("claim-5")
    assert record is not None and record.status is ProcessStatus.DONE


def test_an_incident_of_an_external_task_reads_as_the_worker_that_raised_it_says_it() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-6", "i-6")
    raised = Incident("Task_Pay", "HTTP 503", id="inc-7", instance_id="i-6", business_key="claim-6", topic="pay")
    assert watch_on(fakes, EngineFeed([raised])).poll() == 1
    record = fakes.repository.get("claim-6")
    assert record is not None
    assert record.error == {
        "code": "INCIDENT",
        "message": "step pay failed and has no retries left: HTTP 503",
        "topic": "pay",
    }


@pytest.mark.parametrize(
    ("state", "status", "code"),
    [
        ("COMPLETED", ProcessStatus.ERROR, "ENDED_WITHOUT_RESULT"),
        ("INTERNALLY_TERMINATED", ProcessStatus.ERROR, "TERMINATED"),
        ("EXTERNALLY_TERMINATED", ProcessStatus.CANCELLED, "CANCELLED"),
    ],
)
def test_an_instance_that_ended_without_a_result_ends_its_process(state: str, status: ProcessStatus, code: str) -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-7", "i-7")
    feed = EngineFeed(ended=[InstanceHistory("i-7", state, "by an operator", business_key="claim-7")])
    watch = watch_on(fakes, feed)
    assert watch.poll() == 1
    record = fakes.repository.get("claim-7")
    assert record is not None and record.status is status
    assert record.error is not None and record.error["code"] == code
    assert watch.poll() == 0


def test_a_running_instance_or_a_process_with_its_result_is_left_alone() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-8", "i-8")
    pending(fakes, "claim-9", "i-9")
    fakes.service.finish("claim-9", Outcome.done({"paid": True}))
    feed = EngineFeed(
        ended=[
            InstanceHistory("i-8", "ACTIVE", business_key="claim-8"),
            InstanceHistory("i-9", "COMPLETED", business_key="claim-9"),
        ]
    )
    assert watch_on(fakes, feed).poll() == 0
    assert [fakes.repository.get(key).status for key in ("claim-8", "claim-9")] == [  # type: ignore[union-attr]
        ProcessStatus.PENDING,
        ProcessStatus.DONE,
    ]


def test_a_storm_longer_than_a_page_is_read_on_from_the_newest_incident_read() -> None:
    fakes = service_on_fakes()
    start = fakes.repository.now() - timedelta(minutes=1)
    storm = [
        Incident(
            "Task",
            "down",
            id=f"inc-{n}",
            instance_id=f"i-{n}",
            business_key=f"c-{n}",
            raised_at=start + timedelta(seconds=n),
        )
        for n in range(READ_PER_POLL + 3)
    ]
    for n in range(READ_PER_POLL + 3):
        pending(fakes, f"c-{n}", f"i-{n}")

    class Paged(EngineFeed):
        def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
            self.asked.append(("incidents", moment, limit))
            return [incident for incident in storm if incident.raised_at and incident.raised_at > moment][:limit]

    feed = Paged()
    watch = watch_on(fakes, feed)
    assert watch.poll() == READ_PER_POLL
    assert watch.poll() == 3, "the next poll reads on, from the newest incident read less the overlap"
    newest_read = start + timedelta(seconds=READ_PER_POLL - 1)
    assert feed.asked[2] == ("incidents", newest_read - OVERLAP, READ_PER_POLL)
    assert fakes.repository.pending_count() == 0
