"""Wake latency and database reads per wait, for every wake strategy on every backend it serves.

Per wait: a PENDING row is saved; a waiter thread calls :meth:`ProcessService.wait` with a store
(a connection) of its own and the channel under test; a finisher, with other stores, finishes the
row the drawn duration after the wait began and announces it on the same kind of channel. Wake
latency runs from the moment the finishing UPDATE has committed and returned to the finisher (noted
before the announcement goes out, so the announcement's own cost is inside the figure) to the moment
``wait()`` returns. Reads are the waiter store's ``poll`` calls.
"""

from __future__ import annotations

import itertools
import multiprocessing
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from bench import services
from bench.stats import percentile, rounded
from bench.wake_harness import CountingStore, Finisher, TimedChannel, probe_scheduling
from bench.workloads import WORKLOADS, Workload
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.engine import CamundaEngine
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.adapters.wake import InProcess, WakeChannel, wake_channel
from waitroom.bootstrap import process_service
from waitroom.domain.process import NewProcess, ProcessStatus
from waitroom.service.processes import ProcessService
from waitroom.service.waiting import PollSchedule, plan_from_history
from waitroom.settings import Settings

#: A request hash for every row (the benchmark never compares requests).
REQUEST_HASH = "0" * 64
#: Never called: waits do not talk to Camunda, but the service needs an engine.
NO_CAMUNDA = CamundaEngine(CamundaClient("http://127.0.0.1:9"), string_max_chars=4000)


@dataclass(frozen=True)
class Strategy:
    name: str
    wake_channel: Literal["poll", "inprocess", "redis", "postgres"]
    """``WAKE_CHANNEL``."""
    poll_schedule: str
    """``POLL_SCHEDULE`` (a push channel's waits read on ``PUSH_FALLBACK_POLL_MS`` instead)."""
    dialects: frozenset[str] | None = None
    """The backends it applies to (None: all)."""

    @property
    def pushes(self) -> bool:
        return self.wake_channel != "poll"

    def applies_to(self, dialect: str) -> bool:
        return self.dialects is None or dialect in self.dialects


STRATEGIES = (
    Strategy("seed", "poll", "seed"),
    Strategy("adaptive", "poll", "adaptive"),
    Strategy("inprocess", "inprocess", "adaptive"),
    Strategy("redis", "redis", "adaptive"),
    Strategy("postgres", "postgres", "adaptive", frozenset({"postgresql"})),
)


@dataclass(frozen=True)
class Config:
    waits: int = 200
    """Waits per cell (strategy x workload x backend)."""
    threads: int = 40
    """Waits in flight at once, each on a waiter thread with its own connection."""
    finishers: int = 4
    """Threads completing rows, each with its own connection."""
    processes: int = 4
    """OS processes the waiter threads are spread over (a channel that crosses processes; the
    in-process channel keeps every waiter beside its finisher). In Lambda each waiter has an
    interpreter of its own: forty threads behind one interpreter lock measure the lock."""
    deadline_s: float = 10.0
    """Each wait's deadline: generous, no drawn duration comes near it."""
    history: int = 200
    """Finished rows of the key written before an ``adaptive`` cell, for the schedule to learn from."""


@dataclass(frozen=True)
class WaitOutcome:
    correlation_id: str
    returned_at: float
    reads: int
    status: ProcessStatus
    woken_at: float | None = None
    """When a notification woke the wait (None: a read found the row final without one)."""


@dataclass(frozen=True)
class Cell:
    """One strategy on one workload on one backend."""

    url: str
    workload: Workload
    strategy: Strategy
    run_id: str

    @property
    def process_key(self) -> str:
        # A key per cell: the adaptive cell learns from its warm-up history only.
        return f"bench-{self.workload.name}-{self.strategy.name}"

    def settings(self) -> Settings:
        """Every knob the strategy does not name keeps the product's default."""
        return Settings(
            database_url=self.url,
            wake_channel=self.strategy.wake_channel,
            poll_schedule=PollSchedule.parse(self.strategy.poll_schedule),
            redis_url=SecretStr(services.REDIS_URL) if self.strategy.wake_channel == "redis" else None,
        )


