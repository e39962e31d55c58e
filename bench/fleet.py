"""The fleet simulation: N start environments waiting at once, against a real database server.

Each simulated environment is a thread holding what an execution environment of the start function
holds across invocations: a store (its connection), a wake channel and a :class:`ProcessService` of
its own, all the product's code. It runs one wait at a time, back to back, as an environment serves
one request at a time: save a PENDING row, wait for it, save the next. The waiters are spread over
several OS processes (so that one interpreter's lock is not what is measured), and a finisher
process completes each row when its drawn duration (the log-normal workload) has passed, from
connections of its own, announcing on the schedule's channel as the worker would.

PostgreSQL is a private cluster the section starts itself (:mod:`bench.pg_cluster`); waiters and
finishers log in as roles of their own, so the server counts each side's statements
(``pg_stat_statements``) and connections (``pg_stat_activity``). SQLite has no server: its
statements and open connections are counted on the stores' connections (:mod:`bench.counting`).

Figures come from a window in the steady state, after every environment has connected and run for
a while; the waits started in the window give the arrival rate, the wake latencies are those of
every wait that finished, and the harness's own scheduling delay (how late a 1 ms sleep wakes, in
each waiter process) is measured beside them.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import capacity, machine, services
from bench.counting import CountingDialect, Counts
from bench.pg_cluster import Cluster, grant_tables, private_cluster
from bench.stats import percentile, rounded
from bench.wake_harness import Finisher
from bench.wake_latency import NO_CAMUNDA, REQUEST_HASH, Cell, Strategy, write_history
from bench.wake_latency import Config as WakeConfig
from bench.workloads import LOGNORMAL, LOGNORMAL_SIGMA
from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.adapters.wake import wake_channel
from waitroom.bootstrap import process_service
from waitroom.domain.process import NewProcess, ProcessStatus
from waitroom.service.processes import ProcessService
from waitroom.service.schedules import Learnt
from waitroom.service.waiting import PollSchedule
from waitroom.settings import Settings

#: The schedules of the fleet: the two poll schedules and the two push channels that cross processes.
SCHEDULES = (
    Strategy("seed", "poll", "seed"),
    Strategy("adaptive", "poll", "adaptive"),
    Strategy("listen-notify", "postgres", "adaptive", frozenset({"postgresql"})),
    Strategy("redis", "redis", "adaptive"),
)
#: A schedule's p99 this many times its p99 at the smallest fleet marks where latency grows.
GROWTH_FACTOR = 2.0


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...] = (100, 500, 2000)
    """Environments waiting at once."""
    window_s: float = 3.0
    """The measured window of each cell."""
    settle_s: float = 1.5
    """From the first wait to the window: the back-to-back waits desynchronise."""
    waiter_processes: int = 4
    """OS processes the waiters are spread over."""
    finisher_threads: int = 8
    """Connections completing rows, in the finisher process."""
    deadline_s: float = 10.0
    """Each wait's deadline: no drawn duration comes near it; a wait that reaches it is an error."""
    history: int = 200
    """Finished rows of the key written before an adaptive cell, for its schedule to learn from."""
    cell_timeout_s: float = 60.0
    """A cell that has not ended by then is stopped and reported as failed."""
    cold_starts_per_s: float = 200.0
    """How fast the environments come up: Lambda scales a function by 1,000 environments every
    10 s, and a server forking 2,000 backends in the same instant times its connections out."""


@dataclass(frozen=True)
class ProcessSpec:
    """What one waiter process runs (handed to a forked process)."""

    index: int
    waiters: int
    url: str
    strategy: Strategy
    process_key: str
    run_id: str
    settle_s: float
    window_s: float
    deadline_s: float
    stagger_s: float
    cold_start_every_s: float
    """Between two cold starts of this process's environments."""


@dataclass
class ProcessReport:
    """What a waiter process measured."""

    outcomes: list[tuple[str, float, float, int, bool]] = field(default_factory=list)
    """Per wait: correlation id, began, returned, reads, ended DONE."""
    errors: dict[str, int] = field(default_factory=dict)
    statements_in_window: int = 0
    connections: int = 0
    """Database connections its environments held in the middle of the window (client side)."""
    cpu_s_in_window: float = 0.0
    sleep_overshoot_ms: list[float] = field(default_factory=list)


