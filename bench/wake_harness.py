"""The two sides of a measured wait: the waiter's store, which counts its reads, and the finisher,
which completes rows on time from connections of its own and notes when each commit returned."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from waitroom.adapters.store import SqlStore
from waitroom.adapters.store.base import Dialect
from waitroom.adapters.wake import WakeChannel
from waitroom.domain.errors import WaitroomError
from waitroom.domain.process import Outcome, ProcessRecord
from waitroom.service.ports import Subscription


class TimedChannel:
    """A waiter's channel that notes when each notification woke its waiter: between the commit and
    the return of ``wait()``, the announcement's delivery and the waiter's read are told apart."""

    def __init__(self, channel: WakeChannel) -> None:
        self.channel = channel
        self.name, self.pushes = channel.name, channel.pushes
        self.woken_at: dict[str, float] = {}

    @contextmanager
    def subscribe(self, correlation_id: str) -> Iterator[Subscription]:
        with self.channel.subscribe(correlation_id) as subscription:
            yield _TimedSubscription(subscription, lambda: self.woken_at.setdefault(correlation_id, time.monotonic()))

    def notify(self, correlation_id: str) -> None:
        self.channel.notify(correlation_id)

    def close(self) -> None:
        self.channel.close()


class _TimedSubscription:
    def __init__(self, subscription: Subscription, woken: Callable[[], object]) -> None:
        self._subscription, self._woken = subscription, woken

    def wait(self, timeout_s: float) -> bool:
        notified = self._subscription.wait(timeout_s)
        if notified:
            self._woken()
        return notified


def probe_scheduling(stop: threading.Event, into: list[float]) -> None:
    """How late a 1 ms sleep wakes in this process, until ``stop``: the harness's own scheduling
    delay (the interpreter lock, the machine's load), measured beside the wake latency."""
    while not stop.is_set():
        began = time.monotonic()
        time.sleep(0.001)
        into.append((time.monotonic() - began - 0.001) * 1000)


class CountingStore(SqlStore):
    """The waiter's store, counting the reads of the wait loop (one store per waiter thread)."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.polls = 0

    def poll(self, correlation_id: str) -> ProcessRecord | None:
        self.polls += 1
        return super().poll(correlation_id)


@dataclass(order=True)
class _Due:
    at: float
    correlation_id: str = field(compare=False)


class Finisher:
    """Completes each row at its due time, from stores of its own (as the worker or ``/complete``
    would, in another execution environment), and notes when each completion's commit returned."""

    def __init__(self, stores: list[SqlStore], announce: Callable[[str], None]) -> None:
        self.committed_at: dict[str, float] = {}
        #: When the announcement call returned (the commit's return is ``committed_at``).
        self.announced_at: dict[str, float] = {}
        #: Completions the store refused (the database out of reach): their waits fail.
        self.failures = 0
        self._announce = announce
        self._due: list[_Due] = []
        self._changed = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._run, args=(store,), name=f"finisher-{index}", daemon=True)
            for index, store in enumerate(stores)
        ]
        for thread in self._threads:
            thread.start()

    def schedule(self, correlation_id: str, at: float) -> None:
        with self._changed:
            heapq.heappush(self._due, _Due(at, correlation_id))
            self._changed.notify_all()

    def _next(self) -> str | None:
        """The next row whose time has come, once it has; None when stopped."""
        with self._changed:
            while not self._stopped:
                now = time.monotonic()
                if self._due and self._due[0].at <= now:
                    return heapq.heappop(self._due).correlation_id
                self._changed.wait(self._due[0].at - now if self._due else None)
            return None

    def _run(self, store: SqlStore) -> None:
        while (correlation_id := self._next()) is not None:
            # As ProcessService.finish does, less the metrics; the commit time is taken between the two.
            # A row not finished has no commit time: its wait counts as failed.
            try:
                finished = store.finish(correlation_id, Outcome.done({"bench": True}))
            except WaitroomError:
                with self._changed:
                    self.failures += 1
                continue
            if finished is not None:
                self.committed_at[correlation_id] = time.monotonic()
                self._announce(correlation_id)
                self.announced_at[correlation_id] = time.monotonic()

    def close(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()
