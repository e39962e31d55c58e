"""The engine watch: which processes an incident or an ended instance ends, and that each is acted on
once (the engine's side, and the worker thread that runs it, are in
tests/integration/test_local_stack_own_process.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.fakes import Fakes, service_on_fakes
from waitroom.domain.errors import CamundaUnavailable
from waitroom.domain.process import NewProcess, Outcome, ProcessStatus
from waitroom.service.engine_watch import OVERLAP, READ_PER_POLL, EngineWatch, engine_ending
from waitroom.service.ports import Incident, InstanceHistory, ScopeEnd

LOOKBACK = timedelta(minutes=5)


@dataclass
class EngineFeed:
    """The engine's incidents and ended instances, as the watch reads them; records what was asked."""

    open: list[Incident] = field(default_factory=list)
    ended: list[InstanceHistory] = field(default_factory=list)
    asked: list[tuple[str, datetime, int]] = field(default_factory=list)
    #: How each instance ended, and its final variables (read only for a COMPLETED one).
    ends: dict[str, list[ScopeEnd]] = field(default_factory=dict)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    reads: list[tuple[str, str]] = field(default_factory=list)
    #: Raised by the next read of how an instance ended (the engine out of reach).
    fail_read: Exception | None = None

    def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
        self.asked.append(("incidents", moment, limit))
        return list(self.open)

    def instances_ended_after(self, moment: datetime, *, limit: int) -> list[InstanceHistory]:
        self.asked.append(("ended", moment, limit))
        return list(self.ended)

    def scope_ends(self, instance_id: str) -> list[ScopeEnd]:
        self.reads.append(("ends", instance_id))
        if self.fail_read is not None:
            failure, self.fail_read = self.fail_read, None
            raise failure
        return list(self.ends.get(instance_id, []))

    def final_variables(self, instance_id: str) -> dict[str, Any]:
        self.reads.append(("variables", instance_id))
        return dict(self.final.get(instance_id, {}))


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


NONE_END = ScopeEnd("End_Paid", "noneEndEvent")


@pytest.mark.parametrize(
    ("state", "status", "code"),
    [
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
    assert feed.reads == [], "only a COMPLETED instance is read further"


def test_an_instance_that_ended_plainly_answers_done_with_its_final_variables() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-10", "i-10")
    feed = EngineFeed(
        ended=[InstanceHistory("i-10", "COMPLETED", business_key="claim-10")],
        ends={"i-10": [NONE_END]},
        final={"i-10": {"approved": True, "amount": 120.5}},
    )
    watch = watch_on(fakes, feed)
    assert watch.poll() == 1
    record = fakes.repository.get("claim-10")
    assert record is not None and record.status is ProcessStatus.DONE
    assert record.payload == {"approved": True, "amount": 120.5}
    assert record.error is None
    assert fakes.waker.notified == ["claim-10"]
    assert feed.reads == [("ends", "i-10"), ("variables", "i-10")], "two reads for a plain end"
    assert watch.poll() == 0
    assert len(feed.reads) == 2, "an end acted on is not read again"


@pytest.mark.parametrize(
    ("ends", "code", "error_fields"),
    [
        ([ScopeEnd("End_Stop", "terminateEndEvent")], "TERMINATED", {"activityId": "End_Stop"}),
        (
            [ScopeEnd("End_Rejected", "errorEndEvent")],
            "ENDED_WITHOUT_RESULT",
            {"activityId": "End_Rejected", "activityType": "errorEndEvent"},
        ),
        (
            [ScopeEnd("Task_Pay", "serviceTask")],
            "ENDED_WITHOUT_RESULT",
            {"activityId": "Task_Pay", "activityType": "serviceTask"},
        ),
        # Parallel paths: one reached a plain end, the other stopped.
        ([NONE_END, ScopeEnd("End_Stop", "terminateEndEvent")], "TERMINATED", {"activityId": "End_Stop"}),
        (
            [NONE_END, ScopeEnd("Task_Pay", "serviceTask")],
            "ENDED_WITHOUT_RESULT",
            {"activityId": "Task_Pay", "activityType": "serviceTask"},
        ),
        ([], "ENDED_WITHOUT_RESULT", {}),
    ],
)
def test_a_completed_instance_that_did_not_end_plainly_is_an_error(
    ends: list[ScopeEnd], code: str, error_fields: dict[str, str]
) -> None:
    feed = EngineFeed(ends={"i-11": ends}, final={"i-11": {"approved": True}})
    ending = engine_ending(InstanceHistory("i-11", "COMPLETED"), feed)  # type: ignore[arg-type]
    assert ending is not None
    repair, outcome = ending
    assert (repair, outcome.status, outcome.payload) == (code, ProcessStatus.ERROR, None)
    assert outcome.error is not None
    assert {key: value for key, value in outcome.error.items() if key != "message"} == {"code": code, **error_fields}
    assert ("variables", "i-11") not in feed.reads, "the variables are read for a plain end only"


def test_a_plain_end_whose_history_keeps_no_variables_answers_done_with_an_empty_result() -> None:
    feed = EngineFeed(ends={"i-12": [NONE_END, ScopeEnd("End_Notified", "messageEndEvent")]})
    ending = engine_ending(InstanceHistory("i-12", "COMPLETED"), feed)  # type: ignore[arg-type]
    assert ending is not None
    assert ending[1] == Outcome.done({})


def test_an_end_whose_reading_failed_is_read_again_at_the_next_poll() -> None:
    fakes = service_on_fakes()
    pending(fakes, "claim-13", "i-13")
    feed = EngineFeed(
        ended=[InstanceHistory("i-13", "COMPLETED", business_key="claim-13")],
        ends={"i-13": [NONE_END]},
        fail_read=CamundaUnavailable("Camunda is out of reach"),
    )
    watch = watch_on(fakes, feed)
    with pytest.raises(CamundaUnavailable):
        watch.poll()
    record = fakes.repository.get("claim-13")
    assert record is not None and record.status is ProcessStatus.PENDING
    assert watch.poll() == 1
    record = fakes.repository.get("claim-13")
    assert record is not None and record.status is ProcessStatus.DONE


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
    assert feed.reads == [], "the engine is not asked how an instance ended whose process has its result"


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
