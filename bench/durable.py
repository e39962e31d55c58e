"""The durable wait mode beside the classic one, end to end over HTTP through the local stack
(``WAIT_MODE=durable``: the start function under dex-local-runner behind the local gateway).

Every process here is finished by the cancel route at its drawn duration (the stack runs no worker,
so nothing else finishes it): the one finish operation, which commits the row, then announces it
(classic: Redis, or nothing for polling) or sends its callbacks (durable). Wake latency runs from the
row's ``completed_at`` (the database's clock at the finishing UPDATE, to the millisecond) to the
moment the client's HTTP answer arrived (the same machine's clock): the gateway, the Lambda hops and,
in durable mode, the callback, the runner's resume invocation and the gateway's look at the
execution are all inside it.

Cells:

* ``wake``: the same workloads as the wake section (bench.workloads), in classic mode with polling
  and with Redis push and in durable mode, with the SDK's checkpoint thread at Waitroom's setting and
  at the SDK's own 100 ms (``DURABLE_CHECKPOINT_POLL_MS``); the start function's invocation times
  and the checkpoint bytes each durable start sends.
* ``throughput``: starts at a fixed arrival rate, each process lasting ``rate_process_s``, with
  ``StartConcurrency`` at ``start_concurrency``, in both modes: the share answered 200.
* ``fleet``: N durable starts waiting at once on a private PostgreSQL cluster. Once every start's
  first invocation has returned suspended (the runner's count), and for ``fleet_hold_s`` before any is
  finished: the start function's running invocations (the runner's count), its environments, the
  database's Waitroom sessions (``pg_stat_activity``, told apart by the environments' sockets) and the
  statements the server ran (``pg_stat_statements``) per wait. The arrival, while first invocations
  run, is reported apart.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import secrets
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import requests

from bench import machine, services
from bench.end_to_end import environment_set, output_to
from bench.pg_cluster import DATABASE, binaries, private_cluster
from bench.stats import percentile, rounded
from bench.workloads import WORKLOADS
from devstack.gateway import FUNCTION_URL_PREFIX
from devstack.identity import FUNCTION_URL_SERVICE, LocalIdentity
from devstack.stack import DURABLE_FUNCTION, LocalSettings, LocalStack

#: The wait budget of every start (API Gateway's 30 s leaves room for the answer).
WAIT_S = 25
#: The start function's Function URL on the local gateway (its waits may last 14 minutes).
START_FUNCTION_URL = f"{FUNCTION_URL_PREFIX}{DURABLE_FUNCTION}/api/process/start"
USER = {"userId": "bench-user", "email": "bench@example.com"}


@dataclass(frozen=True)
class Config:
    waits: int = 60
    """Starts per wake cell (mode x workload)."""
    concurrent: int = 20
    """Starts waiting at once in a wake cell."""
    rate_per_s: float = 20.0
    rate_seconds: float = 10.0
    rate_process_s: float = 10.0
    start_concurrency: int = 40
    """``StartConcurrency`` of the throughput cell (the template's default)."""
    fleet_sizes: tuple[int, ...] = (100, 500, 2000)
    """Waiters per fleet cell. The client, the gateway and dex-local-runner hold a thread per waiting
    start: 2,000 is about 6,000 threads on the machine (docs/PERFORMANCE.md)."""
    fleet_rate_per_s: float = 50.0
    """How fast a fleet's waiters arrive."""
    fleet_hold_s: float = 5.0
    """How long every waiter of a fleet waits at once, once all suspended, before they are finished."""
    fleet_wait_s: int = 600
    """The fleet's wait budget: its starts go through the Function URL, so that the first to arrive
    still wait when the last has suspended, however slowly this machine lets them arrive."""


#: Each mode's environment, set before the stack starts (its functions inherit it).
def modes(*, redis: bool) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {"poll": {}}
    if redis:
        found["redis"] = {"REDIS_URL": services.REDIS_URL}
    found["durable"] = {"WAIT_MODE": "durable"}
    found["durable-sdk-100ms"] = {"WAIT_MODE": "durable", "DURABLE_CHECKPOINT_POLL_MS": "100"}
    return found


@dataclass(frozen=True)
class Planned:
    correlation_id: str
    at_s: float
    """When the start is sent, from the beginning of the load."""
    finish_after_s: float | None
    """How long after its start is sent the process is cancelled (None: not by the client)."""


@dataclass(frozen=True)
class Answer:
    correlation_id: str
    status_code: int
    answered_at: float
    """Wall clock (``time.time()``) when the answer arrived."""
    latency_ms: float


def drive(url: str, token: str, plan: list[Planned], in_flight: int, long_wait_s: int | None = None) -> list[Answer]:
    """In a process of its own (spawned): each start sent at its time (or when one of ``in_flight``
    threads is free), its process cancelled ``finish_after_s`` after it was sent. With ``long_wait_s``
    the starts go to the start function's Function URL (signed), which grants waits past API
    Gateway's 30 s."""
    headers = {"Authorization": f"Bearer {token}", "Prefer": f"wait={WAIT_S}"}
    answers: list[Answer] = []
    timers: list[threading.Timer] = []
    guard = threading.Lock()
    began = time.monotonic()

    def cancel(correlation_id: str) -> None:
        """The finish at the drawn duration, or as soon as the start saved its row if that is later (a
        start slowed by a cold start must not be finished before it exists)."""
        body = {"correlationId": correlation_id, "reason": "bench: the process's drawn duration is over"}
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                answer = requests.post(f"{url}/api/process/cancel", json=body, headers=headers, timeout=60)
            except requests.RequestException:
                return  # its start then answers 202; counted there
            if answer.status_code != 404:
                return
            time.sleep(0.05)

    def start(item: Planned) -> None:
        delay = began + item.at_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = {"processKey": "onboard-user", "correlationId": item.correlation_id, "variables": USER}
        sent = time.monotonic()
        if item.finish_after_s is not None:
            timer = threading.Timer(item.finish_after_s, cancel, args=(item.correlation_id,))
            with guard:
                timers.append(timer)
            timer.start()
        try:
            if long_wait_s is None:
                response = requests.post(f"{url}/api/process/start", json=body, headers=headers, timeout=WAIT_S + 30)
            else:
                target, payload = f"{url}{START_FUNCTION_URL}", json.dumps(body).encode()
                signed = LocalIdentity.sign(
                    "POST",
                    target,
                    payload,
                    {"Content-Type": "application/json", "Prefer": f"wait={long_wait_s}"},
                    service=FUNCTION_URL_SERVICE,
                )
                response = requests.post(target, data=payload, headers=signed, timeout=long_wait_s + 30)
            code = response.status_code
        except requests.RequestException:
            code = 0
        answer = Answer(item.correlation_id, code, time.time(), (time.monotonic() - sent) * 1000)
        with guard:
            answers.append(answer)

    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(start, plan))
    for timer in timers:
        timer.join()
    return answers