class FleetStore(SqlStore):
    """The product's store, on a dialect counting its statements and connections (:mod:`bench.counting`),
    and counting the wait loop's reads."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.counts = Counts()
        super().__init__(CountingDialect(dialect_for(url, settings), self.counts))
        self.polls = 0

    def poll(self, correlation_id: str) -> Any:
        self.polls += 1
        return super().poll(correlation_id)

    @property
    def connected(self) -> bool:
        return self.counts.open_connections > 0


def cell_settings(url: str, strategy: Strategy) -> Settings:
    return Cell(url, LOGNORMAL, strategy, "fleet").settings()


class _CountingHandler(logging.Handler):
    """Counts the product's warnings (a lost channel, a reconnect) instead of printing thousands."""

    def __init__(self, into: dict[str, int], guard: threading.Lock) -> None:
        super().__init__(logging.WARNING)
        self.into, self.guard = into, guard

    def emit(self, record: logging.LogRecord) -> None:
        name = f"logged: {record.getMessage()[:60]}"
        with self.guard:
            self.into[name] = self.into.get(name, 0) + 1


def _count_warnings(into: dict[str, int], guard: threading.Lock) -> None:
    product = logging.getLogger("waitroom")
    product.handlers = [_CountingHandler(into, guard)]
    product.propagate = False


def _waiter_process(spec: ProcessSpec, go_at: Any, ready: Any, due: Any, reports: Any) -> None:
    """One OS process of waiters: connect them all, say ready, run from ``go_at`` to the window's end."""
    threading.stack_size(512 * 1024)
    WaiterProcess(spec, due).run(go_at, ready, reports)


class WaiterProcess:
    """The environments of one waiter process, and what the process measures about them."""

    def __init__(self, spec: ProcessSpec, due: Any) -> None:
        self.spec, self.due = spec, due
        self.settings = cell_settings(spec.url, spec.strategy)
        self.report = ProcessReport()
        self.guard = threading.Lock()
        _count_warnings(self.report.errors, self.guard)
        self.connected = threading.Barrier(spec.waiters + 1)
        self.went = threading.Event()
        self.window = (float("inf"), float("inf"))
        self.stores: list[FleetStore] = []
        self.learnt: Learnt | None = None

    def run(self, go_at: Any, ready: Any, reports: Any) -> None:
        spec = self.spec
        threads = [
            threading.Thread(target=self.environment, args=(number,), daemon=True) for number in range(spec.waiters)
        ]
        for thread in threads:
            thread.start()
        self.connected.wait()
        ready.put(spec.index)
        while go_at.value == 0.0:
            time.sleep(0.005)
        self.window = (go_at.value + spec.settle_s, go_at.value + spec.settle_s + spec.window_s)
        self.went.set()
        _sleep_until(self.window[0])
        cpu_began = _cpu_s()
        overshoots = _probe_scheduling(until=self.window[1] - spec.window_s / 2)
        self.report.connections = sum(1 for store in self.stores if store.connected)
        overshoots += _probe_scheduling(until=self.window[1])
        self.report.cpu_s_in_window = _cpu_s() - cpu_began
        self.report.sleep_overshoot_ms = overshoots
        for thread in threads:
            thread.join(timeout=spec.deadline_s + 5)
        self.report.statements_in_window = sum(store.counts.statements_in_window for store in self.stores)
        for store in self.stores:
            store.close()
        reports.put(asdict(self.report))

    def count(self, error: str) -> None:
        with self.guard:
            self.report.errors[error] = self.report.errors.get(error, 0) + 1

    def environment(self, number: int) -> None:
        """One start environment: a cold start, then one wait after the other until the window ends."""
        store = FleetStore(self.spec.url, self.settings)
        time.sleep(number * self.spec.cold_start_every_s)
        try:
            channel = wake_channel(self.settings, store)
            service = process_service(self.settings, repository=store, waker=channel, engine=NO_CAMUNDA)
            # Cold start: the connection (and the listening one) opens before the fleet goes.
            store.poll("fleet-cold-start")
            self.learn(service)
            with channel.subscribe(f"fleet-cold-start-{self.spec.index}-{number}"):
                pass
        except Exception as exc:
            self.count(f"at cold start: {_error_name(exc)}")
            self.connected.wait()
            return
        with self.guard:
            self.stores.append(store)
        self.connected.wait()
        self.went.wait()
        store.counts.window = self.window
        store.polls = 0
        try:
            self.serve(number, store, service)
        finally:
            channel.close()

    def learn(self, service: ProcessService) -> None:
        """The key's learnt schedule, before the fleet goes. An environment learns it at its first
        request (then once a minute): 18 ms of CPU here, which 2,000 environments would spend at the
        same moment on this machine's two cores, while a real fleet spreads it over its starts and
        its own CPUs. So the process's first environment learns it, as its first request would, and
        the others are handed that very schedule (the key's history is the same for all)."""
        key = self.spec.process_key
        with self.guard:
            if self.learnt is None:
                service.schedules.for_key(key)
                self.learnt = service.schedules.learnt(key)
            else:
                service.schedules.adopt(key, self.learnt)

    def serve(self, number: int, store: FleetStore, service: ProcessService) -> None:
        spec = self.spec
        # Not for security: a reproducible stream of durations per environment.
        rng = random.Random(f"{spec.run_id}:{spec.index}:{number}")  # noqa: S311
        durations = iter(LOGNORMAL.durations_ms(64, stream=f"fleet-{spec.index}-{number}"))
        time.sleep(rng.uniform(0, spec.stagger_s))
        sequence = 0
        while time.monotonic() < self.window[1]:
            correlation_id = f"{spec.run_id}-{spec.index}-{number}-{sequence}"
            sequence += 1
            try:
                store.save(NewProcess(correlation_id, spec.process_key, REQUEST_HASH))
                began = time.monotonic()
                self.due.put(("due", correlation_id, began + next(durations) / 1000))
                reads_before = store.polls
                record = service.wait(correlation_id, process_key=spec.process_key, deadline=began + spec.deadline_s)
                outcome = (correlation_id, began, time.monotonic(), store.polls - reads_before,
                           record.status is ProcessStatus.DONE)  # fmt: skip
                with self.guard:
                    self.report.outcomes.append(outcome)
            except Exception as exc:
                self.count(_error_name(exc))
                time.sleep(0.05)


