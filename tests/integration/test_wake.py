"""Waking waiters: each push channel across separate connections (as across Lambdas), on every
backend it serves; reads per wait counted; a lost notification falls back to polling."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.wake_harness import CountingStore
from tests.support.services import service_on
from tests.support.stores import StoreFactory
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.base import COLUMN_LIST
from waitroom.adapters.store.migrate import migrate
from waitroom.adapters.wake import InProcess, Polling, WakeChannel, wake_channel
from waitroom.domain.process import NewProcess, Outcome, ProcessRecord, ProcessStatus
from waitroom.service.schedules import Schedules
from waitroom.settings import Settings

WAIT_S = 8.0


@pytest.fixture
def channels(request: pytest.FixtureRequest, database_url: str) -> Iterator[Callable[[str, SqlStore], WakeChannel]]:
    """Make a channel of a kind for a store; every channel made is closed after the test."""
    made: list[WakeChannel] = []
    shared_in_process = InProcess()

    def make(kind: str, store: SqlStore) -> WakeChannel:
        if kind == "inprocess":
            return shared_in_process
        redis = request.getfixturevalue("redis_url") if kind == "redis" else None
        channel = wake_channel(Settings(database_url=database_url, wake_channel=kind, redis_url=redis), store)
        made.append(channel)
        return channel

    yield make
    for channel in made:
        channel.close()


@pytest.mark.parametrize("kind", ["inprocess", "redis"])
def test_a_finish_wakes_the_waiter_at_once_with_two_reads(
    kind: str, database_url: str, store_factory: StoreFactory, channels: Callable[[str, SqlStore], WakeChannel]
) -> None:
    woken_with_two_reads(kind, database_url, store_factory, channels)


def test_postgres_listen_notify_wakes_the_waiter_at_once_with_two_reads(
    pg_schema_url: str, channels_for_postgres: tuple[StoreFactory, Callable[[str, SqlStore], WakeChannel]]
) -> None:
    store_factory, channels = channels_for_postgres
    woken_with_two_reads("postgres", pg_schema_url, store_factory, channels)


@pytest.fixture
def channels_for_postgres(
    pg_schema_url: str, redis_url: str
) -> Iterator[tuple[StoreFactory, Callable[[str, SqlStore], WakeChannel]]]:
    """Stores and LISTEN/NOTIFY channels on a migrated PostgreSQL schema (this test is PostgreSQL's alone)."""
    settings = Settings(database_url=pg_schema_url, wake_channel="postgres")
    migrate(dialect_for(pg_schema_url, settings))
    stores: list[SqlStore] = []
    made: list[WakeChannel] = []

    def store() -> SqlStore:
        stores.append(SqlStore(dialect_for(pg_schema_url, settings)))
        return stores[-1]

    def channel(kind: str, for_store: SqlStore) -> WakeChannel:
        made.append(wake_channel(settings, for_store))
        return made[-1]

    yield store, channel
    for opened in stores:
        opened.close()
    for channel_made in made:
        channel_made.close()


def woken_with_two_reads(
    kind: str, database_url: str, store_factory: StoreFactory, channels: Callable[[str, SqlStore], WakeChannel]
) -> None:
    # The waiter's store counts the reads of its wait (bench/wake_harness.py's, which the benchmark counts with).
    waiter_store, finisher_store = (
        CountingStore(dialect_for(database_url, Settings(database_url=database_url))),
        store_factory(),
    )
    with contextlib.closing(waiter_store):
        woken_once_read_twice(kind, database_url, waiter_store, finisher_store, channels)


def woken_once_read_twice(
    kind: str,
    database_url: str,
    waiter_store: CountingStore,
    finisher_store: SqlStore,
    channels: Callable[[str, SqlStore], WakeChannel],
) -> None:
    waiter_store.save(NewProcess("w-1", "onboard-user", "0" * 64))
    # A fallback read only every 5 s: anything faster than that is the notification's doing.
    settings = Settings(database_url=database_url, push_fallback_poll_ms=5000)
    service = service_on(waiter_store, settings, waker=channels(kind, waiter_store))
    finisher = service_on(finisher_store, settings, waker=channels(kind, finisher_store))
    outcome: list[ProcessRecord] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(
            service.wait("w-1", process_key="onboard-user", deadline=time.monotonic() + WAIT_S)
        )
    )
    waiter.start()
    time.sleep(0.3)
    finished_at = time.monotonic()
    finisher.finish("w-1", Outcome.done({"woken": kind}))
    waiter.join(WAIT_S)
    woke_after = time.monotonic() - finished_at

    assert outcome, "the wait returned"
    assert outcome[0].status is ProcessStatus.DONE
    assert woke_after < 2, f"woken {woke_after:.2f} s after the finish: the notification did not arrive"
    assert waiter_store.polls == 2, "one read before the wait, one after the wake"