def _drive_elsewhere(stack: LocalStack, plan: list[Planned], in_flight: int) -> list[Answer]:
    token = stack.identity.issue("bench")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:
        return client.submit(drive, stack.url, token, plan, in_flight).result()


class Recorder:
    """The start function's invocation times (a durable one's first, to its suspension, and its
    resumptions) and the checkpoint bytes the durable runner received, recorded on the stack."""

    def __init__(self, stack: LocalStack) -> None:
        self.first_ms: list[float] = []
        self.resume_ms: list[float] = []
        self.checkpoint_bytes = 0
        self.executions_before = stack.durable.executions if stack.durable is not None else 0
        self._guard = threading.Lock()
        pool = stack.pools[DURABLE_FUNCTION]
        invoke = pool.invoke

        def timed(event: Any) -> Any:
            began = time.perf_counter()
            try:
                return invoke(event)
            finally:
                elapsed = (time.perf_counter() - began) * 1000
                operations = ((event.get("InitialExecutionState") or {}).get("Operations") or []) if isinstance(
                    event, dict) else []  # fmt: skip
                with self._guard:
                    (self.first_ms if len(operations) <= 1 else self.resume_ms).append(elapsed)

        pool.invoke = timed  # type: ignore[method-assign]  # the pool's own invoke, timed
        if stack.durable is not None:
            forward = stack.durable.forward

            def counted(method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, str]:
                if "checkpoint" in path:
                    with self._guard:
                        self.checkpoint_bytes += len(body)
                return forward(method, path, body, headers)

            stack.durable.forward = counted  # type: ignore[method-assign]  # the runner's own forward, counted

    def figures(self, stack: LocalStack) -> dict[str, Any]:
        executions = (stack.durable.executions if stack.durable is not None else 0) - self.executions_before
        return {
            "invocations_first": len(self.first_ms),
            "first_invocation_p50_ms": _p(self.first_ms, 50),
            "first_invocation_p90_ms": _p(self.first_ms, 90),
            "resume_invocations": len(self.resume_ms),
            "resume_invocation_p50_ms": _p(self.resume_ms, 50),
            "resume_invocation_p90_ms": _p(self.resume_ms, 90),
            "checkpoint_bytes_per_start": round(self.checkpoint_bytes / executions) if executions else None,
        }


