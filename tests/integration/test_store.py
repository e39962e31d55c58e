"""The store's behaviour, the same on every backend (see conftest: SQLite, PostgreSQL, SQL Server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.services import service_on
from tests.support.stores import StoreFactory, stored_row
from waitroom.adapters.store import SqlStore
from waitroom.domain.errors import InvalidRequest
from waitroom.domain.process import ListQuery, NewProcess, Outcome, ProcessStatus, StepEvent, StepOutcome


def new(correlation_id: str = "order-1", key: str = "onboard-user", fingerprint: str = "f" * 64) -> NewProcess:
    return NewProcess(correlation_id=correlation_id, process_key=key, request_hash=fingerprint)


def test_save_creates_a_pending_row_once(store: SqlStore) -> None:
    record, created = store.save(new())
    assert created
    assert record.status is ProcessStatus.PENDING
    assert (record.process_key, record.request_hash) == ("onboard-user", "f" * 64)
    assert record.completed_at is None
    assert record.duration_ms is None

    again, created_again = store.save(new(key="other", fingerprint="0" * 64))
    assert not created_again
    assert again == record, "saving an existing id must neither overwrite nor duplicate it"


def test_get_returns_none_for_an_unknown_id(store: SqlStore) -> None:
    assert store.get("nobody") is None
    assert store.poll("nobody") is None


def test_timestamps_are_utc_with_milliseconds(store: SqlStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    record, _ = store.save(new())
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert record.started_at.tzinfo is UTC
    assert before <= record.started_at <= after
    assert record.started_at.microsecond % 1000 == 0, "the store keeps milliseconds, like DATETIME2(3)"
    finished = store.finish("order-1", Outcome.done({"ok": True}))
    assert finished is not None and finished.completed_at is not None
    assert finished.completed_at >= finished.started_at
    assert finished.duration_ms is not None and finished.duration_ms >= 0


@pytest.mark.parametrize(
    ("finish", "status"),
    [
        (lambda s: s.finish("order-1", Outcome.done({"user": "u1"})), ProcessStatus.DONE),
        (lambda s: s.finish("order-1", Outcome.failed({"message": "boom"})), ProcessStatus.ERROR),
        (
            lambda s: s.finish("order-1", Outcome.cancelled("client gave up")),
            ProcessStatus.CANCELLED,
        ),
    ],
    ids=["complete", "fail", "cancel"],
)
def test_each_transition_finishes_a_pending_row_once(store: SqlStore, finish, status: ProcessStatus) -> None:  # type: ignore[no-untyped-def]
    store.save(new())
    finished = finish(store)
    assert finished is not None
    assert finished.status is status
    assert finished.updated_at >= finished.started_at
    # A finished row never changes again, whichever transition is tried next.
    assert store.finish("order-1", Outcome.done({"late": True})) is None
    assert store.finish("order-1", Outcome.failed({"message": "late"})) is None
    assert store.finish("order-1", Outcome(ProcessStatus.CANCELLED, error={"message": "late"})) is None
    assert store.get("order-1") == finished


def test_transitions_of_an_unknown_id_change_nothing(store: SqlStore) -> None:
    assert store.finish("ghost", Outcome.done()) is None
    assert store.finish("ghost", Outcome.failed(json.loads("{}"))) is None
    assert store.get("ghost") is None


def test_payload_and_error_round_trip(store: SqlStore) -> None:
    store.save(new())
    data = {"b": [1, 2.5, None, True], "a": {"nested": "x"}}
    finished = store.finish("order-1", Outcome.failed({"message": "partial"}, data))
    assert finished is not None
    assert finished.payload == data
    assert list(finished.payload) == ["b", "a"], "key order is kept"
    assert finished.error == {"message": "partial"}


def test_complete_without_data_keeps_null(store: SqlStore) -> None:
    store.save(new())
    finished = store.finish("order-1", Outcome.done())
    assert finished is not None
    assert finished.payload is None
    assert stored_row(store, "order-1")["payload_json"] is None, "no result is NULL, not the JSON text null"


def test_remove(store: SqlStore) -> None:
    store.save(new())
    assert store.remove("order-1")
    assert store.get("order-1") is None
    assert not store.remove("order-1")


def test_attach_instance_is_write_once(store: SqlStore) -> None:
    store.save(new())
    store.attach_instance("order-1", "instance-a")
    store.attach_instance("order-1", "instance-b")
    record = store.get("order-1")
    assert record is not None and record.camunda_instance_id == "instance-a"


def test_discard_unstarted_deletes_only_a_pending_row_without_instance(store: SqlStore) -> None:
    store.save(new("never-started"))
    store.save(new("started"))
    store.attach_instance("started", "instance-1")
    store.save(new("finished"))
    store.finish("finished", Outcome.done())

    assert store.discard_unstarted("never-started")
    assert store.get("never-started") is None
    assert not store.discard_unstarted("started")
    assert not store.discard_unstarted("finished")
    assert store.get("started") is not None and store.get("finished") is not None


def test_pending_count_has_pending_and_fail_all_pending(store: SqlStore) -> None:
    for index in range(3):
        store.save(new(f"p{index}"))
    store.save(new("done"))
    store.finish("done", Outcome.done())
    assert store.pending_count() == 3
    assert store.has_pending("p0")
    assert not store.has_pending("done")
    assert not store.has_pending("ghost")

    # clearAll: each PENDING row ends through the service's one end, so each one's waiters wake.
    assert service_on(store).fail_all_pending(code="SHUTDOWN", reason="cleared") == 3
    assert store.pending_count() == 0
    cleared = store.get("p1")
    assert cleared is not None and cleared.status is ProcessStatus.ERROR
    assert cleared.error == {"code": "SHUTDOWN", "message": "cleared"}
    assert cleared.completed_at is not None
    done = store.get("done")
    assert done is not None and done.status is ProcessStatus.DONE, "finished rows are left alone"


def test_list_is_newest_first_limited_and_filtered(store: SqlStore) -> None:
    for index in range(5):
        store.save(new(f"p{index}"))
    store.finish("p1", Outcome.done())
    store.finish("p3", Outcome.done())

    listed = store.list_page(ListQuery(limit=3))
    assert len(listed) == 3
    assert [(r.started_at, r.correlation_id) for r in listed] == sorted(
        ((r.started_at, r.correlation_id) for r in listed), reverse=True
    )
    done = store.list_page(ListQuery(limit=10, status=ProcessStatus.DONE))
    assert {record.correlation_id for record in done} == {"p1", "p3"}
    assert len(store.list_page(ListQuery(limit=10, status=ProcessStatus.PENDING))) == 3


def test_unicode_and_quotes_round_trip(store: SqlStore) -> None:
    # Ids are of the domain's form; any other text reaches the store as an owner (a token's subject) or
    # in a payload.
    hostile = "o'neil;--DROP N'x' %s %(x)s \u05e9\u05dc\u05d5\u05dd 🎉 用户"
    store.save(NewProcess("q-1", "onboard-user", "f" * 64, owner=hostile))
    data = {"text": "emoji 🎉, rtl \u05e9\u05dc\u05d5\u05dd, quote ' \" %s %(x)s \\ \t\x01", "nul": "a\u0000b"}
    finished = store.finish("q-1", Outcome.done(data))
    assert finished is not None
    assert finished.payload == data
    assert finished.owner == hostile
    assert json.loads(stored_row(store, "q-1")["payload_json"]) == data
    assert [record.correlation_id for record in store.list_page(ListQuery(limit=5, owner=hostile))] == ["q-1"]


# --- ids, keys and owners are compared exactly, on every backend -------------------------------------


def test_ids_that_differ_only_by_case_are_two_processes(store: SqlStore) -> None:
    upper, created_upper = store.save(new("Order-1", fingerprint="a" * 64))
    lower, created_lower = store.save(new("order-1", fingerprint="b" * 64))
    assert created_upper and created_lower, "a start under the other case is a new process"
    assert (upper.correlation_id, lower.correlation_id) == ("Order-1", "order-1")
    assert store.finish("order-1", Outcome.done(1)) is not None
    first = store.get("Order-1")
    assert first is not None
    assert (first.status, first.request_hash) == (ProcessStatus.PENDING, "a" * 64)
    assert store.get("ORDER-1") is None


def test_the_owner_filter_lists_one_owner_exactly(store: SqlStore) -> None:
    # "Alice" differs by case, "alice " by a trailing blank (which equality ignores on SQL Server), and
    # the two CJK subjects would both be "??" in a one-byte code page.
    owners = ["alice", "Alice", "alice ", "用户", "客户"]
    for index, owner in enumerate(owners):
        store.save(NewProcess(f"o-{index}", "onboard-user", "f" * 64, owner=owner))
    for index, owner in enumerate(owners):
        listed = store.list_page(ListQuery(limit=10, owner=owner))
        assert [(record.correlation_id, record.owner) for record in listed] == [(f"o-{index}", owner)], owner
        fetched = store.get(f"o-{index}")
        assert fetched is not None
        assert fetched.owner == owner, "the owner is stored as given, not mapped to a code page"
    assert store.list_page(ListQuery(limit=10, owner="ALICE")) == []


def test_the_process_key_filter_lists_one_key_exactly(store: SqlStore) -> None:
    store.save(new("pk-1", key="onboard-user"))
    store.save(new("pk-2", key="Onboard-User"))
    store.save(new("pk-3", key="k" * 255))
    for key, expected in [("onboard-user", ["pk-1"]), ("Onboard-User", ["pk-2"]), ("k" * 255, ["pk-3"])]:
        assert [record.correlation_id for record in store.list_page(ListQuery(limit=5, process_key=key))] == expected
    for stranger in ["onboard-user ", "k" * 255 + "x", "onboard-üser"]:
        assert store.list_page(ListQuery(limit=5, process_key=stranger)) == [], stranger


def test_the_longest_owner_is_kept_and_a_longer_one_refused(store: SqlStore) -> None:
    # 255 UTF-16 code units, as SQL Server's NVARCHAR(255) counts them: emoji take two each.
    longest = "🎉" * 127 + "x"
    store.save(NewProcess("long-owner", "onboard-user", "f" * 64, owner=longest))
    assert [record.owner for record in store.list_page(ListQuery(limit=5, owner=longest))] == [longest]
    with pytest.raises(InvalidRequest, match="longer than 255"):
        NewProcess("too-long-owner", "onboard-user", "f" * 64, owner="🎉" * 128)
    assert store.list_page(ListQuery(limit=5, owner="🎉" * 128)) == [], "no stored owner is that long"
    assert store.list_page(ListQuery(limit=5, owner=longest[:-1])) == [], "nor is a prefix anyone's"


@pytest.mark.parametrize("stranger", ["k" * 64 + "x", "k" * 64 + " ", "k" * 63 + "é", "k" * 63 + "?"])
def test_an_id_no_row_can_have_never_finds_another_row(store: SqlStore, stranger: str) -> None:
    """A worker's business key is any text Camunda holds: SQL Server's VARCHAR(64) cast would truncate
    it, turn its accented letter into ``?``, or ignore its trailing blank, onto the row of ``k…``."""
    kept = "k" * 64
    store.save(new(kept))
    store.save(new("k" * 63 + "x"))
    with pytest.raises(InvalidRequest, match="correlationId"):
        new(stranger)
    assert store.get(stranger) is None
    assert store.poll(stranger) is None
    assert not store.has_pending(stranger)
    assert not store.record_step(StepEvent(stranger, "t.one", None, StepOutcome.COMPLETED, 1))
    assert store.finish(stranger, Outcome.done(1)) is None
    assert not store.remove(stranger)
    assert store.steps(kept) == []
    record = store.get(kept)
    assert record is not None and record.status is ProcessStatus.PENDING, "the stored row is untouched"


def test_a_second_store_sees_the_first_ones_writes(store_factory: StoreFactory) -> None:
    writer, reader = store_factory(), store_factory()
    writer.save(new())
    assert reader.poll("order-1") is not None
    writer.finish("order-1", Outcome.done(1))
    polled = reader.poll("order-1")
    assert polled is not None and polled.status is ProcessStatus.DONE


def test_waiters_are_taken_once_each_and_only_for_their_id(store: SqlStore) -> None:
    long_id = "A" * 1000 + "=="
    store.add_waiter("order-1", "cb-1")
    store.add_waiter("order-1", long_id)
    store.add_waiter("Order-1", "cb-other")
    assert sorted(store.take_waiters("order-1")) == sorted(["cb-1", long_id])
    assert store.take_waiters("order-1") == [], "a taken callback is never taken again"
    assert store.take_waiters("Order-1") == ["cb-other"], "ids differing by case are two processes"


def test_a_dropped_waiter_is_not_taken(store: SqlStore) -> None:
    store.add_waiter("order-1", "cb-1")
    store.add_waiter("order-1", "cb-2")
    store.drop_waiter("order-1", "cb-1")
    store.drop_waiter("order-1", "CB-2")
    assert store.take_waiters("order-1") == ["cb-2"]


def test_a_second_store_takes_what_the_first_recorded(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    first.add_waiter("order-1", "cb-1")
    assert second.take_waiters("order-1") == ["cb-1"]
    assert first.take_waiters("order-1") == []
