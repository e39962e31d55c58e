"""The store under stress, on every backend: races, big and strange payloads, lost connections,
a database that is down, and listing that reads an index, not the table."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.camunda_stub import CamundaStub
from tests.support.services import service_on
from tests.support.stores import StoreFactory, stored_row
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.store import SqlStore, dialect_for, postgres, sqlite
from waitroom.adapters.store.migrate import migrate
from waitroom.domain.errors import AlreadyFinished, StoreUnavailable
from waitroom.domain.process import Caller, ListQuery, NewProcess, Outcome, ProcessStatus, dump_json
from waitroom.service.waiting import PollSchedule, wait_for_final
from waitroom.settings import Settings

RACERS = 50


def new(correlation_id: str = "race-1") -> NewProcess:
    return NewProcess(correlation_id=correlation_id, process_key="onboard-user", request_hash="a" * 64)


def race[T](count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T | BaseException:
        barrier.wait()
        try:
            return work(index)
        except Exception as exc:  # collected, and the caller asserts on it
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_racing_completions_have_exactly_one_winner(store_factory: StoreFactory, database_url: str) -> None:
    store_factory().save(new())
    settings = Settings(database_url=database_url)
    services = [service_on(store_factory(), settings) for _ in range(RACERS)]
    outcomes = race(RACERS, lambda i: services[i].complete("race-1", Outcome.done({"winner": i, "pad": "x" * 100})))
    winners = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, AlreadyFinished)]
    assert len(winners) == 1, outcomes
    assert len(conflicts) == RACERS - 1, [o for o in outcomes if isinstance(o, BaseException)]
    final = store_factory().get("race-1")
    assert final is not None
    assert final.payload == winners[0].payload, "the stored outcome is the winner's"


def test_racing_starts_insert_once_and_start_one_camunda_instance(
    store_factory: StoreFactory, database_url: str
) -> None:
    camunda = CamundaStub().start()
    try:
        settings = Settings(database_url=database_url, camunda_url=camunda.url)
        services = [service_on(store_factory(), settings, camunda=CamundaClient(camunda.url)) for _ in range(RACERS)]
        outcomes = race(
            RACERS,
            lambda i: services[i].start(
                "onboard-user",
                correlation_id="race-start",
                variables={"userId": "u"},
                caller=Caller("racer"),
                wait_ms=0,
            ),
        )
    finally:
        camunda.stop()
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert len(camunda.starts_of("race-start")) == 1
    assert all(outcome.status is ProcessStatus.PENDING for outcome in outcomes)  # type: ignore[union-attr]
    assert len([r for r in store_factory().list_page(ListQuery(limit=100)) if r.correlation_id == "race-start"]) == 1


def test_a_one_megabyte_payload_round_trips_byte_for_byte(store: SqlStore) -> None:
    store.save(new("big"))
    data = {"rows": [{"id": i, "text": f"ligne {i} — ünïcödé ✓ 🚀", "n": i * 1.5} for i in range(16_000)]}
    encoded = dump_json(data)
    assert len(encoded.encode()) > 1_000_000
    finished = store.finish("big", Outcome.done(data))
    assert finished is not None
    again = store.get("big")
    assert again is not None
    assert stored_row(store, "big")["payload_json"] == encoded, "stored as compact JSON text, as sent"
    assert again.payload == data


@pytest.mark.parametrize(
    "text",
    [
        "emoji 👩‍👩‍👧‍👦 🇧🇪 🎉",
        "right to left: \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u202eevil\u202c",
        "control: \x01\x02\x07\x08\x0b\x0c\x1b\x1f\x7f",
        "combining: e\u0301 \u0041\u030a, zero width: a\u200bb\ufeff",
        "quotes ' \" ` ; -- /* */ %s %(x)s {0} \\ N'x'",
        "astral: \U0001d11e \U00010348 and BMP edge \uffff",
    ],
)
def test_unicode_round_trips_byte_for_byte(store: SqlStore, text: str) -> None:
    store.save(new("u"))
    data = {"text": text, text: "as a key"}
    encoded = dump_json(data)
    store.finish("u", Outcome.done(data))
    record = store.get("u")
    assert record is not None
    assert stored_row(store, "u")["payload_json"] == encoded, "non-ASCII text stored as it is, not escaped"
    assert record.payload == {"text": text, text: "as a key"}


def test_a_pending_count_of_many_rows(store: SqlStore) -> None:
    for index in range(200):
        store.save(new(f"n-{index}"))
    assert store.pending_count() == 200


# --- lost connections and a database that is down -----------------------------------------------


def test_a_wait_survives_the_server_killing_its_connection(pg_schema_url: str) -> None:
    settings = Settings(database_url=pg_schema_url)
    migrate(dialect_for(pg_schema_url, settings))
    waiter, writer = SqlStore(dialect_for(pg_schema_url, settings)), SqlStore(dialect_for(pg_schema_url, settings))
    try:
        writer.save(new("killed"))
        assert waiter.poll("killed") is not None
        backend = waiter._connection.info.backend_pid  # the waiter's own server process
        outcome: list[Any] = []
        thread = threading.Thread(
            target=lambda: outcome.append(
                wait_for_final(
                    lambda: waiter.poll("killed"),
                    deadline=time.monotonic() + 10,
                    schedule=PollSchedule.parse("50"),
                )
            )
        )
        thread.start()
        time.sleep(0.2)
        with psycopg.connect(pg_schema_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone() == (True,)
        time.sleep(0.2)
        writer.finish("killed", Outcome.done({"after": "the kill"}))
        thread.join(10)
        assert outcome, "the wait returned"
        assert outcome[0].status is ProcessStatus.DONE
        assert outcome[0].payload == {"after": "the kill"}
        assert waiter._connection.info.backend_pid != backend, "the waiter reconnected"
    finally:
        waiter.close()
        writer.close()


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word: a hung database server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stopped = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stopped.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopped.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.mark.parametrize(
    "url_of",
    [
        lambda port: f"postgresql://postgres@127.0.0.1:{port}/test",
        lambda port: f"mssql://sa:secret@127.0.0.1:{port}/waitroom",
    ],
    ids=["postgresql", "mssql"],
)
def test_a_silent_server_fails_within_the_connect_timeout(url_of: Callable[[int], str]) -> None:
    with silent_server() as port:
        url = url_of(port)
        store = SqlStore(dialect_for(url, Settings(database_url=url, db_connect_timeout_s=1)))
        began = time.monotonic()
        with pytest.raises(StoreUnavailable, match="cannot connect"):
            store.get("anything")
        elapsed = time.monotonic() - began
    assert elapsed < 4, f"a silent server held the connect for {elapsed:.1f} s with a 1 s timeout"


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/test", "mssql://sa:secret@127.0.0.1:1/waitroom"],
    ids=["postgresql", "mssql"],
)
def test_a_refused_connection_is_store_unavailable(url: str) -> None:
    store = SqlStore(dialect_for(url, Settings(database_url=url, db_connect_timeout_s=1)))
    with pytest.raises(StoreUnavailable):
        store.save(new())


def test_a_locked_sqlite_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.sqlite3'}"
    settings = Settings(database_url=url, db_query_timeout_s=0.2)
    migrate(dialect_for(url, settings))
    holder = dialect_for(url, settings).connect()
    holder.execute("BEGIN EXCLUSIVE")
    store = SqlStore(dialect_for(url, settings))
    try:
        with pytest.raises(StoreUnavailable, match="did not answer in time"):
            store.save(new())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


# --- listing reads an index ---------------------------------------------------------------------


def fill(store: SqlStore, rows: int) -> None:
    for index in range(rows):
        store.save(new(f"row-{index:06d}"))


def test_postgres_lists_newest_first_from_the_index(pg_schema_url: str) -> None:
    migrate(dialect_for(pg_schema_url, Settings(database_url=pg_schema_url)))
    with psycopg.connect(pg_schema_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO process_store (correlation_id, status, process_key, request_hash, started_at) "
            "SELECT 'row-' || i, CASE WHEN i % 10 = 0 THEN 'PENDING' ELSE 'DONE' END, 'onboard-user', "
            "repeat('a', 64), now() - i * interval '1 second' FROM generate_series(1, 20000) AS i"
        )
        connection.execute("ANALYZE process_store")
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                "EXPLAIN (ANALYZE, FORMAT TEXT) " + postgres.STATEMENTS.list_page.format(where=""), {"limit": 50}
            ).fetchall()
        )
    assert "Index Scan Backward using ix_processstore_startedat" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "rows=50 " in plan, "the scan stops at the limit"


def test_sqlite_lists_newest_first_from_the_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plan.sqlite3'}"
    dialect = dialect_for(url, Settings(database_url=url))
    migrate(dialect)
    connection = dialect.connect()
    try:
        rows = connection.execute("EXPLAIN QUERY PLAN " + sqlite.STATEMENTS.list_page.format(where=""), {"limit": 50})
        plan = " | ".join(str(row[-1]) for row in rows)
    finally:
        connection.close()
    assert "USING INDEX IX_ProcessStore_StartedAt" in plan, plan
    assert "TEMP B-TREE" not in plan, f"a sort of the whole table: {plan}"


def test_list_results_serialize(store: SqlStore) -> None:
    fill(store, 3)
    assert json.dumps([record.correlation_id for record in store.list_page(ListQuery(limit=2))])