def _finisher_process(url: str, strategy: Strategy, threads: int, due: Any, results: Any) -> None:
    """Completes every row when it is due, from connections of its own, announcing on the channel."""
    settings = cell_settings(url, strategy)
    _count_warnings({}, threading.Lock())
    stores = [FleetStore(url, settings) for _ in range(threads)]
    announcing = wake_channel(settings, stores[0])
    finisher = Finisher(list(stores), announcing.notify)
    try:
        while (item := due.get())[0] != "stop":
            if item[0] == "due":
                finisher.schedule(item[1], item[2])
            else:
                for store in stores:
                    store.counts.window = (item[1], item[2])
    finally:
        finisher.close()
        announcing.close()
        for store in stores:
            store.close()
    results.put(
        {
            "failures": finisher.failures,
            "committed_at": finisher.committed_at,
            "statements_in_window": sum(store.counts.statements_in_window for store in stores),
        }
    )


def _error_name(error: BaseException) -> str:
    """An error as the table shows it: its class and the start of its message."""
    return f"{type(error).__name__}: {str(error)[:60]}"


def _sleep_until(moment: float) -> None:
    while (left := moment - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))


def _probe_scheduling(*, until: float) -> list[float]:
    """How late a 1 ms sleep wakes in this process, again and again until ``until``."""
    overshoots = []
    while (began := time.monotonic()) < until:
        time.sleep(0.001)
        overshoots.append((time.monotonic() - began - 0.001) * 1000)
    return overshoots


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


# --- the database server's side --------------------------------------------------------------------


def server_cpu(cluster: Cluster) -> dict[int, float]:
    """CPU seconds of the postmaster and of each of its processes (a backend per connection); 0 for
    a postmaster that has gone."""
    postmaster = cluster.postmaster_pid()
    table = machine.processes()
    backends = [pid for pid, times in table.items() if times.parent == postmaster]
    return {pid: table[pid].cpu_s if pid in table else 0.0 for pid in [postmaster, *backends]}