def test_a_lost_notification_costs_latency_not_the_result(database_url: str, store_factory: StoreFactory) -> None:
    waiter_store, finisher_store = store_factory(), store_factory()
    waiter_store.save(NewProcess("w-2", "onboard-user", "0" * 64))
    service = service_on(
        waiter_store, Settings(database_url=database_url, push_fallback_poll_ms=400), waker=InProcess()
    )
    # The finisher announces nothing (another process, a dropped message): the waiter must still see it.
    outcome: list[ProcessRecord] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(service.wait("w-2", process_key="onboard-user", deadline=time.monotonic() + 5))
    )
    waiter.start()
    time.sleep(0.1)
    finisher_store.finish("w-2", Outcome.done())
    waiter.join(5)
    assert outcome
    assert outcome[0].status is ProcessStatus.DONE


def test_auto_picks_redis_when_configured_then_postgres_then_polling(
    database_url: str, store: SqlStore, redis_url: str
) -> None:
    with_redis = wake_channel(Settings(database_url=database_url, redis_url=redis_url), store)
    without = wake_channel(Settings(database_url=database_url), store)
    try:
        assert with_redis.name == "redis"
        assert without.name == ("postgres" if database_url.startswith("postgresql") else "poll")
    finally:
        with_redis.close()
        without.close()


def test_a_learnt_schedule_is_used_once_the_key_has_history(store: SqlStore) -> None:
    # Thirty processes of the key that each took about a second (as SQL would store them).
    connection = store.dialect.connect()
    now = datetime.now(UTC)
    try:
        cursor = connection.cursor()
        for index in range(30):
            started = now - timedelta(minutes=5, seconds=index)
            cursor.execute(
                store.dialect.statements.save,
                {
                    "correlation_id": f"h-{index}",
                    "process_key": "slow-key",
                    "request_hash": "0" * 64,
                    "owner": None,
                    "save_token": None,
                },
            )
            cursor.execute(
                HISTORY[store.dialect.name],
                {
                    "started": store.dialect.timestamp_param(started),
                    "completed": store.dialect.timestamp_param(started + timedelta(milliseconds=900 + 10 * index)),
                    "id": f"h-{index}",
                },
            )
        cursor.close()
    finally:
        connection.close()
    assert sorted(store.recent_durations_ms("slow-key", limit=100))[:2] == pytest.approx([900, 910], abs=2)
    schedules = Schedules(store, Polling(), Settings().wait_policy(), time.monotonic)
    learnt = schedules.for_key("slow-key")
    seed = Settings().poll_schedule
    assert learnt.delays_ms != seed.delays_ms, "the key's history gave it a plan of its own"
    assert learnt.delays_ms[0] >= 800, "no read is wasted long before any process of the key finished"
    assert schedules.for_key("no-history") == seed, "the seed's until there is history"


HISTORY = {
    "sqlite": "UPDATE process_store SET status = 'DONE', started_at = :started, completed_at = :completed "
    "WHERE correlation_id = :id",
    "postgresql": "UPDATE process_store SET status = 'DONE', started_at = %(started)s, completed_at = %(completed)s "
    "WHERE correlation_id = %(id)s",
}