def run_cell(cell: Cell, config: Config) -> dict[str, Any]:
    settings = cell.settings()
    # Only a poll-only adaptive waiter reads the history; a push channel's waits read on the fallback.
    learns = not cell.strategy.pushes and cell.strategy.poll_schedule == "adaptive"
    learnt = write_history(cell, settings, config) if learns else None
    durations = cell.workload.durations_ms(config.waits, stream="waits")
    ids = [f"{cell.run_id}-{cell.workload.name}-{cell.strategy.name}-{index}" for index in range(config.waits)]
    work = iter(zip(ids, durations, strict=True))
    take = threading.Lock()
    outcomes: list[WaitOutcome] = []

    def next_wait() -> tuple[str, float] | None:
        with take:
            return next(work, None)

    if config.processes > 1 and cell.strategy.wake_channel != "inprocess":
        return _run_in_processes(cell, settings, config, learnt, list(zip(ids, durations, strict=True)))
    overshoots: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=probe_scheduling, args=(stop, overshoots), daemon=True)
    with _channels(cell, settings, config) as (finisher, channel_for):
        waiters = [Waiter(cell, settings, config, finisher, channel_for) for _ in range(config.threads)]
        threads = [
            threading.Thread(target=waiter.run, args=(next_wait, outcomes), name=f"waiter-{index}")
            for index, waiter in enumerate(waiters)
        ]
        probe.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        probe.join()
    return _summary(outcomes, finisher, config, learnt, overshoots, processes=1)


#: How long the cell waits for a waiter process's outcomes before it gives up on it.
CHILD_TIMEOUT_S = 120.0


class RemoteFinisher:
    """The finisher as a waiter in another process sees it: a row's due time goes over a pipe."""

    def __init__(self, due: Any) -> None:
        self._due = due

    def schedule(self, correlation_id: str, at: float) -> None:
        self._due.put((correlation_id, at))


def _waiting_process(
    cell: Cell, settings: Settings, config: Config, threads: int, queues: tuple[Any, Any, Any]
) -> None:
    """Waiter threads in a process of their own (forked): each takes waits from ``work`` until a None,
    sends each row's due time over ``due`` and, at the end, every outcome over ``done``."""
    work, due, done = queues
    outcomes: list[WaitOutcome] = []
    overshoots: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=probe_scheduling, args=(stop, overshoots), daemon=True)
    finisher = RemoteFinisher(due)
    take = threading.Lock()

    def next_wait() -> tuple[str, float] | None:
        with take:
            item: tuple[str, float] | None = work.get()
            return item

    waiters = [
        Waiter(cell, settings, config, finisher, lambda store: wake_channel(settings, store)) for _ in range(threads)
    ]
    workers = [threading.Thread(target=waiter.run, args=(next_wait, outcomes)) for waiter in waiters]
    probe.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    probe.join()
    done.put((outcomes, overshoots))


def _run_in_processes(
    cell: Cell, settings: Settings, config: Config, learnt: list[int] | None, work_items: list[tuple[str, float]]
) -> dict[str, Any]:
    """The cell with its waiter threads spread over ``config.processes`` forked processes; the
    finisher stays here. Forked before any thread of this process starts (a fork copies only the
    forking thread), and this process only writes to simple queues, which start no thread."""
    context = multiprocessing.get_context("fork")
    work, due, done = context.SimpleQueue(), context.SimpleQueue(), context.Queue()
    counts = [config.threads // config.processes + (1 if index < config.threads % config.processes else 0)
              for index in range(config.processes)]  # fmt: skip
    for item in work_items:
        work.put(item)
    for _ in range(config.threads):
        work.put(None)
    children = [
        context.Process(target=_waiting_process, args=(cell, settings, config, count, (work, due, done)), daemon=True)
        for count in counts
        if count
    ]
    for child in children:
        child.start()
    outcomes: list[WaitOutcome] = []
    overshoots: list[float] = []
    with _channels(cell, settings, config) as (finisher, _):
        relay = threading.Thread(target=_relay, args=(due, finisher, len(work_items)), daemon=True)
        relay.start()
        for _ in children:
            child_outcomes, child_overshoots = done.get(timeout=CHILD_TIMEOUT_S)
            outcomes += child_outcomes
            overshoots += child_overshoots
        relay.join(timeout=config.deadline_s)
    for child in children:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    return _summary(outcomes, finisher, config, learnt, overshoots, processes=len(children))


def _relay(due: Any, finisher: Finisher, count: int) -> None:
    """The waiters' due times, from their processes to the finisher."""
    for _ in range(count):
        finisher.schedule(*due.get())