@dataclass
class ServerSide:
    """What the database and Redis servers say about one window."""

    statements: dict[str, int] = field(default_factory=dict)
    connections_peak: dict[str, int] = field(default_factory=dict)
    cpu_s: float | None = None
    redis_cpu_s: float | None = None
    redis_connections_peak: int | None = None
    failed: str | None = None


def observe(
    cluster: Cluster | None, admin: psycopg.Connection[Any] | None, redis_client: redis.Redis | None, *, until: float
) -> ServerSide:
    """Statements, peak connections and CPU of the servers from now to ``until`` (the window), read
    on ``admin``, a connection opened before the fleet went (a loaded server is slow to accept one)."""
    seen = ServerSide()
    if admin is not None:
        admin.execute("SELECT pg_stat_statements_reset()")
    began_cpu = server_cpu(cluster) if cluster is not None else {}
    began_redis = _redis_cpu(redis_client)
    redis_baseline = _redis_clients(redis_client)
    try:
        while time.monotonic() < until:
            if admin is not None:
                for role, count in admin.execute(
                    "SELECT usename, count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "GROUP BY usename"
                ).fetchall():
                    seen.connections_peak[str(role)] = max(seen.connections_peak.get(str(role), 0), int(count))
            clients = _redis_clients(redis_client)
            if clients is not None and redis_baseline is not None:
                seen.redis_connections_peak = max(seen.redis_connections_peak or 0, clients - redis_baseline)
            time.sleep(min(0.5, max(0.0, until - time.monotonic())))
        if admin is not None:
            for role, calls in admin.execute(
                "SELECT r.rolname, sum(s.calls) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                "GROUP BY r.rolname"
            ).fetchall():
                seen.statements[str(role)] = int(calls)
            ended = server_cpu(cluster) if cluster is not None else {}
            seen.cpu_s = round(sum(cpu - began_cpu.get(pid, 0.0) for pid, cpu in ended.items()), 2)
        ended_redis = _redis_cpu(redis_client)
        if began_redis is not None and ended_redis is not None:
            seen.redis_cpu_s = round(ended_redis - began_redis, 2)
    except psycopg.Error as exc:
        seen.failed = f"{type(exc).__name__}: {exc}"
    return seen


def _redis_cpu(client: redis.Redis | None) -> float | None:
    if client is None:
        return None
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _redis_clients(client: redis.Redis | None) -> int | None:
    return None if client is None else int(client.info("clients")["connected_clients"])


# --- one cell, the section ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a cell's two sides connect."""

    backend: str
    waiter_url: str
    finisher_url: str
    cluster: Cluster | None