def test_a_waiter_whose_listening_connection_dies_reads_every_second(
    pg_schema_url: str,
    channels_for_postgres: tuple[StoreFactory, Callable[[str, SqlStore], WakeChannel]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import psycopg  # noqa: PLC0415

    store_factory, channels = channels_for_postgres
    waiter_store, finisher_store = store_factory(), store_factory()
    waiter_store.save(NewProcess("w-3", "onboard-user", "0" * 64))
    settings = Settings(database_url=pg_schema_url)
    service = service_on(waiter_store, settings, waker=channels("postgres", waiter_store))
    assert settings.push_fallback_poll_ms >= 5000, "the default fallback is sparse"
    outcome: list[ProcessRecord] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(
            service.wait("w-3", process_key="onboard-user", deadline=time.monotonic() + WAIT_S)
        )
    )
    with waiter_store.held_connection() as connection:
        waiter_pid = connection.info.backend_pid  # the one connection it reads and listens on
    waiter.start()
    with psycopg.connect(pg_schema_url, autocommit=True) as admin:
        # Subscribed, then read once: the wait has begun once its read is the connection's last query.
        for _ in range(100):
            last = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (waiter_pid,)).fetchone()
            if last is not None and last[0].startswith(f"SELECT {COLUMN_LIST} FROM process_store"):
                break
            time.sleep(0.05)
        killed = admin.execute("SELECT pg_terminate_backend(%s)", (waiter_pid,)).fetchone()
    assert killed == (True,), "the waiter's connection was there to kill"
    # The finish goes unannounced: only the waiter's own reads can see it.
    finisher_store.finish("w-3", Outcome.done())
    finished_at = time.monotonic()
    waiter.join(WAIT_S)

    assert outcome and outcome[0].status is ProcessStatus.DONE
    assert time.monotonic() - finished_at < 3, "read again within a second or so, not at the 5 s fallback"
    assert "lost the wake channel's connection; polling instead" in caplog.text


def test_postgres_listens_reads_and_announces_on_one_connection_per_environment(
    pg_schema_url: str, channels_for_postgres: tuple[StoreFactory, Callable[[str, SqlStore], WakeChannel]]
) -> None:
    import psycopg  # noqa: PLC0415

    store_factory, channels = channels_for_postgres
    with psycopg.connect(pg_schema_url, autocommit=True) as admin:
        began = admin.execute("SELECT clock_timestamp()").fetchone()
        waiter_store, finisher_store = store_factory(), store_factory()
        settings = Settings(database_url=pg_schema_url, push_fallback_poll_ms=5000)
        service = service_on(waiter_store, settings, waker=channels("postgres", waiter_store))
        finisher = service_on(finisher_store, settings, waker=channels("postgres", finisher_store))
        for index in range(3):
            waiter_store.save(NewProcess(f"one-{index}", "onboard-user", "0" * 64))
            finishing = threading.Timer(0.2, finisher.finish, (f"one-{index}", Outcome.done()))
            finishing.start()
            waited_from = time.monotonic()
            record = service.wait(f"one-{index}", process_key="onboard-user", deadline=waited_from + WAIT_S)
            finishing.join()
            assert record is not None and record.status is ProcessStatus.DONE
            assert time.monotonic() - waited_from < 2, "woken by the notification, not the 5 s fallback"
        opened = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'waitroom' AND backend_start >= %s",
            began,
        ).fetchone()
    assert opened == (2,), "the waiter's environment and the finisher's: one connection each"