class Waiter:
    """One waiter thread: a store (a connection), a channel and a service of its own, kept across
    its waits as an execution environment keeps them across invocations."""

    def __init__(
        self,
        cell: Cell,
        settings: Settings,
        config: Config,
        finisher: Finisher | RemoteFinisher,
        channel_for: Callable[[SqlStore], WakeChannel],
    ) -> None:
        self.cell = cell
        self.settings = settings
        self.config = config
        self.finisher = finisher
        self.channel_for = channel_for

    def run(self, next_wait: Callable[[], tuple[str, float] | None], outcomes: list[WaitOutcome]) -> None:
        store = CountingStore(dialect_for(self.cell.url, self.settings))
        channel = TimedChannel(self.channel_for(store))
        service = process_service(self.settings, repository=store, waker=channel, engine=NO_CAMUNDA)
        try:
            while (item := next_wait()) is not None:
                outcome = self._wait(store, service, *item)
                outcomes.append(replace(outcome, woken_at=channel.woken_at.get(outcome.correlation_id)))
        finally:
            channel.close()
            store.close()

    def _wait(
        self, store: CountingStore, service: ProcessService, correlation_id: str, duration_ms: float
    ) -> WaitOutcome:
        key = self.cell.process_key
        store.save(NewProcess(correlation_id, key, REQUEST_HASH))
        began = time.monotonic()
        self.finisher.schedule(correlation_id, began + duration_ms / 1000)
        reads_before = store.polls
        record = service.wait(correlation_id, process_key=key, deadline=began + self.config.deadline_s)
        return WaitOutcome(correlation_id, time.monotonic(), store.polls - reads_before, record.status)


@contextmanager
def _channels(
    cell: Cell, settings: Settings, config: Config
) -> Iterator[tuple[Finisher, Callable[[SqlStore], WakeChannel]]]:
    """The finisher, announcing on the strategy's channel, and how each waiter gets its own channel.

    Each waiter gets a channel of its own (as each execution environment has), except in-process,
    whose point is that waiter and finisher share one.
    """
    with ExitStack() as cleanup:
        finisher_stores = [SqlStore(dialect_for(cell.url, settings)) for _ in range(config.finishers)]
        for store in finisher_stores:
            cleanup.callback(store.close)
        shared = InProcess() if cell.strategy.wake_channel == "inprocess" else None
        announcing: WakeChannel = shared or wake_channel(settings, finisher_stores[0])
        cleanup.callback(announcing.close)
        finisher = Finisher(finisher_stores, announcing.notify)
        cleanup.callback(finisher.close)

        def waiter_channel(store: SqlStore) -> WakeChannel:
            # Closing the shared in-process channel is harmless: it holds nothing.
            return shared if shared is not None else wake_channel(settings, store)

        yield finisher, waiter_channel


def write_history(cell: Cell, settings: Settings, config: Config) -> list[int] | None:
    """Finished rows of the cell's key, with durations from the cell's workload, started in the past
    (as SQL would hold them); returns the schedule the history teaches, to report it."""
    dialect = dialect_for(cell.url, settings)
    started = datetime.now(UTC) - timedelta(hours=1)
    connection = dialect.connect()
    try:
        cursor = connection.cursor()
        for index, duration_ms in enumerate(cell.workload.durations_ms(config.history, stream="history")):
            correlation_id = f"{cell.run_id}-{cell.workload.name}-history-{index}"
            began = started + timedelta(seconds=index)
            cursor.execute(
                dialect.statements.save,
                {
                    "correlation_id": correlation_id,
                    "process_key": cell.process_key,
                    "request_hash": REQUEST_HASH,
                    "owner": None,
                    "save_token": None,
                },
            )
            cursor.execute(
                FINISHED_IN_THE_PAST[dialect.name],
                {
                    "id": correlation_id,
                    "started": dialect.timestamp_param(began),
                    "completed": dialect.timestamp_param(began + timedelta(milliseconds=duration_ms)),
                },
            )
        cursor.close()
    finally:
        connection.close()
    store = SqlStore(dialect)
    try:
        plan = plan_from_history(store.recent_durations_ms(cell.process_key, limit=settings.adaptive_history))
    finally:
        store.close()
    return None if plan is None else list(plan.delays_ms)


FINISHED_IN_THE_PAST = {
    "sqlite": "UPDATE process_store SET status = 'DONE', started_at = :started, completed_at = :completed, "
    "updated_at = :completed WHERE correlation_id = :id",
    "postgresql": "UPDATE process_store SET status = 'DONE', started_at = %(started)s, completed_at = %(completed)s, "
    "updated_at = %(completed)s WHERE correlation_id = %(id)s",
}


