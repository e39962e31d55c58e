"""Waking a waiting request as soon as its process finishes, with polling kept as the fallback.

A waiter subscribes to its process *before* its first read of the row, so that a finish between
that read and the wait cannot be missed; it then pauses as the poll schedule says, but wakes at
once when the process's finish is announced, and reads the row again. The row stays the truth: a
notification only says "read now". A lost notification costs latency (until the next fallback
read, ``PUSH_FALLBACK_POLL_MS``), never correctness.

Channels: PostgreSQL ``LISTEN/NOTIFY`` (on the store's connection), Redis pub/sub
(``REDIS_URL``; ElastiCache in AWS), an in-process registry (waiter and finisher in one process),
and none (polling only).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from waitroom.adapters.store.base import SqlStore
from waitroom.domain.errors import StoreUnavailable
from waitroom.service.ports import Subscription
from waitroom.settings import Settings

logger = logging.getLogger(__name__)


#: How often a waiter reads the row once its subscription has failed, until its wait ends: the
#: failure may have swallowed the notification, and a broken channel announces nothing.
READ_EVERY_S_WITHOUT_CHANNEL = 1.0


class Sleeping:
    """A subscription nobody notifies: the pause is a plain sleep, of at most ``at_most_s``."""

    def __init__(self, at_most_s: float | None = None) -> None:
        self._at_most_s = at_most_s

    def wait(self, timeout_s: float) -> bool:
        pause = timeout_s if self._at_most_s is None else min(timeout_s, self._at_most_s)
        time.sleep(max(0.0, pause))
        return False


class Polling:
    """No push at all: waiters poll on their schedule."""

    name = "poll"
    pushes = False

    @contextmanager
    def subscribe(self, correlation_id: str) -> Iterator[Subscription]:
        yield Sleeping()

    def notify(self, correlation_id: str) -> None:
        """Nobody listens."""

    def close(self) -> None:
        """Nothing held."""


class _Waiters:
    """The events of the threads waiting, by what wakes them (a correlation id, a channel)."""

    def __init__(self) -> None:
        self._events: dict[str, set[threading.Event]] = {}
        self._guard = threading.Lock()

    def add(self, key: str) -> threading.Event:
        event = threading.Event()
        with self._guard:
            self._events.setdefault(key, set()).add(event)
        return event

    def remove(self, key: str, event: threading.Event) -> bool:
        """Forget ``event``; True when it was the last one waiting on ``key``."""
        with self._guard:
            events = self._events.get(key, set())
            events.discard(event)
            if events:
                return False
            self._events.pop(key, None)
            return True

    def waited(self) -> list[str]:
        """The keys someone waits on."""
        with self._guard:
            return list(self._events)

    def wake(self, key: str) -> None:
        with self._guard:
            events = list(self._events.get(key, ()))
        for event in events:
            event.set()

    def wake_all(self) -> bool:
        """Wake every waiter; True when there was one."""
        with self._guard:
            events = [event for waiting in self._events.values() for event in waiting]
        for event in events:
            event.set()
        return bool(events)


class InProcess:
    """Waiters and finishers in one process (the embedded single-process case, benchmarks)."""

    name = "inprocess"
    pushes = True

    def __init__(self) -> None:
        self._waiters = _Waiters()

    @contextmanager
    def subscribe(self, correlation_id: str) -> Iterator[Subscription]:
        event = self._waiters.add(correlation_id)
        try:
            yield _EventSubscription(event)
        finally:
            self._waiters.remove(correlation_id, event)

    def notify(self, correlation_id: str) -> None:
        self._waiters.wake(correlation_id)

    def close(self) -> None:
        """Nothing held."""


class _EventSubscription:
    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def wait(self, timeout_s: float) -> bool:
        woken = self._event.wait(max(0.0, timeout_s))
        self._event.clear()
        return woken


class _NetworkSubscription:
    """A subscription over a connection that can fail. At the failure it drops the connection (the
    next wait opens a new one) and answers at once, so the row is read; for the rest of this wait it
    reads every ``READ_EVERY_S_WITHOUT_CHANNEL``, as a waiter that could not subscribe does."""

    def __init__(self, failures: tuple[type[Exception], ...], drop_connection: Callable[[], None]) -> None:
        self._failures = failures
        self._drop_connection = drop_connection
        self._lost = False

    def wait(self, timeout_s: float) -> bool:
        if self._lost:
            return Sleeping(READ_EVERY_S_WITHOUT_CHANNEL).wait(timeout_s)
        try:
            return self._notified_within(max(0.0, timeout_s))
        except self._failures:
            logger.warning("lost the wake channel's connection; polling instead", exc_info=True)
            self._lost = True
            self._drop_connection()
            return False

    def _notified_within(self, timeout_s: float) -> bool:
        raise NotImplementedError


def channel_name(correlation_id: str) -> str:
    """A channel per process, a valid identifier whatever the id holds (PostgreSQL allows 63 bytes)."""
    return "waitroom_" + hashlib.sha256(correlation_id.encode()).hexdigest()[:40]


class Postgres:
    """PostgreSQL ``LISTEN/NOTIFY`` on the store's own connection: an execution environment holds
    one connection, on which it reads the row, listens for the finish and announces the finishes of
    others, one statement at a time. psycopg keeps the notifications that arrive during a read for
    the next wait, so listening between reads misses none.

    Threads may share the store (the worker's announce; the tests wait side by side): one waiting
    thread at a time takes the connection for at most ``PUMP_SLICE_S`` and hands each notification
    to the waiters of its channel, so the others' statements never wait longer than that. When the
    store has replaced its connection (a dropped one is re-opened by the next statement), the
    channels are listened to again on the new one and every waiter reads its row once more: a
    finish announced in between went to the old connection.
    """

    name = "postgres"
    pushes = True

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._waiters = _Waiters()
        self._pumping = threading.Lock()
        self._listening_on: Any = None
        """The connection every waited channel is listened to on."""

    @contextmanager
    def subscribe(self, correlation_id: str) -> Iterator[Subscription]:
        import psycopg  # noqa: PLC0415 -- the driver of the backend in use only

        channel = channel_name(correlation_id)
        try:
            with self._store.held_connection() as connection:
                self._listen_on(connection)
                connection.execute(f'LISTEN "{channel}"')
                event = self._waiters.add(channel)
        except (psycopg.Error, StoreUnavailable):
            logger.warning("cannot listen for the process's finish; polling instead", exc_info=True)
            self._store.close()
            yield Sleeping(READ_EVERY_S_WITHOUT_CHANNEL)
            return
        try:
            yield _PostgresSubscription(self, event)
        finally:
            self._unsubscribe(channel, event)

    def _unsubscribe(self, channel: str, event: threading.Event) -> None:
        import psycopg  # noqa: PLC0415

        if not self._waiters.remove(channel, event):
            return
        try:
            with self._store.held_connection() as connection:
                if connection is self._listening_on:
                    connection.execute(f'UNLISTEN "{channel}"')
        except (psycopg.Error, StoreUnavailable):
            self._store.close()

    def _listen_on(self, connection: Any) -> bool:
        """Listen to every waited channel on ``connection`` if the store has replaced the one they
        were listened to on, and wake their waiters (a notification may have gone to the old one);
        True when it had."""
        if connection is self._listening_on:
            return False
        for channel in self._waiters.waited():
            connection.execute(f'LISTEN "{channel}"')
        self._listening_on = connection
        return self._waiters.wake_all()

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """Until ``event`` is set (True) or ``timeout_s`` has passed (False). One waiting thread at a
        time listens on the connection, in slices, and hands each notification to the waiters of its
        channel; the others wait on their events. Raises the driver's error when the connection failed."""
        deadline = time.monotonic() + timeout_s
        while not event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._pumping.acquire(blocking=False):
                try:
                    self._pump(min(remaining, PUMP_SLICE_S))
                finally:
                    self._pumping.release()
            else:
                event.wait(min(remaining, PUMP_SLICE_S))
        event.clear()
        return True

    def _pump(self, within_s: float) -> None:
        with self._store.held_connection() as connection:
            if self._listen_on(connection):
                return
            received = list(connection.notifies(timeout=within_s, stop_after=1))
        for notice in received:
            self._waiters.wake(notice.channel)

    def connection_lost(self) -> None:
        self._store.close()

    def notify(self, correlation_id: str) -> None:
        import psycopg  # noqa: PLC0415

        try:
            with self._store.held_connection() as connection:
                connection.execute("SELECT pg_notify(%s, '')", (channel_name(correlation_id),))
        except (psycopg.Error, StoreUnavailable):
            logger.warning("could not announce a process's finish; its waiters will poll", exc_info=True)
            self._store.close()

    def close(self) -> None:
        """The connection is the store's: closing the store closes it."""
        self._listening_on = None


#: How long a waiting thread holds a shared store's connection to listen, at most, before it lets
#: another thread's statement run (in Lambda no other thread waits: the slices simply follow on).
PUMP_SLICE_S = 0.05


class _PostgresSubscription(_NetworkSubscription):
    def __init__(self, channel: Postgres, event: threading.Event) -> None:
        import psycopg  # noqa: PLC0415

        super().__init__((psycopg.Error,), channel.connection_lost)
        self._channel = channel
        self._event = event

    def _notified_within(self, timeout_s: float) -> bool:
        return self._channel.wait(self._event, timeout_s)


class Redis:
    """Redis pub/sub (``REDIS_URL``): works beside any store, and across every process and host.

    Each waiting thread subscribes on a connection of its own, kept between waits (a new connection
    per wait would be a TLS handshake per request on ElastiCache); a failure drops it.
    """

    name = "redis"
    pushes = True

    def __init__(self, url: str, *, timeout_s: float) -> None:
        import redis  # noqa: PLC0415 -- only when Redis is configured

        self._client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        self._listening = threading.local()
        self._listeners: list[Any] = []
        self._guard = threading.Lock()

    @staticmethod
    def channel(correlation_id: str) -> str:
        return f"waitroom:finished:{correlation_id}"

    def listener(self) -> Any:
        pubsub = getattr(self._listening, "pubsub", None)
        if pubsub is None:
            pubsub = self._listening.pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            with self._guard:
                self._listeners.append(pubsub)
        return pubsub

    def drop_listener(self) -> None:
        pubsub = getattr(self._listening, "pubsub", None)
        self._listening.pubsub = None
        if pubsub is not None:
            with self._guard:
                self._listeners.remove(pubsub)
            pubsub.close()

    @contextmanager
    def subscribe(self, correlation_id: str) -> Iterator[Subscription]:
        import redis  # noqa: PLC0415

        channel = self.channel(correlation_id)
        try:
            pubsub = self.listener()
            pubsub.subscribe(channel)
        except redis.RedisError:
            logger.warning("cannot subscribe to the process's finish; polling instead", exc_info=True)
            self.drop_listener()
            yield Sleeping(READ_EVERY_S_WITHOUT_CHANNEL)
            return
        try:
            yield _RedisSubscription(pubsub, channel, drop_connection=self.drop_listener)
        finally:
            try:
                pubsub.unsubscribe(channel)
            except redis.RedisError:
                self.drop_listener()

    def notify(self, correlation_id: str) -> None:
        import redis  # noqa: PLC0415

        try:
            self._client.publish(self.channel(correlation_id), "1")
        except redis.RedisError:
            logger.warning("could not announce a process's finish; its waiters will poll", exc_info=True)

    def close(self) -> None:
        with self._guard:
            listeners, self._listeners = self._listeners, []
        for pubsub in listeners:
            pubsub.close()
        self._client.close()


class _RedisSubscription(_NetworkSubscription):
    def __init__(self, pubsub: Any, channel: str, *, drop_connection: Callable[[], None]) -> None:
        import redis  # noqa: PLC0415

        super().__init__((redis.RedisError,), drop_connection)
        self._pubsub = pubsub
        self._channel = channel.encode()

    def _notified_within(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        # get_message returns early for other traffic (a confirmation, a late message of an earlier
        # wait on this kept connection): only this process's announcement wakes the waiter.
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=remaining)
            if message is not None and message.get("type") == "message" and message.get("channel") == self._channel:
                return True
        return False


WakeChannel = Polling | InProcess | Postgres | Redis


def wake_channel(settings: Settings, store: SqlStore) -> WakeChannel:
    """The channel ``WAKE_CHANNEL`` names; ``auto`` is Redis when ``REDIS_URL`` is set, else the
    database's own when its dialect can push (PostgreSQL's LISTEN/NOTIFY), else polling (SQL Server
    and SQLite alone have no push)."""
    chosen = settings.wake_channel
    if chosen == "auto":
        if settings.redis_url is not None:
            chosen = "redis"
        elif store.dialect.pushes_wake_ups:
            chosen = "postgres"
        else:
            chosen = "poll"
    if chosen == "redis":
        if settings.redis_url is None:
            raise ValueError("WAKE_CHANNEL=redis needs REDIS_URL")
        return Redis(settings.redis_url.get_secret_value(), timeout_s=settings.db_connect_timeout_s)
    if chosen == "postgres":
        if not store.dialect.pushes_wake_ups:
            raise ValueError("WAKE_CHANNEL=postgres needs a PostgreSQL store")
        return Postgres(store)
    if chosen == "inprocess":
        return InProcess()
    return Polling()