def test_waiters_sharing_one_store_are_each_woken_by_their_own_finish(
    pg_schema_url: str, channels_for_postgres: tuple[StoreFactory, Callable[[str, SqlStore], WakeChannel]]
) -> None:
    store_factory, channels = channels_for_postgres
    shared_store, finisher_store = store_factory(), store_factory()
    settings = Settings(database_url=pg_schema_url, push_fallback_poll_ms=5000)
    service = service_on(shared_store, settings, waker=channels("postgres", shared_store))
    finisher = service_on(finisher_store, settings, waker=channels("postgres", finisher_store))
    ids = [f"shared-{index}" for index in range(4)]
    for correlation_id in ids:
        shared_store.save(NewProcess(correlation_id, "onboard-user", "0" * 64))
    woken_after: dict[str, float] = {}
    finished_at: dict[str, float] = {}

    def wait(correlation_id: str) -> None:
        record = service.wait(correlation_id, process_key="onboard-user", deadline=time.monotonic() + WAIT_S)
        assert record is not None and record.status is ProcessStatus.DONE
        woken_after[correlation_id] = time.monotonic() - finished_at[correlation_id]

    waiters = [threading.Thread(target=wait, args=(correlation_id,)) for correlation_id in ids]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.3)
    # One at a time, a second apart: a waiter woken by another's notification would read too early
    # and wait again; each must wake at its own.
    for correlation_id in ids:
        finished_at[correlation_id] = time.monotonic()
        finisher.finish(correlation_id, Outcome.done())
        time.sleep(0.5)
    for waiter in waiters:
        waiter.join(WAIT_S)
    assert sorted(woken_after) == sorted(ids)
    assert max(woken_after.values()) < 2, f"each woken at its own finish: {woken_after}"


def test_a_store_that_reconnects_listens_again_on_its_new_connection(
    pg_schema_url: str, channels_for_postgres: tuple[StoreFactory, Callable[[str, SqlStore], WakeChannel]]
) -> None:
    import psycopg  # noqa: PLC0415

    store_factory, channels = channels_for_postgres
    waiter_store, finisher_store = store_factory(), store_factory()
    settings = Settings(database_url=pg_schema_url, push_fallback_poll_ms=5000)
    waiting = channels("postgres", waiter_store)
    finisher = service_on(finisher_store, settings, waker=channels("postgres", finisher_store))
    waiter_store.save(NewProcess("again-1", "onboard-user", "0" * 64))
    with waiting.subscribe("again-1") as subscription:
        with waiter_store.held_connection() as connection:
            first_pid = connection.info.backend_pid
        with psycopg.connect(pg_schema_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        # The next read finds the connection gone and replaces it.
        assert waiter_store.poll("again-1") is not None
        assert subscription.wait(1.0), "told to read again: an announcement may have gone to the old connection"
        finisher.finish("again-1", Outcome.done())
        assert subscription.wait(WAIT_S), "the finish reached the new connection"
    with waiter_store.held_connection() as connection:
        assert connection.info.backend_pid != first_pid


def test_redis_listens_on_one_kept_connection_across_waits(tmp_path: Path, redis_url: str) -> None:
    import redis  # noqa: PLC0415

    database = f"sqlite:///{tmp_path / 'wake.sqlite3'}"
    settings = Settings(database_url=database, redis_url=redis_url)
    migrate(dialect_for(database, settings))
    waiter_store, finisher_store = SqlStore(dialect_for(database, settings)), SqlStore(dialect_for(database, settings))
    waiting, announcing = wake_channel(settings, waiter_store), wake_channel(settings, finisher_store)
    service = service_on(waiter_store, settings, waker=waiting)
    finisher = service_on(finisher_store, settings, waker=announcing)
    with redis.Redis.from_url(redis_url) as admin:
        connections_before = admin.info("stats")["total_connections_received"]
        try:
            for index in range(5):
                waiter_store.save(NewProcess(f"r-{index}", "onboard-user", "0" * 64))
                finishing = threading.Timer(0.2, finisher.finish, (f"r-{index}", Outcome.done()))
                finishing.start()
                record = service.wait(f"r-{index}", process_key="onboard-user", deadline=time.monotonic() + WAIT_S)
                finishing.join()
                assert record is not None and record.status is ProcessStatus.DONE
        finally:
            for closing in (waiting, announcing, waiter_store, finisher_store):
                closing.close()
        opened = admin.info("stats")["total_connections_received"] - connections_before
    # One for the waiter's subscriptions, one for the announcements (other clients of this Redis would add theirs).
    assert opened <= 2, f"{opened} connections for 5 waits"