def _p(values: list[float], q: float) -> float | None:
    return rounded(percentile(values, q)) if values else None


@contextmanager
def _stack(environment: Mapping[str, str], local: Mapping[str, Any], progress: Callable[[str], None]) -> Iterator[
        LocalStack]:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="waitroom-bench-durable-") as directory:
        data_dir = Path(directory)
        log = data_dir / "stack.log"
        try:
            with environment_set(environment), output_to(log):
                # No worker: the bench's cancels are the only finish, at the drawn durations.
                stack = LocalStack(port=0, local=LocalSettings(data_dir=data_dir, engine_port=0, schedules=False,
                                                                **local)).start()  # fmt: skip
                try:
                    yield stack
                finally:
                    stack.stop()
        except BaseException:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
            progress("the local stack's last log lines:\n" + "\n".join(lines[-40:]))
            raise


#: The local stack's start, cancel and status functions, kept warm as a steady deployment has them.
WARMED = (DURABLE_FUNCTION, "CancelFunction")
#: The wake cells' starts are sent this far apart, so that they do not all arrive in one instant.
RAMP_STEP_S = 0.05


def _warm(stack: LocalStack, environments: int) -> None:
    """As many warm environments of the functions a wake cell calls as it has waits in flight: the
    local stack throttles cold starts (503), which a steady deployment does not meet."""
    for name in WARMED:
        pool = stack.pools[name]
        pool.size = max(pool.size, environments)
        pool.warm()


#: How long after its start each of the settling round's processes is finished.
SETTLE_FINISH_S = 1.0


def _settle(stack: LocalStack, starts: int, run_id: str) -> None:
    """One unmeasured round of ``starts`` starts at once, each finished a second later: every warm
    environment then has served a start and its wake, as a deployment's environments in steady state
    have. An environment's first invocation makes its first connection and its first clients, which
    the cold-start section measures (docs/PERFORMANCE.md); the cells measure the steady state."""
    plan = [Planned(f"settle-{run_id}-{index}", 0.0, SETTLE_FINISH_S) for index in range(starts)]
    _drive_elsewhere(stack, plan, starts)


