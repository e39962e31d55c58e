"""The service's logic on in-memory fakes of its ports: start, join, conflicts, every way a process
ends, cancel races and unconfirmed starts. The same paths run on real databases and a real engine in
tests/integration; here they run in milliseconds, with the clock in the test's hands."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.fakes import Fakes, service_on_fakes
from waitroom.domain.errors import (
    AlreadyFinished,
    CamundaNoAnswer,
    CamundaNotFound,
    CamundaStartUnconfirmed,
    CamundaUnavailable,
    CorrelationConflict,
    InvalidRequest,
    ProcessDefinitionNotFound,
    ProcessKeyNotAllowed,
    ProcessNotFound,
    ProcessPending,
    StartFailed,
)
from waitroom.domain.process import Caller, ListQuery, Outcome, ProcessRecord, ProcessStatus, StepEvent, StepOutcome
from waitroom.entrypoints.http.retry_after import retry_after_s
from waitroom.service.policies import ReconcilePolicy
from waitroom.service.ports import Incident, InstanceHistory
from waitroom.service.reconciler import Reconciler

ALICE = Caller("alice")
USER = {"userId": "u-1"}


@pytest.fixture
def fakes() -> Fakes:
    return service_on_fakes()


def start(fakes: Fakes, correlation_id: str = "p-1", *, caller: Caller = ALICE, wait_ms: int = 0, **kw: object):  # type: ignore[no-untyped-def]
    """A start as the route makes it, granted ``wait_ms`` (0: ``Prefer: respond-async``)."""
    return fakes.service.start(
        str(kw.get("process_key", "onboard-user")),
        correlation_id=correlation_id,
        variables=kw.get("variables", USER),  # type: ignore[arg-type]
        caller=caller,
        wait_ms=wait_ms,
    )


# --- start --------------------------------------------------------------------------------------


def test_a_start_saves_the_row_starts_one_instance_and_attaches_it(fakes: Fakes) -> None:
    record = start(fakes)
    assert record.status is ProcessStatus.PENDING
    assert fakes.engine.starts == [("onboard-user", "p-1", USER)]
    assert record.camunda_instance_id == "instance-1"
    assert record.owner == "alice"
    assert fakes.metrics.started == ["onboard-user"]


def test_a_start_waits_until_the_process_ends_and_answers_with_it(fakes: Fakes) -> None:
    fakes.waker.on_pause = lambda: fakes.service.finish("p-1", Outcome.done({"ok": True}))
    record = start(fakes, wait_ms=2_000)
    assert (record.status, record.payload) == (ProcessStatus.DONE, {"ok": True})
    assert fakes.repository.polls == 2, "one read before the pause, one after the finish"


def test_a_start_answers_pending_when_its_wait_runs_out(fakes: Fakes) -> None:
    record = start(fakes, wait_ms=2_000)
    assert record.status is ProcessStatus.PENDING
    assert fakes.clock() == pytest.approx(2.0), "the granted wait, and not a moment more"


def test_the_same_start_again_joins_the_process(fakes: Fakes) -> None:
    start(fakes)
    again = start(fakes)
    assert again.correlation_id == "p-1"
    assert len(fakes.engine.starts) == 1, "never a second instance"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"variables": {"userId": "someone else"}}, "variables"),
        ({"process_key": "other-process"}, "processKey"),
        ({"caller": Caller("bob")}, "correlationId"),
    ],
)
def test_a_different_start_under_a_used_id_is_a_conflict(fakes: Fakes, change: dict[str, object], field: str) -> None:
    start(fakes)
    with pytest.raises(CorrelationConflict) as conflict:
        start(fakes, **change)  # type: ignore[arg-type]
    assert conflict.value.details[0]["field"] == field
    assert len(fakes.engine.starts) == 1


def test_a_key_not_allowed_is_refused_before_anything_is_saved() -> None:
    fakes = service_on_fakes(allowed=frozenset({"onboard-user"}))
    with pytest.raises(ProcessKeyNotAllowed):
        start(fakes, process_key="payroll")
    assert fakes.repository.get("p-1") is None
    assert fakes.engine.starts == []


def test_variables_the_engine_cannot_take_are_refused_before_anything_is_saved(fakes: Fakes) -> None:
    with pytest.raises(InvalidRequest):
        start(fakes, variables={"n": float("nan")})
    assert fakes.repository.get("p-1") is None


def test_an_unknown_definition_is_not_found_and_leaves_no_row_so_the_id_can_start_again(fakes: Fakes) -> None:
    fakes.engine.fail_start = CamundaNotFound("no definition")
    with pytest.raises(ProcessDefinitionNotFound):
        start(fakes)
    assert fakes.repository.get("p-1") is None
    assert start(fakes).status is ProcessStatus.PENDING


def test_an_engine_out_of_reach_leaves_no_row(fakes: Fakes) -> None:
    fakes.engine.fail_start = CamundaUnavailable("down")
    with pytest.raises(CamundaUnavailable):
        start(fakes)
    assert fakes.repository.get("p-1") is None


def test_an_unanswered_start_that_did_start_is_attached(fakes: Fakes) -> None:
    fakes.engine.fail_start, fakes.engine.started_before_failing = CamundaNoAnswer("timeout"), True
    record = start(fakes)
    assert record.camunda_instance_id == "instance-1", "found by its business key"


def test_an_unanswered_start_not_found_stays_pending_for_the_reconciler(fakes: Fakes) -> None:
    fakes.engine.fail_start = CamundaNoAnswer("timeout")
    with pytest.raises(CamundaStartUnconfirmed):
        start(fakes)
    record = fakes.repository.get("p-1")
    assert record is not None and record.status is ProcessStatus.PENDING and record.camunda_instance_id is None


def test_a_start_that_certainly_failed_wakes_whoever_joined_it(fakes: Fakes) -> None:
    # A request that joined the start waits on a push channel: without a wake-up it would read the
    # row gone only at its next fallback read.
    fakes.engine.fail_start = CamundaUnavailable("down")
    with pytest.raises(CamundaUnavailable):
        start(fakes)
    assert fakes.repository.get("p-1") is None
    assert fakes.waker.notified == ["p-1"]


def unconfirmed_start(fakes: Fakes) -> None:
    """A start that got no answer while the engine was stopped, and whose instance the engine then
    created once it ran again: a PENDING row with no instance, and an instance under its id."""
    fakes.engine.fail_start = CamundaNoAnswer("timeout")
    with pytest.raises(CamundaStartUnconfirmed):
        start(fakes)
    fakes.engine.start("onboard-user", business_key="p-1", variables=USER)


def test_a_cancel_after_an_unconfirmed_start_deletes_the_instance_found_by_its_business_key(fakes: Fakes) -> None:
    unconfirmed_start(fakes)
    cancelled = fakes.service.cancel("p-1", reason=None, caller=ALICE)
    assert cancelled.status is ProcessStatus.CANCELLED
    assert fakes.engine.deleted == ["instance-1"]
    assert cancelled.camunda_instance_id == "instance-1", "recorded with the cancel"


def test_a_process_ended_by_its_instance_records_the_instance_its_unconfirmed_start_could_not(
    fakes: Fakes,
) -> None:
    unconfirmed_start(fakes)
    finished = fakes.service.finish("p-1", Outcome.done({"ok": True}), instance_id="instance-1")
    assert finished is not None and finished.camunda_instance_id == "instance-1"


def test_a_row_that_vanishes_while_its_start_waits_is_a_failed_start(fakes: Fakes) -> None:
    fakes.waker.on_pause = lambda: fakes.repository.remove("p-1")
    with pytest.raises(StartFailed):
        start(fakes, wait_ms=2_000)


def test_a_cancel_before_the_instance_was_attached_still_ends_the_instance(fakes: Fakes) -> None:
    fakes.engine.before_answer = lambda key: fakes.service.cancel(key, reason=None, caller=ALICE)
    record = start(fakes)
    assert record.status is ProcessStatus.CANCELLED
    assert fakes.engine.deleted == ["instance-1"], "the start deletes what the cancel could not see"


# --- ending a process -------------------------------------------------------------------------------


def test_finish_ends_a_pending_process_once_wakes_its_waiters_and_counts_it(fakes: Fakes) -> None:
    start(fakes)
    first = fakes.service.finish("p-1", Outcome.done(1))
    second = fakes.service.finish("p-1", Outcome.failed({"message": "late"}))
    assert first is not None and first.status is ProcessStatus.DONE
    assert second is None, "a finished process never changes"
    assert fakes.waker.notified == ["p-1"]
    assert [record.status for record in fakes.metrics.finished] == [ProcessStatus.DONE]


def test_a_finish_that_finds_its_own_outcome_already_stored_announces_it_again(fakes: Fakes) -> None:
    # The store retried a finish whose first attempt committed and lost its answer: nobody announced.
    start(fakes)
    assert fakes.repository.finish("p-1", Outcome.done({"a": 1})) is not None
    assert fakes.service.finish("p-1", Outcome.done({"a": 1})) is None
    assert fakes.waker.notified == ["p-1"]
    assert fakes.metrics.finished == [], "counted once, by whoever ended it"


def test_finish_of_an_unknown_process_does_nothing(fakes: Fakes) -> None:
    assert fakes.service.finish("ghost", Outcome.done()) is None
    assert fakes.waker.notified == []


def test_complete_repeated_with_the_same_outcome_is_a_success_and_with_another_a_conflict(fakes: Fakes) -> None:
    start(fakes)
    done = fakes.service.complete("p-1", Outcome.done({"a": 1}))
    assert fakes.service.complete("p-1", Outcome.done({"a": 1})) == done
    with pytest.raises(AlreadyFinished):
        fakes.service.complete("p-1", Outcome.done({"a": 2}))
    with pytest.raises(AlreadyFinished):
        fakes.service.complete("p-1", Outcome.failed({"message": "no"}))
    with pytest.raises(ProcessNotFound):
        fakes.service.complete("ghost", Outcome.done())


def test_cancel_deletes_the_instance_then_ends_the_process_cancelled(fakes: Fakes) -> None:
    start(fakes)
    cancelled = fakes.service.cancel("p-1", reason="changed my mind", caller=ALICE)
    assert cancelled.status is ProcessStatus.CANCELLED
    assert cancelled.error == {"code": "CANCELLED", "message": "changed my mind"}
    assert fakes.engine.deleted == ["instance-1"]
    assert fakes.service.cancel("p-1", reason=None, caller=ALICE) == cancelled, "twice is a success"


def test_cancel_of_a_finished_process_or_of_another_callers_is_refused(fakes: Fakes) -> None:
    start(fakes)
    with pytest.raises(ProcessNotFound):
        fakes.service.cancel("p-1", reason=None, caller=Caller("bob"))
    fakes.service.finish("p-1", Outcome.done())
    with pytest.raises(AlreadyFinished):
        fakes.service.cancel("p-1", reason=None, caller=ALICE)
    assert fakes.engine.deleted == []


def test_a_process_that_ends_while_its_cancel_deletes_the_instance_keeps_its_end(fakes: Fakes) -> None:
    start(fakes)
    deleting = fakes.engine.delete

    def delete_while_the_last_step_reports(instance_id: str) -> bool:
        fakes.service.finish("p-1", Outcome.done("first"))
        return deleting(instance_id)

    fakes.engine.delete = delete_while_the_last_step_reports  # type: ignore[method-assign]
    with pytest.raises(AlreadyFinished):
        fakes.service.cancel("p-1", reason=None, caller=ALICE)
    record = fakes.repository.get("p-1")
    assert record is not None and record.payload == "first"


def test_an_engine_out_of_reach_leaves_a_cancelled_process_pending(fakes: Fakes) -> None:
    start(fakes)

    def unreachable(instance_id: str) -> bool:
        raise CamundaUnavailable("down")

    fakes.engine.delete = unreachable  # type: ignore[method-assign]
    with pytest.raises(CamundaUnavailable):
        fakes.service.cancel("p-1", reason=None, caller=ALICE)
    assert fakes.service.is_pending("p-1")


def test_fail_all_pending_announces_a_process_whose_ending_lost_its_answer(fakes: Fakes) -> None:
    start(fakes)
    finishing = fakes.repository.finish

    def answer_lost(correlation_id: str, outcome: Outcome, *, instance_id: str | None = None) -> None:
        finishing(correlation_id, outcome, instance_id=instance_id)  # committed; the retry ends nothing

    fakes.repository.finish = answer_lost  # type: ignore[method-assign]
    fakes.service.fail_all_pending(code="FAILED_BY_OPERATOR", reason="reset")
    assert fakes.waker.notified == ["p-1"]


def test_fail_all_pending_leaves_a_process_started_while_it_runs(fakes: Fakes) -> None:
    for index in range(3):
        fakes.clock.advance(1)
        start(fakes, f"p-{index}")
    finishing = fakes.repository.finish

    def a_start_meanwhile(
        correlation_id: str, outcome: Outcome, *, instance_id: str | None = None
    ) -> ProcessRecord | None:
        if fakes.repository.get("late") is None:
            fakes.clock.advance(1)
            start(fakes, "late")
        return finishing(correlation_id, outcome, instance_id=instance_id)

    fakes.repository.finish = a_start_meanwhile  # type: ignore[method-assign]
    assert fakes.service.fail_all_pending(code="FAILED_BY_OPERATOR", reason="reset") == 3
    assert [fakes.service.is_pending(cid) for cid in ["p-0", "p-1", "p-2", "late"]] == [False, False, False, True]


def test_fail_all_pending_ends_each_pending_process_and_wakes_each(fakes: Fakes) -> None:
    for index in range(3):
        start(fakes, f"p-{index}")
    fakes.service.finish("p-0", Outcome.done())
    assert fakes.service.fail_all_pending(code="FAILED_BY_OPERATOR", reason="reset") == 2
    assert sorted(fakes.waker.notified) == ["p-0", "p-1", "p-2"]
    failed = fakes.repository.get("p-2")
    assert failed is not None and failed.error == {"code": "FAILED_BY_OPERATOR", "message": "reset"}
    assert fakes.service.pending_count() == 0


# --- reading -----------------------------------------------------------------------------------------


def test_status_reads_the_process_and_its_steps_for_its_owner_only(fakes: Fakes) -> None:
    start(fakes)
    fakes.service.record_step(StepEvent("p-1", "t.one", "Task_1", StepOutcome.COMPLETED, 5))
    state = fakes.service.status("p-1", caller=ALICE, history=True)
    assert state.record.correlation_id == "p-1"
    assert [step.topic for step in state.steps or []] == ["t.one"]
    assert fakes.service.status("p-1", caller=ALICE).steps is None
    with pytest.raises(ProcessNotFound):
        fakes.service.status("p-1", caller=Caller("bob"))
    assert fakes.service.status("p-1", caller=Caller("bob", admin=True)).record.owner == "alice"


def test_status_with_a_wait_waits_like_a_start(fakes: Fakes) -> None:
    start(fakes)
    fakes.waker.on_pause = lambda: fakes.service.finish("p-1", Outcome.done())
    assert fakes.service.status("p-1", caller=ALICE, wait_ms=5_000).record.status is ProcessStatus.DONE


def test_pages_follow_each_other_to_the_last_and_show_a_caller_only_theirs(fakes: Fakes) -> None:
    for index in range(5):
        fakes.clock.advance(1)
        start(fakes, f"a-{index}")
    start(fakes, "b-0", caller=Caller("bob"))
    pages = list(fakes.service.pages(ListQuery(limit=2), caller=ALICE))
    assert [[record.correlation_id for record in page.records] for page in pages] == [
        ["a-4", "a-3"],
        ["a-2", "a-1"],
        ["a-0"],
    ]
    assert pages[-1].last is None
    everyone = fakes.service.list_page(ListQuery(limit=10), caller=None)
    assert len(everyone.records) == 6


def test_delete_forgets_a_finished_process_and_refuses_a_pending_one(fakes: Fakes) -> None:
    start(fakes)
    with pytest.raises(ProcessPending):
        fakes.service.delete("p-1")
    fakes.service.finish("p-1", Outcome.done())
    assert fakes.service.delete("p-1")
    assert not fakes.service.delete("p-1")


# --- the reconciler ---------------------------------------------------------------------------------


def reconciler(fakes: Fakes, **policy: object) -> Reconciler:
    defaults: dict[str, object] = {
        "min_age": timedelta(0),
        "batch": 100,
        "max_process_age": timedelta(days=1),
        "stuck_after": timedelta(minutes=15),
    }
    later = fakes.repository.get("p-1")
    assert later is not None
    now = later.started_at + timedelta(seconds=1)
    return Reconciler(
        service=fakes.service,
        engine=fakes.engine,
        metrics=fakes.metrics,
        policy=ReconcilePolicy(**{**defaults, **policy}),  # type: ignore[arg-type]
        now=lambda: now,
    )


def test_the_reconciler_ends_through_finish_a_process_whose_instance_was_deleted(fakes: Fakes) -> None:
    start(fakes)
    fakes.engine.instances["instance-1"] = InstanceHistory("instance-1", "EXTERNALLY_TERMINATED", "by ops")
    summary = reconciler(fakes).run()
    assert summary.cancelled == 1
    record = fakes.repository.get("p-1")
    assert record is not None and record.status is ProcessStatus.CANCELLED
    assert fakes.waker.notified == ["p-1"], "its waiters wake, as for any finish"
    assert fakes.metrics.repairs == ["EXTERNALLY_TERMINATED"]


def test_the_reconciler_fails_a_process_with_an_incident_and_leaves_a_healthy_one(fakes: Fakes) -> None:
    start(fakes)
    assert reconciler(fakes).run().untouched == 1
    fakes.engine.open_incidents["instance-1"] = [Incident("Task_X", "directory down")]
    assert reconciler(fakes).run().failed == 1
    record = fakes.repository.get("p-1")
    assert record is not None and record.error is not None
    assert record.error["code"] == "INCIDENT" and "directory down" in record.error["message"]


def test_the_reconciler_deletes_the_instance_of_a_process_cancelled_before_its_start_was_confirmed(
    fakes: Fakes,
) -> None:
    fakes.engine.fail_start = CamundaNoAnswer("timeout")
    with pytest.raises(CamundaStartUnconfirmed):
        start(fakes)
    fakes.service.cancel("p-1", reason=None, caller=ALICE)
    assert fakes.engine.deleted == [], "the cancel found no instance: the start had not reached the engine yet"
    fakes.engine.start("onboard-user", business_key="p-1", variables=USER)  # and then it did
    summary = reconciler(fakes).run()
    assert (summary.examined, summary.deleted) == (0, 1)
    assert fakes.engine.deleted == ["instance-1"]
    record = fakes.repository.get("p-1")
    assert record is not None and (record.status, record.camunda_instance_id) == (ProcessStatus.CANCELLED, "instance-1")
    assert fakes.metrics.repairs == ["CANCELLED_INSTANCE_DELETED"]
    assert reconciler(fakes).run().deleted == 0, "the recorded instance takes the row off the list"


def test_the_reconciler_looks_for_a_cancelled_rows_instance_only_once_its_start_is_settled(fakes: Fakes) -> None:
    fakes.engine.fail_start = CamundaNoAnswer("timeout")
    with pytest.raises(CamundaStartUnconfirmed):
        start(fakes)
    fakes.service.cancel("p-1", reason=None, caller=ALICE)
    fakes.engine.start("onboard-user", business_key="p-1", variables=USER)
    assert reconciler(fakes, min_age=timedelta(minutes=2)).run().deleted == 0, "its start may be under way"
    assert reconciler(fakes, max_process_age=timedelta(0)).run().deleted == 0, "past MAX_PROCESS_AGE"
    assert fakes.engine.deleted == []


def test_the_reconciler_times_out_an_old_process_deleting_its_instance_first(fakes: Fakes) -> None:
    start(fakes)
    assert reconciler(fakes, max_process_age=timedelta(0)).run().failed == 1
    assert fakes.engine.deleted == ["instance-1"]
    record = fakes.repository.get("p-1")
    assert record is not None and record.error is not None and record.error["code"] == "TIMED_OUT"


# --- Retry-After ------------------------------------------------------------------------------------


def retry_after(fakes: Fakes, record: ProcessRecord) -> int:
    """The ``Retry-After`` the API answers with, from the process's progress (RETRY_AFTER_S=1)."""
    progress = fakes.service.progress(record)
    return retry_after_s(progress.durations_ms, progress.elapsed_ms, default_s=1)


def test_the_retry_after_of_a_pending_process_is_when_its_keys_history_expects_it_to_end(fakes: Fakes) -> None:
    assert retry_after(fakes, start(fakes, "p-0", process_key="new-key")) == 1, "no history: RETRY_AFTER_S"

    fakes.repository.durations_ms["onboard-user"] = [4_000.0, 6_000.0, 8_000.0, 10_000.0, 12_000.0, 14_000.0]
    record = start(fakes)
    assert retry_after(fakes, record) == 9, "the median of 4..14 s, at 0 s"
    fakes.clock.advance(5)
    # At 5 s the processes still running at that age took 6..14 s: median 10 s, so 5 s more.
    assert retry_after(fakes, record) == 5
    fakes.clock.advance(600)
    assert retry_after(fakes, record) == 30, "older than all its history: bounded to 30 s"
