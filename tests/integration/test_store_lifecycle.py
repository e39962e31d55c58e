"""The store's lifecycle operations on every backend: keyset pages, step history, the reconciler's
work list, and retention in batches."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from waitroom.adapters.store import SqlStore
from waitroom.domain.process import (
    START_FAILED,
    ListQuery,
    NewProcess,
    Outcome,
    ProcessRecord,
    ProcessStatus,
    StepEvent,
    StepOutcome,
    error_value,
    step_token,
)


def new(correlation_id: str, key: str = "onboard-user") -> NewProcess:
    return NewProcess(correlation_id=correlation_id, process_key=key, request_hash="0" * 64)


def test_keyset_pages_visit_every_row_once_even_with_equal_start_times(store: SqlStore) -> None:
    for index in range(25):
        store.save(new(f"k-{index:02d}"))  # many share a millisecond: the id breaks the tie
    seen: list[str] = []
    after = None
    while True:
        page = store.list_page(ListQuery(limit=4, after=after))
        if not page:
            break
        seen += [record.correlation_id for record in page]
        after = (page[-1].started_at, page[-1].correlation_id)
    assert sorted(seen) == [f"k-{index:02d}" for index in range(25)]
    assert len(seen) == 25
    keys = [(record.started_at, record.correlation_id) for record in store.list_page(ListQuery(limit=100))]
    assert keys == sorted(keys, reverse=True), "newest first, then by id"


def test_the_list_filters_combine(store: SqlStore) -> None:
    store.save(new("a-1"))
    store.save(new("b-1", key="other-process"))
    store.save(new("a-2"))
    store.finish("a-2", Outcome.done())
    assert [r.correlation_id for r in store.list_page(ListQuery(limit=10, process_key="other-process"))] == ["b-1"]
    done_a = store.list_page(ListQuery(limit=10, process_key="onboard-user", status=ProcessStatus.DONE))
    assert [r.correlation_id for r in done_a] == ["a-2"]
    first = store.get("a-1")
    assert first is not None
    since = store.list_page(ListQuery(limit=10, started_after=first.started_at))
    assert "a-1" in {r.correlation_id for r in since}, "startedAfter is inclusive"
    before = store.list_page(ListQuery(limit=10, started_before=first.started_at))
    assert "a-1" not in {r.correlation_id for r in before}, "startedBefore is exclusive"
    future = datetime.now(UTC) + timedelta(days=1)
    assert store.list_page(ListQuery(limit=10, started_after=future)) == []


def test_steps_are_kept_in_order_and_only_for_known_processes(store: SqlStore) -> None:
    store.save(new("s-1"))
    first = StepEvent("s-1", "t.one", "Task_1", StepOutcome.FAILED, 40, {"message": "boom"})
    assert store.record_step(first)
    assert store.record_step(StepEvent("s-1", "t.one", "Task_1", StepOutcome.COMPLETED, 30))
    assert store.record_step(StepEvent("s-1", "t.two", None, StepOutcome.BPMN_ERROR, 5, {"code": "X"}))
    assert not store.record_step(StepEvent("ghost", "t.one", None, StepOutcome.COMPLETED, 1))
    steps = store.steps("s-1")
    assert [(step.topic, step.outcome) for step in steps] == [
        ("t.one", StepOutcome.FAILED),
        ("t.one", StepOutcome.COMPLETED),
        ("t.two", StepOutcome.BPMN_ERROR),
    ]
    assert steps[0].error == {"message": "boom"}
    assert steps[0].duration_ms == 40
    assert steps[0].occurred_at is not None
    assert steps[0].occurred_at.tzinfo is UTC
    assert store.steps("ghost") == []


def test_a_step_recorded_again_under_its_token_is_recorded_once(store: SqlStore) -> None:
    """What a retry after a lost answer does: the same run, under the same token, inserted again."""
    store.save(new("t-1"))
    step = StepEvent("t-1", "t.one", "Task_1", StepOutcome.FAILED, 40, {"message": "boom"})
    assert store.record_step(step)
    assert store.record_step(step), "the retry finds its step recorded"
    rerun = replace(step, outcome=StepOutcome.COMPLETED, error=None, token=step_token())
    assert store.record_step(rerun), "another run of the step has a token of its own"
    assert [(recorded.outcome, recorded.token) for recorded in store.steps("t-1")] == [
        (StepOutcome.FAILED, step.token),
        (StepOutcome.COMPLETED, rerun.token),
    ]
    assert not store.record_step(replace(step, correlation_id="ghost")), "an unknown process records nothing"


def ended_never_started(store: SqlStore, correlation_id: str, *, instance_id: str | None = None) -> ProcessRecord:
    """A row as the reconciler ends one whose start it found no instance of (with ``instance_id``:
    an instance attached after that, as a start answered late attaches its own)."""
    store.save(NewProcess(correlation_id, "onboard-user", "a" * 64, owner="alice"))
    ended = store.finish(correlation_id, Outcome.failed(error_value("no instance", code=START_FAILED)))
    assert ended is not None
    if instance_id is None:
        return ended
    store.attach_instance(correlation_id, instance_id)
    attached = store.get(correlation_id)
    assert attached is not None
    return attached


def test_a_row_that_never_started_is_replaced_by_a_new_start_once(store: SqlStore) -> None:
    ended = ended_never_started(store, "u-1")
    assert ended.never_started
    record, created = store.replace_unstarted(NewProcess("u-1", "onboard-user", "b" * 64, owner="alice"), ended)
    assert created
    assert (record.status, record.request_hash, record.owner) == (ProcessStatus.PENDING, "b" * 64, "alice")
    assert (record.payload, record.error, record.completed_at, record.camunda_instance_id) == (None, None, None, None)
    assert record.started_at >= ended.updated_at, "it starts anew"
    rival, rival_created = store.replace_unstarted(NewProcess("u-1", "onboard-user", "c" * 64, owner="alice"), ended)
    assert not rival_created, "the row judged is no longer there: a second start replaces nothing"
    assert (rival.status, rival.request_hash) == (ProcessStatus.PENDING, "b" * 64)
    _, saved_again = store.save(NewProcess("u-1", "onboard-user", "b" * 64, owner="alice"))
    assert not saved_again, "the new row is the id's row"


def test_a_row_with_an_instance_or_not_ended_is_never_replaced(store: SqlStore) -> None:
    attached = ended_never_started(store, "u-2", instance_id="late-instance")
    assert not attached.never_started
    record, created = store.replace_unstarted(NewProcess("u-2", "onboard-user", "b" * 64, owner="alice"), attached)
    assert not created
    assert (record.status, record.camunda_instance_id) == (ProcessStatus.ERROR, "late-instance")
    pending, _ = store.save(new("u-3"))
    record, created = store.replace_unstarted(NewProcess("u-3", "onboard-user", "b" * 64), pending)
    assert not created
    assert (record.status, record.request_hash) == (ProcessStatus.PENDING, "0" * 64)


def test_a_row_ended_otherwise_without_an_instance_is_never_replaced(store: SqlStore) -> None:
    # An operator failed it, or its client cancelled it, while its start was unconfirmed: an instance
    # may exist, so starting the id again could run the process twice.
    for correlation_id, outcome in [
        ("u-5", Outcome.failed(error_value("reset", code="FAILED_BY_OPERATOR"))),
        ("u-6", Outcome.cancelled("changed my mind")),
    ]:
        store.save(NewProcess(correlation_id, "onboard-user", "a" * 64, owner="alice"))
        ended = store.finish(correlation_id, outcome)
        assert ended is not None and ended.camunda_instance_id is None and not ended.never_started
        record, created = store.replace_unstarted(
            NewProcess(correlation_id, "onboard-user", "b" * 64, owner="alice"), ended
        )
        assert not created
        assert record == ended, "the finished row is as it was"


def test_a_finish_records_the_instance_a_row_lacks_and_keeps_the_one_it_has(store: SqlStore) -> None:
    store.save(new("i-1"))
    finished = store.finish("i-1", Outcome.done(), instance_id="found-late")
    assert finished is not None and finished.camunda_instance_id == "found-late"
    store.save(new("i-2"))
    store.attach_instance("i-2", "attached")
    finished = store.finish("i-2", Outcome.done(), instance_id="another")
    assert finished is not None and finished.camunda_instance_id == "attached", "write-once"
    store.save(new("i-3"))
    finished = store.finish("i-3", Outcome.done())
    assert finished is not None and finished.camunda_instance_id is None
    assert store.finish("i-3", Outcome.done(), instance_id="too-late") is None
    ended = store.get("i-3")
    assert ended is not None and ended.camunda_instance_id is None, "a losing finish changes nothing"


def test_the_cancelled_rows_without_an_instance_are_listed_oldest_first_in_their_window(store: SqlStore) -> None:
    for correlation_id in ["c-0", "c-1", "c-2", "c-3", "c-4"]:
        store.save(new(correlation_id))
    store.attach_instance("c-1", "recorded")
    for correlation_id in ["c-0", "c-1", "c-3"]:
        store.finish(correlation_id, Outcome.cancelled("by the client"))
    store.finish("c-4", Outcome.failed(error_value("reset", code="FAILED_BY_OPERATOR")))
    hour_ago, soon = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(seconds=5)
    rows = store.cancelled_without_instance(started_after=hour_ago, started_before=soon, limit=10)
    assert [row.correlation_id for row in rows] == ["c-0", "c-3"]
    assert [
        row.correlation_id
        for row in store.cancelled_without_instance(started_after=hour_ago, started_before=soon, limit=1)
    ] == ["c-0"]
    assert store.cancelled_without_instance(started_after=hour_ago, started_before=hour_ago, limit=10) == []
    later = soon + timedelta(hours=1)
    assert store.cancelled_without_instance(started_after=soon, started_before=later, limit=10) == []
    store.attach_instance("c-0", "found")
    rows = store.cancelled_without_instance(started_after=hour_ago, started_before=soon, limit=10)
    assert [row.correlation_id for row in rows] == ["c-3"], "a recorded instance takes it off the list"


def test_a_replacement_of_a_row_deleted_meanwhile_inserts_it(store: SqlStore) -> None:
    ended = ended_never_started(store, "u-4")
    assert store.remove("u-4")
    record, created = store.replace_unstarted(NewProcess("u-4", "onboard-user", "b" * 64, owner="alice"), ended)
    assert created
    assert (record.status, record.request_hash) == (ProcessStatus.PENDING, "b" * 64)


def test_the_reconcilers_work_list_is_old_pending_rows_oldest_first(store: SqlStore) -> None:
    for index in range(3):
        store.save(new(f"w-{index}"))
    store.finish("w-1", Outcome.done())
    cutoff = datetime.now(UTC) + timedelta(seconds=5)
    rows = store.pending_started_before(cutoff, limit=10)
    assert [row.correlation_id for row in rows] == ["w-0", "w-2"]
    assert store.pending_started_before(datetime.now(UTC) - timedelta(hours=1), limit=10) == []
    assert len(store.pending_started_before(cutoff, limit=1)) == 1


RETAINED = 10_000


@pytest.fixture
def aged_store(store: SqlStore) -> SqlStore:
    """10,000 finished processes, each with a step, finished 40 days ago; and a few that must stay."""
    connection = store.dialect.connect()
    cursor = connection.cursor()
    try:
        if store.dialect.name == "postgresql":
            cursor.execute(
                "INSERT INTO process_store (correlation_id, status, process_key, request_hash, started_at, "
                "updated_at, completed_at) SELECT 'old-' || i, 'DONE', 'onboard-user', repeat('0', 64), "
                "now() - interval '41 days', now() - interval '40 days', now() - interval '40 days' "
                f"FROM generate_series(1, {RETAINED}) AS i"
            )
            cursor.execute(
                "INSERT INTO process_event (correlation_id, topic, outcome, duration_ms) "
                "SELECT correlation_id, 't', 'COMPLETED', 1 FROM process_store"
            )
        elif store.dialect.name == "mssql":
            cursor.execute(
                "INSERT INTO dbo.process_store (correlation_id, status, process_key, request_hash, started_at, "
                f"updated_at, completed_at) SELECT TOP ({RETAINED}) "
                "CONCAT('old-', ROW_NUMBER() OVER (ORDER BY (SELECT NULL))), 'DONE', 'onboard-user', "
                "REPLICATE('0', 64), DATEADD(DAY, -41, SYSUTCDATETIME()), DATEADD(DAY, -40, SYSUTCDATETIME()), "
                "DATEADD(DAY, -40, SYSUTCDATETIME()) FROM sys.all_objects AS a CROSS JOIN sys.all_objects AS b"
            )
            cursor.execute(
                "INSERT INTO dbo.process_event (correlation_id, topic, outcome, duration_ms) "
                "SELECT correlation_id, 't', 'COMPLETED', 1 FROM dbo.process_store"
            )
        else:
            old = (datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            cursor.executemany(
                "INSERT INTO process_store (correlation_id, status, process_key, request_hash, started_at, "
                "updated_at, completed_at) VALUES (?, 'DONE', 'onboard-user', ?, ?, ?, ?)",
                [(f"old-{i}", "0" * 64, old, old, old) for i in range(RETAINED)],
            )
            cursor.execute(
                "INSERT INTO process_event (correlation_id, topic, outcome, duration_ms) "
                "SELECT correlation_id, 't', 'COMPLETED', 1 FROM process_store"
            )
    finally:
        cursor.close()
        connection.close()
    store.save(new("recent-done"))
    store.finish("recent-done", Outcome.done())
    store.save(new("still-pending"))
    return store


def test_retention_deletes_old_finished_rows_and_their_steps_in_batches(aged_store: SqlStore) -> None:
    cutoff = datetime.now(UTC) - timedelta(days=30)
    batches = []
    while (deleted := aged_store.purge_finished(updated_before=cutoff, batch=1_000)) > 0:
        batches.append(deleted)
    assert batches == [1_000] * 10
    assert aged_store.get("old-1") is None
    assert aged_store.steps("old-1") == [], "the steps went with their process"
    assert aged_store.get("recent-done") is not None, "recent finished rows stay"
    assert aged_store.get("still-pending") is not None, "PENDING rows are never purged"


def test_a_time_without_a_zone_is_utc_whatever_the_machines_zone(store: SqlStore) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "America/New_York")
        time.tzset()
        try:
            store.save(new("tz-1"))
            record = store.get("tz-1")
            assert record is not None
            naive_utc = record.started_at.replace(tzinfo=None)
            assert [r.correlation_id for r in store.list_page(ListQuery(limit=5, started_after=naive_utc))] == ["tz-1"]
            later = naive_utc + timedelta(hours=1)
            assert store.list_page(ListQuery(limit=5, started_after=later)) == []
        finally:
            # The process reads its zone from TZ at tzset: TZ as it was, then tzset, in that order.
            patch.undo()
            time.tzset()


def test_a_batch_larger_than_one_statement_may_delete_is_deleted_by_several(
    aged_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQL Server bounds each retention statement (a table lock at 5,000 row locks); a batch larger than
    that bound still deletes the whole batch, by several statements, steps first where the dialect asks."""
    monkeypatch.setattr(aged_store.dialect, "purge_statement_rows", 300)
    monkeypatch.setattr(aged_store.dialect, "purge_step_rows", 70)
    cutoff = datetime.now(UTC) - timedelta(days=30)
    batches = []
    while (deleted := aged_store.purge_finished(updated_before=cutoff, batch=4_000)) > 0:
        batches.append(deleted)
    assert batches == [4_000, 4_000, 2_000]
    assert aged_store.get("old-1") is None
    assert aged_store.steps("old-1") == []
    assert aged_store.get("recent-done") is not None
    assert aged_store.get("still-pending") is not None