def _summary(
    outcomes: list[WaitOutcome],
    finisher: Finisher,
    config: Config,
    learnt: list[int] | None,
    overshoots: list[float],
    *,
    processes: int,
) -> dict[str, Any]:
    latencies_ms = [
        (outcome.returned_at - finisher.committed_at[outcome.correlation_id]) * 1000
        for outcome in outcomes
        if outcome.status is ProcessStatus.DONE and outcome.correlation_id in finisher.committed_at
    ]
    failed = config.waits - len(latencies_ms)
    summary: dict[str, Any] = {
        "waits": len(outcomes),
        "failed": failed,
        "wake_p50_ms": rounded(percentile(latencies_ms, 50)) if latencies_ms else None,
        "wake_p95_ms": rounded(percentile(latencies_ms, 95)) if latencies_ms else None,
        "wake_p99_ms": rounded(percentile(latencies_ms, 99)) if latencies_ms else None,
        "wake_max_ms": rounded(max(latencies_ms)) if latencies_ms else None,
        # Every wait's latency, for the distribution docs/img/wake-latency.png draws (bench/plots.py).
        "wake_ms": sorted(round(latency, 2) for latency in latencies_ms),
        "reads_per_wait": rounded(sum(o.reads for o in outcomes) / len(outcomes), 2) if outcomes else None,
    }
    summary["waiter_processes"] = processes
    summary["harness_sleep_overshoot_p50_ms"] = rounded(percentile(overshoots, 50)) if overshoots else None
    summary["harness_sleep_overshoot_p99_ms"] = rounded(percentile(overshoots, 99)) if overshoots else None
    summary["breakdown_ms"] = _breakdown(outcomes, finisher)
    if learnt is not None:
        summary["learnt_schedule_ms"] = learnt
    return summary


def _breakdown(outcomes: list[WaitOutcome], finisher: Finisher) -> dict[str, Any] | None:
    """Where a woken wait's milliseconds go: the announcement (commit returned to announce call
    returned), its delivery (to the waiter's wake-up) and the read after it (to ``wait()`` returning)."""
    parts: dict[str, list[float]] = {"announce": [], "deliver": [], "read_and_return": []}
    for outcome in outcomes:
        committed = finisher.committed_at.get(outcome.correlation_id)
        announced = finisher.announced_at.get(outcome.correlation_id)
        if committed is None or announced is None or outcome.woken_at is None or outcome.woken_at < committed:
            continue
        parts["announce"].append((announced - committed) * 1000)
        parts["deliver"].append((outcome.woken_at - announced) * 1000)
        parts["read_and_return"].append((outcome.returned_at - outcome.woken_at) * 1000)
    if not parts["announce"]:
        return None
    return {
        name: {"p50": rounded(percentile(values, 50)), "p99": rounded(percentile(values, 99))}
        for name, values in parts.items()
    } | {"woken_waits": len(parts["announce"])}


@dataclass(frozen=True)
class Backend:
    dialect: str
    open: Callable[[], Any]
    """A context manager giving the URL of an empty database of this backend."""


@contextmanager
def _sqlite_file() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="waitroom-bench-") as directory:
        yield f"sqlite:///{Path(directory) / 'waitroom.sqlite3'}"


def backends(*, postgres: bool) -> list[Backend]:
    found = [Backend("sqlite", _sqlite_file)]
    if postgres:
        found.append(Backend("postgresql", services.postgres_schema))
    return found


def run(
    config: Config,
    *,
    postgres: bool,
    redis: bool,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Every cell: ``{backend: {workload: {strategy: figures}}}``."""
    run_id = f"b{secrets.token_hex(4)}"
    results: dict[str, Any] = {}
    for backend in backends(postgres=postgres):
        with backend.open() as url:
            migrate(dialect_for(url, Settings(database_url=url)))
            for workload, strategy in itertools.product(WORKLOADS, STRATEGIES):
                if not strategy.applies_to(backend.dialect) or (strategy.wake_channel == "redis" and not redis):
                    continue
                began = time.monotonic()
                figures = run_cell(Cell(url, workload, strategy, run_id), config)
                results.setdefault(backend.dialect, {}).setdefault(workload.name, {})[strategy.name] = figures
                progress(
                    f"wake {backend.dialect}/{workload.name}/{strategy.name}: p99 {figures['wake_p99_ms']} ms, "
                    f"{figures['reads_per_wait']} reads ({time.monotonic() - began:.0f} s)"
                )
    return results