def _completed_at(stack: LocalStack, ids: list[str]) -> dict[str, float]:
    """Each row's ``completed_at`` as epoch seconds (SQLite stores it in UTC, to the millisecond)."""
    path = stack.environment["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        marks = ",".join("?" * len(ids))
        query = f"SELECT correlation_id, completed_at FROM process_store WHERE correlation_id IN ({marks})"  # noqa: S608 -- placeholders only
        rows = connection.execute(query, ids).fetchall()
    return {row[0]: datetime.fromisoformat(row[1]).timestamp() for row in rows if row[1]}


def run_wake(config: Config, *, redis: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """``{workload: {mode: figures}}`` and the start function's invocation times per mode."""
    results: dict[str, Any] = {"cells": {}, "invocations": {}}
    run_id = secrets.token_hex(3)
    for mode, environment in modes(redis=redis).items():
        with _stack(environment, {"concurrency": 2}, progress) as stack:
            _warm(stack, config.concurrent)
            _settle(stack, config.concurrent, f"{run_id}-{mode}")
            recorder = Recorder(stack)
            for workload in WORKLOADS:
                durations = workload.durations_ms(config.waits, stream="waits")
                plan = [
                    Planned(f"dw-{run_id}-{mode}-{workload.name}-{index}", index * RAMP_STEP_S, duration / 1000)
                    for index, duration in enumerate(durations)
                ]
                cpu_before = machine.process_tree_cpu_s()
                answers = _drive_elsewhere(stack, plan, config.concurrent)
                cpu_s = machine.process_tree_cpu_s() - cpu_before
                completed = _completed_at(stack, [answer.correlation_id for answer in answers])
                wakes = sorted(
                    (answer.answered_at - completed[answer.correlation_id]) * 1000
                    for answer in answers
                    if answer.status_code == 200 and answer.correlation_id in completed
                )
                cell = {
                    "waits": len(answers),
                    "answered_200": sum(answer.status_code == 200 for answer in answers),
                    "wake_p50_ms": _p(wakes, 50),
                    "wake_p90_ms": _p(wakes, 90),
                    "wake_p99_ms": _p(wakes, 99),
                    "wake_max_ms": rounded(max(wakes)) if wakes else None,
                    "wake_ms": [round(value, 2) for value in wakes],
                    # The whole local stack's CPU (gateway, functions, runner, engine, client) per start.
                    "cpu_ms_per_start": rounded(cpu_s * 1000 / len(plan)),
                    "load_average": machine.load_average(),
                }
                results["cells"].setdefault(workload.name, {})[mode] = cell
                progress(
                    f"durable wake {workload.name}/{mode}: p50 {cell['wake_p50_ms']} p90 {cell['wake_p90_ms']} "
                    f"p99 {cell['wake_p99_ms']} ms, {cell['answered_200']}/{cell['waits']} answered 200, "
                    f"{cell['cpu_ms_per_start']} ms of CPU per start, "
                    f"load {cell['load_average']}"
                )
            if stack.durable is not None:
                results["invocations"][mode] = recorder.figures(stack)
                progress(f"durable invocations {mode}: {results['invocations'][mode]}")
    return results


def throughput_parameters(config: Config) -> dict[str, str]:
    """The template parameters of the throughput cell, the same in both modes: ``StartConcurrency`` as
    told, and the start route's throttle (API Gateway's, ``StartThrottleRate`` and ``StartThrottleBurst``)
    letting the arrival rate through, so that what answers the starts is the wait mode, not the
    throttle: its defaults (15 a second, 30 at once) size it for the classic mode's bound,
    StartConcurrency / the mean wait (docs/DEPLOYING.md)."""
    rate = math.ceil(config.rate_per_s)
    return {
        "StartConcurrency": str(config.start_concurrency),
        "StartThrottleRate": str(rate),
        "StartThrottleBurst": str(max(rate, min(config.start_concurrency, 2 * rate))),
    }


def run_throughput(config: Config, *, progress: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    run_id = secrets.token_hex(3)
    count = round(config.rate_per_s * config.rate_seconds)
    for mode, environment in (("classic", {}), ("durable", {"WAIT_MODE": "durable"})):
        local = {"concurrency": 2, "parameter_overrides": throughput_parameters(config)}
        with _stack(environment, local, progress) as stack:
            _warm(stack, config.concurrent)
            _settle(stack, config.concurrent, f"{run_id}-{mode}")
            plan = [
                Planned(f"dt-{run_id}-{mode}-{index}", index / config.rate_per_s, config.rate_process_s)
                for index in range(count)
            ]
            began = machine.load_average()
            cpu_before = machine.process_tree_cpu_s()
            answers = _drive_elsewhere(stack, plan, count)
            cpu_s = machine.process_tree_cpu_s() - cpu_before
            codes = Counter(str(answer.status_code) for answer in answers)
            latencies = [answer.latency_ms for answer in answers if answer.status_code == 200]
            results[mode] = {
                "parameters": throughput_parameters(config),
                "starts": count,
                "answers": dict(sorted(codes.items())),
                "share_200": rounded(codes["200"] / count, 4),
                "latency_200_p50_ms": _p(latencies, 50),
                "latency_200_p99_ms": _p(latencies, 99),
                "start_environments_peak": stack.pools[DURABLE_FUNCTION].peak_busy,
                "cpu_ms_per_start": rounded(cpu_s * 1000 / count),
                "load_average_before": began,
                "load_average_after": machine.load_average(),
            }
            progress(f"durable throughput {mode}: {results[mode]}")
    return results


#: The application name every Waitroom connection gives (shared/waitroom/adapters/store/postgres.py).
APPLICATION_NAME = "waitroom"


def _socket_ports(pids: list[int]) -> set[int]:
    """The local TCP ports of the sockets the processes ``pids`` hold open (from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="utf-8").splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class FleetProbe:
    """What the fleet's waiters hold, read from the runner, the start function's environments and the
    database server (its sessions and its ``pg_stat_statements``)."""

    def __init__(self, stack: LocalStack, admin: psycopg.Connection[Any], database: str) -> None:
        if stack.durable is None:
            raise RuntimeError("the durable fleet needs the stack in the durable wait mode")
        self.runner = stack.durable
        self.pool = stack.pools[DURABLE_FUNCTION]
        self.admin, self.database = admin, database

    def statements(self) -> int:
        """Statements the server ran so far, the probe's own (on its statistics views) left out."""
        row = self.admin.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat%'"
        ).fetchone()
        return int(row[0]) if row else 0

    def sample(self) -> dict[str, Any]:
        rows = self.admin.execute(
            "SELECT client_port FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (self.database, APPLICATION_NAME),
        ).fetchall()
        environments, busy = self.pool.environments(), self.pool.busy()
        start_ports = _socket_ports([environment.process.pid or 0 for environment in environments])
        busy_ports = _socket_ports([environment.process.pid or 0 for environment in busy])
        return {
            "running_start_invocations": self.runner.running,
            "suspended_executions": len(self.runner.suspended),
            "start_environments": len(environments),
            "busy_start_environments": len(busy),
            "database_connections": len(rows),
            # An environment keeps its connection between invocations, as Lambda's frozen one does:
            # the connections serving a start are those of the environments running an invocation.
            "start_environment_connections": sum(1 for (port,) in rows if port in start_ports),
            "running_start_connections": sum(1 for (port,) in rows if port in busy_ports),
        }


def finish_all(url: str, token: str, ids: list[str], threads: int) -> int:
    """In a process of its own (spawned): cancel every process, ``threads`` at once; how many were not."""
    headers = {"Authorization": f"Bearer {token}"}

    def cancel(correlation_id: str) -> bool:
        """Cancelled, or given up after ``FINISH_TRIES_S``: a refusal of this machine's (a cold start
        slower than Lambda's limit answers 503) would leave its start waiting out its whole budget."""
        body = {"correlationId": correlation_id, "reason": "bench: the fleet's wait is over"}
        deadline = time.monotonic() + FINISH_TRIES_S
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.post(f"{url}/api/process/cancel", json=body, headers=headers, timeout=60).ok:
                    return True
            time.sleep(0.2)
        return False

    with ThreadPoolExecutor(threads) as pool:
        return sum(not done for done in pool.map(cancel, ids))


def _fleet_cell(stack: LocalStack, probe: FleetProbe, size: int, config: Config, run_id: str) -> dict[str, Any]:
    """``size`` starts arrive, every one suspends, they wait ``fleet_hold_s`` together, then all are
    finished. The arrival (first invocations running) is reported apart from the wait."""
    plan = [Planned(f"df-{run_id}-{size}-{index}", index / config.fleet_rate_per_s, None) for index in range(size)]
    token = stack.identity.issue("bench")
    # The starts come through the Function URL, signed: an administrator's token finishes them.
    admin_token = stack.identity.issue("bench-admin", admin=True)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as client, ProcessPoolExecutor(1, mp_context=spawn) as finisher:
        statements_began = probe.statements()
        began = time.monotonic()
        answered = client.submit(drive, stack.url, token, plan, size, config.fleet_wait_s)
        arrival: list[dict[str, Any]] = []
        # Every start must have suspended while the first to arrive still waits.
        deadline = began + config.fleet_wait_s * FLEET_ARRIVAL_SHARE
        # The arrival ends when every start's first invocation has returned suspended, or when none runs
        # and no more suspend for a while: a start answered at once (a refusal) never suspends.
        settled_since: float | None = None
        while time.monotonic() < deadline and not answered.done():
            arrival.append(probe.sample())
            running, suspended = arrival[-1]["running_start_invocations"], arrival[-1]["suspended_executions"]
            if running == 0 and suspended >= size:
                break
            if running == 0 and len(arrival) > 1 and suspended == arrival[-2]["suspended_executions"]:
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since >= FLEET_SETTLED_S:
                    break
            else:
                settled_since = None
            time.sleep(FLEET_SAMPLE_S)
        arrival_s = time.monotonic() - began
        statements_arrived = probe.statements()
        all_suspended = bool(arrival) and arrival[-1]["suspended_executions"] >= size
        # The wait: every start suspended, nothing finished; sampled through it.
        waiting: list[dict[str, Any]] = []
        hold_until = time.monotonic() + config.fleet_hold_s
        while time.monotonic() < hold_until:
            waiting.append({**probe.sample(), "load_average": machine.load_average()})
            time.sleep(FLEET_SAMPLE_S)
        statements_waited = probe.statements()
        not_cancelled = finisher.submit(finish_all, stack.url, admin_token, [item.correlation_id for item in plan],
                                        FLEET_FINISH_THREADS).result()  # fmt: skip
        answers = answered.result()
    codes = Counter(str(answer.status_code) for answer in answers)
    statements_total = probe.statements() - statements_began
    held = {key: max(sample[key] for sample in waiting) for key in waiting[0] if key != "load_average"}
    return {
        "waiters": size,
        "answers": dict(sorted(codes.items())),
        "not_cancelled": not_cancelled,
        "all_suspended": all_suspended,
        "arrival": {
            "seconds": rounded(arrival_s),
            "suspended": arrival[-1]["suspended_executions"] if arrival else 0,
            "peak_running_start_invocations": max(sample["running_start_invocations"] for sample in arrival),
            "peak_database_connections": max(sample["database_connections"] for sample in arrival),
            "peak_running_start_connections": max(sample["running_start_connections"] for sample in arrival),
            "start_environments": arrival[-1]["start_environments"],
            "statements_per_start": rounded((statements_arrived - statements_began) / size, 2),
        },
        "while_waiting": {
            **held,
            "seconds": config.fleet_hold_s,
            "samples": len(waiting),
            "statements": statements_waited - statements_arrived,
            "statements_per_wait": rounded((statements_waited - statements_arrived) / size, 3),
            "load_average": waiting[-1]["load_average"],
        },
        "statements_per_start_whole": rounded(statements_total / size, 2),
    }


#: The share of the fleet's wait budget its arrival may take.
FLEET_ARRIVAL_SHARE = 0.8
#: How long no invocation may run and no start suspend before the fleet's arrival counts as over.
FLEET_SETTLED_S = 10.0
#: How often the fleet cell reads what its waiters hold.
FLEET_SAMPLE_S = 0.2
#: How long each of the fleet's cancels is tried.
FINISH_TRIES_S = 120.0
#: Cancels sent at once when the fleet's wait is over (no more than the cancel function's warm environments).
FLEET_FINISH_THREADS = 8


def run_fleet(config: Config, *, progress: Callable[[str], None]) -> dict[str, Any]:
    """N durable starts waiting at once: what they hold once every one has suspended, and what their
    arrival held, on a private PostgreSQL cluster."""
    results: dict[str, Any] = {}
    run_id = secrets.token_hex(3)
    most = max(config.fleet_sizes)
    with private_cluster(max_connections=FLEET_DATABASE_CONNECTIONS) as cluster:
        environment = {"WAIT_MODE": "durable", "DATABASE_URL": cluster.url()}
        # Every waiter holds a connection to the gateway (API Gateway has no bound on them).
        local = {"concurrency": 2, "gateway_connections": most + 64}
        with (
            _stack(environment, local, progress) as stack,
            psycopg.connect(cluster.url(), autocommit=True, application_name="bench-probe") as admin,
        ):
            _warm(stack, 10)
            probe = FleetProbe(stack, admin, DATABASE)
            for size in config.fleet_sizes:
                results[str(size)] = cell = _fleet_cell(stack, probe, size, config, run_id)
                progress(
                    f"durable fleet {size}: arrival {cell['arrival']}; while all wait {cell['while_waiting']}; "
                    f"answers {cell['answers']}"
                )
    return results


#: The private cluster's connections: the start function's environments and the cancel function's
#: hold one each, however many starts wait.
FLEET_DATABASE_CONNECTIONS = 200


def run(config: Config, *, redis: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {"load_average_at_start": machine.load_average()}
    results["wake"] = run_wake(config, redis=redis, progress=progress)
    results["throughput"] = run_throughput(config, progress=progress)
    if binaries() is not None:
        results["fleet"] = run_fleet(config, progress=progress)
    else:
        progress("durable fleet: no PostgreSQL binaries for a private cluster; skipped")
    results["load_average_at_end"] = machine.load_average()
    return results