def run_cell(
    target: Target, strategy: Strategy, size: int, config: Config, *, redis_client: redis.Redis | None, run_id: str
) -> dict[str, Any]:
    # Forked from this process, which has imported everything and runs no thread: a spawned
    # interpreter would spend seconds importing under load before its first connection.
    context = multiprocessing.get_context("fork")
    cell = Cell(target.waiter_url, LOGNORMAL, strategy, run_id)
    settings = cell.settings()
    learns = not strategy.pushes and strategy.poll_schedule == "adaptive"
    learnt = write_history(cell, settings, WakeConfig(history=config.history)) if learns else None
    processes = max(1, min(config.waiter_processes, size // 25))
    go_at = context.Value("d", 0.0)
    # This process only reads the queues (a put would start a feeder thread, and the next fork would
    # copy a process with threads): what it sends goes through the simple queue, written directly.
    ready, reports, results = context.Queue(), context.Queue(), context.Queue()
    due = context.SimpleQueue()
    finisher = context.Process(
        target=_finisher_process,
        args=(target.finisher_url, strategy, config.finisher_threads, due, results),
        daemon=True,
    )
    specs = [
        ProcessSpec(
            index=index,
            waiters=size // processes + (1 if index < size % processes else 0),
            url=target.waiter_url,
            strategy=strategy,
            process_key=cell.process_key,
            run_id=run_id,
            settle_s=config.settle_s,
            window_s=config.window_s,
            deadline_s=config.deadline_s,
            stagger_s=LOGNORMAL_MEDIAN_S,
            cold_start_every_s=processes / config.cold_starts_per_s,
        )
        for index in range(processes)
    ]
    waiters = [context.Process(target=_waiter_process, args=(spec, go_at, ready, due, reports), daemon=True)
               for spec in specs]  # fmt: skip
    began = time.monotonic()
    for process in [finisher, *waiters]:
        process.start()
    admin = None
    try:
        if target.cluster is not None:
            admin = psycopg.connect(target.cluster.url(), autocommit=True, connect_timeout=30)
        for _ in waiters:
            ready.get(timeout=config.cell_timeout_s)
        connected_s = time.monotonic() - began
        go_at.value = time.monotonic()
        window = (go_at.value + config.settle_s, go_at.value + config.settle_s + config.window_s)
        due.put(("window", *window))
        _sleep_until(window[0])
        server = observe(
            target.cluster, admin, redis_client if strategy.wake_channel == "redis" else None, until=window[1]
        )
        process_reports = [ProcessReport(**reports.get(timeout=config.cell_timeout_s)) for _ in waiters]
        due.put(("stop",))
        finished = results.get(timeout=config.cell_timeout_s)
    finally:
        if admin is not None:
            admin.close()
        for process in [*waiters, finisher]:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    figures = _figures(
        target,
        strategy=strategy,
        size=size,
        config=config,
        window=window,
        process_reports=process_reports,
        finished=finished,
        server=server,
    )
    figures["connect_s"] = rounded(connected_s)
    figures["model"] = _model(strategy, size=size, figures=figures, settings=settings, learnt=learnt)
    if learnt is not None:
        figures["learnt_schedule_ms"] = learnt
    return figures


#: The median of the fleet's workload, in seconds: the first waits are spread over it.
LOGNORMAL_MEDIAN_S = 1.0


def _figures(
    target: Target,
    *,
    strategy: Strategy,
    size: int,
    config: Config,
    window: tuple[float, float],
    process_reports: list[ProcessReport],
    finished: dict[str, Any],
    server: ServerSide,
) -> dict[str, Any]:
    committed_at: dict[str, float] = finished["committed_at"]
    outcomes = [outcome for report in process_reports for outcome in report.outcomes]
    latencies = [
        (returned - committed_at[correlation_id]) * 1000
        for correlation_id, _, returned, _, done in outcomes
        if done and correlation_id in committed_at
    ]
    in_window = [outcome for outcome in outcomes if window[0] <= outcome[1] < window[1]]
    returned_in_window = sum(1 for outcome in outcomes if window[0] <= outcome[2] < window[1])
    errors: dict[str, int] = {}
    for report in process_reports:
        for name, count in report.errors.items():
            errors[name] = errors.get(name, 0) + count
    if finished.get("failures"):
        errors["finisher: completion failed"] = int(finished["failures"])
    if server.failed:
        errors[f"reading the server: {server.failed[:60]}"] = 1
    not_done = sum(1 for outcome in outcomes if not outcome[4])
    if not_done:
        errors["not finished by the deadline"] = not_done
    overshoots = [value for report in process_reports for value in report.sleep_overshoot_ms]
    client_statements = sum(report.statements_in_window for report in process_reports) + int(
        finished["statements_in_window"]
    )
    if target.cluster is not None:
        statements = {role: calls for role, calls in server.statements.items() if role != "postgres"}
        waiter_connections = server.connections_peak.get("waiter", 0)
        finisher_connections = server.connections_peak.get("finisher", 0)
    else:
        statements = {
            "waiter": sum(report.statements_in_window for report in process_reports),
            "finisher": int(finished["statements_in_window"]),
        }
        waiter_connections = sum(report.connections for report in process_reports)
        finisher_connections = config.finisher_threads
    return {
        "environments": size,
        "waiter_processes": len(process_reports),
        "waits": len(outcomes),
        "errors": errors,
        # Starts and returns in the window, averaged: in the steady state they are equal, and the
        # average halves what the window's edges cut off.
        "starts_per_s": rounded((len(in_window) + returned_in_window) / 2 / config.window_s),
        "held_wait_ms": rounded(statistics.fmean((o[2] - o[1]) * 1000 for o in in_window)) if in_window else None,
        "reads_per_wait": rounded(statistics.fmean(o[3] for o in in_window), 2) if in_window else None,
        "statements_per_s": rounded(sum(statements.values()) / config.window_s),
        "store_statements_per_s": rounded(client_statements / config.window_s),
        "statements_per_s_by_side": {side: rounded(count / config.window_s) for side, count in statements.items()},
        "waiter_connections": waiter_connections,
        "connections_per_environment": rounded(waiter_connections / size, 2),
        "finisher_connections": finisher_connections,
        "redis_connections": server.redis_connections_peak,
        "server_cpu_s": server.cpu_s,
        "server_cpu_share": rounded(server.cpu_s / config.window_s, 2) if server.cpu_s is not None else None,
        "redis_cpu_s": server.redis_cpu_s,
        "harness_cpu_s": rounded(sum(report.cpu_s_in_window for report in process_reports)),
        "wake_p50_ms": rounded(percentile(latencies, 50)) if latencies else None,
        "wake_p99_ms": rounded(percentile(latencies, 99)) if latencies else None,
        "harness_sleep_overshoot_p50_ms": rounded(percentile(overshoots, 50)) if overshoots else None,
        "harness_sleep_overshoot_p99_ms": rounded(percentile(overshoots, 99)) if overshoots else None,
    }


def _model(
    strategy: Strategy,
    *,
    size: int,
    figures: dict[str, Any],
    settings: Settings,
    learnt: list[int] | None,
) -> dict[str, Any]:
    """The capacity model's figures for the arrival rate the cell measured, and how far off they are."""
    schedule = PollSchedule("adaptive", tuple(learnt)) if learnt else settings.poll_schedule
    name = strategy.name
    predicted_figures = capacity.predict(
        name,
        arrival_per_s=float(figures["starts_per_s"] or 0),
        environments=size,
        durations_ms=LOGNORMAL.durations_ms(4000, stream="model"),
        schedule=schedule,
        fallback_ms=settings.push_fallback_poll_ms,
    )
    measured_statements = float(figures["statements_per_s"] or 0)
    predicted: dict[str, Any] = dict(predicted_figures)
    predicted["statements_off_pct"] = (
        rounded((measured_statements - predicted["statements_per_s"]) / predicted["statements_per_s"] * 100, 1)
        if predicted["statements_per_s"]
        else None
    )
    predicted["connections_off_pct"] = rounded(
        (figures["waiter_connections"] - predicted["db_connections"]) / predicted["db_connections"] * 100, 1
    )
    held_s = (figures["held_wait_ms"] or 0) / 1000
    # Little's law, checked: environments busy = arrival rate x the time each start holds one.
    predicted["littles_law_environments"] = rounded(float(figures["starts_per_s"] or 0) * held_s)
    return predicted


def targets(*, postgres_cluster: Cluster | None, sqlite_url: str) -> list[Target]:
    found = [Target("sqlite", sqlite_url, sqlite_url, None)]
    if postgres_cluster is not None:
        found.append(
            Target("postgresql", postgres_cluster.url("waiter"), postgres_cluster.url("finisher"), postgres_cluster)
        )
    return found


def run(config: Config, *, redis_available: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every cell: ``{backend: {schedule: {size: figures}}}``, and where each schedule starts to grow."""
    results: dict[str, Any] = {}
    redis_client = redis.Redis.from_url(services.REDIS_URL) if redis_available else None
    run_id = f"f{os.getpid()}{int(time.time()) % 100000}"
    most = max(config.sizes)
    # Room for every waiter's connection (one each, whatever the schedule) and the finishers'.
    max_connections = most + 4 * config.finisher_threads + 50
    with contextlib.ExitStack() as stack:
        cluster: Cluster | None = None
        try:
            cluster = stack.enter_context(private_cluster(max_connections=max_connections))
        except (RuntimeError, OSError, psycopg.Error) as exc:
            progress(f"fleet: no private PostgreSQL cluster ({exc}); SQLite only")
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="waitroom-fleet-"))
        sqlite_url = f"sqlite:///{Path(directory) / 'fleet.sqlite3'}"
        for target in targets(postgres_cluster=cluster, sqlite_url=sqlite_url):
            migrate(dialect_for(target.finisher_url if target.cluster is None else target.cluster.url(),
                                Settings(database_url=target.waiter_url)))  # fmt: skip
            if target.cluster is not None:
                grant_tables(target.cluster)
                results.setdefault("postgresql_max_connections", max_connections)
            for strategy in SCHEDULES:
                if not strategy.applies_to(target.backend) or (
                    strategy.wake_channel == "redis" and not redis_available
                ):
                    continue
                for size in config.sizes:
                    began = time.monotonic()
                    if (room := _memory_room(target, strategy, size)) is not None:
                        results.setdefault(target.backend, {}).setdefault(strategy.name, {})[str(size)] = {
                            "environments": size, "failed": room
                        }  # fmt: skip
                        progress(f"fleet {target.backend}/{strategy.name}/{size}: {room}")
                        continue
                    try:
                        figures = run_cell(
                            target, strategy, size, config, redis_client=redis_client,
                            run_id=f"{run_id}-{strategy.name}-{size}",
                        )  # fmt: skip
                    except (queue.Empty, OSError, RuntimeError) as exc:
                        figures = {"environments": size, "failed": f"{type(exc).__name__}: {exc}"}
                    cells = results.setdefault(target.backend, {}).setdefault(strategy.name, {})
                    cells[str(size)] = figures
                    progress(
                        f"fleet {target.backend}/{strategy.name}/{size}: {figures.get('starts_per_s')} starts/s, "
                        f"{figures.get('statements_per_s')} statements/s, "
                        f"{figures.get('waiter_connections')} connections, p99 {figures.get('wake_p99_ms')} ms, "
                        f"errors {figures.get('errors', figures.get('failed'))} ({time.monotonic() - began:.0f} s)"
                    )
                cells = results[target.backend][strategy.name]
                cells["grows_at"] = growth_point(cells, config.sizes)
    if redis_client is not None:
        redis_client.close()
    results["sizing"] = _sizing(results, config)
    return results


def _sizing(results: dict[str, Any], config: Config) -> dict[str, Any] | None:
    """The sizing table of docs/CAPACITY.md, with the overhead of a start beyond its process (the
    save, the wake-up, the answer) as the fleet measured it: a push cell's held wait, less the mean
    duration of the workload, at the smallest fleet."""
    smallest = str(min(config.sizes))
    mean_ms = statistics.fmean(LOGNORMAL.durations_ms(4000, stream="model"))
    for backend in ("postgresql", "sqlite"):
        for schedule in ("redis", "listen-notify"):
            held = ((results.get(backend) or {}).get(schedule) or {}).get(smallest, {}).get("held_wait_ms")
            if held is not None:
                overhead = max(0.0, held - mean_ms)
                return {
                    "base_overhead_ms": rounded(overhead),
                    "measured_in": f"{backend}/{schedule}/{smallest}",
                    "rows": capacity.sizing_table(
                        sigma=LOGNORMAL_SIGMA, fallback_ms=Settings().push_fallback_poll_ms, base_overhead_ms=overhead
                    ),
                }
    return None


#: What one idle PostgreSQL backend is taken to need, to keep a cell from exhausting a shared machine.
BACKEND_MB = 4


def _memory_room(target: Target, strategy: Strategy, size: int) -> str | None:
    """Why a PostgreSQL cell cannot run on this machine now (None: it can): every connection is a
    server process, and the machine is shared."""
    if target.cluster is None:
        return None
    backends = size * capacity.STRATEGIES[strategy.name].db_connections_per_environment
    available_mb = _available_memory_mb()
    if available_mb is not None and backends * BACKEND_MB > available_mb / 2:
        return f"skipped: {backends} backends would need half of the {available_mb} MB available"
    return None


def _available_memory_mb() -> int | None:
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return None


def growth_point(cells: dict[str, Any], sizes: tuple[int, ...]) -> int | None:
    """The smallest fleet whose p99 is ``GROWTH_FACTOR`` times the smallest fleet's, or that had
    errors (None: neither happened up to the largest)."""
    base = cells.get(str(sizes[0]), {}).get("wake_p99_ms")
    for size in sizes:
        cell = cells.get(str(size), {})
        p99 = cell.get("wake_p99_ms")
        if "failed" in cell or cell.get("errors") or p99 is None:
            return size
        if base is not None and size != sizes[0] and p99 > GROWTH_FACTOR * base:
            return size
    return None
