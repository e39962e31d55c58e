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
* ``fleet``: N durable starts waiting at once on a private PostgreSQL cluster: the start function's
  running invocations and the database's client connections while they wait.
"""

from __future__ import annotations

import multiprocessing
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
from bench.pg_cluster import binaries, private_cluster
from bench.stats import percentile, rounded
from bench.workloads import WORKLOADS
from devstack.functions import FunctionPool
from devstack.stack import DURABLE_FUNCTION, LocalSettings, LocalStack

#: The wait budget of every start (API Gateway's 30 s leaves room for the answer).
WAIT_S = 25
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
    fleet_sizes: tuple[int, ...] = (100, 500)
    fleet_rate_per_s: float = 50.0
    """How fast a fleet's waiters arrive."""
    fleet_hold_s: float = 5.0
    """How long every waiter of a fleet waits at once before they are finished."""


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
    finish_after_s: float
    """How long after its start is sent the process is cancelled."""


@dataclass(frozen=True)
class Answer:
    correlation_id: str
    status_code: int
    answered_at: float
    """Wall clock (``time.time()``) when the answer arrived."""
    latency_ms: float


def drive(url: str, token: str, plan: list[Planned], in_flight: int) -> list[Answer]:
    """In a process of its own (spawned): each start sent at its time (or when one of ``in_flight``
    threads is free), its process cancelled ``finish_after_s`` after it was sent."""
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
        timer = threading.Timer(item.finish_after_s, cancel, args=(item.correlation_id,))
        with guard:
            timers.append(timer)
        sent = time.monotonic()
        timer.start()
        try:
            response = requests.post(f"{url}/api/process/start", json=body, headers=headers, timeout=WAIT_S + 30)
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
            recorder = Recorder(stack)
            for workload in WORKLOADS:
                durations = workload.durations_ms(config.waits, stream="waits")
                plan = [
                    Planned(f"dw-{run_id}-{mode}-{workload.name}-{index}", index * RAMP_STEP_S, duration / 1000)
                    for index, duration in enumerate(durations)
                ]
                answers = _drive_elsewhere(stack, plan, config.concurrent)
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
                    "load_average": machine.load_average(),
                }
                results["cells"].setdefault(workload.name, {})[mode] = cell
                progress(
                    f"durable wake {workload.name}/{mode}: p50 {cell['wake_p50_ms']} p90 {cell['wake_p90_ms']} "
                    f"p99 {cell['wake_p99_ms']} ms, {cell['answered_200']}/{cell['waits']} answered 200, "
                    f"load {cell['load_average']}"
                )
            if stack.durable is not None:
                results["invocations"][mode] = recorder.figures(stack)
                progress(f"durable invocations {mode}: {results['invocations'][mode]}")
    return results


def run_throughput(config: Config, *, progress: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    run_id = secrets.token_hex(3)
    count = round(config.rate_per_s * config.rate_seconds)
    for mode, environment in (("classic", {}), ("durable", {"WAIT_MODE": "durable"})):
        local = {"concurrency": 2, "parameter_overrides": {"StartConcurrency": str(config.start_concurrency)}}
        with _stack(environment, local, progress) as stack:
            _warm(stack, config.concurrent)
            plan = [
                Planned(f"dt-{run_id}-{mode}-{index}", index / config.rate_per_s, config.rate_process_s)
                for index in range(count)
            ]
            began = machine.load_average()
            answers = _drive_elsewhere(stack, plan, count)
            codes = Counter(str(answer.status_code) for answer in answers)
            latencies = [answer.latency_ms for answer in answers if answer.status_code == 200]
            results[mode] = {
                "starts": count,
                "answers": dict(sorted(codes.items())),
                "share_200": rounded(codes["200"] / count, 4),
                "latency_200_p50_ms": _p(latencies, 50),
                "latency_200_p99_ms": _p(latencies, 99),
                "start_environments_peak": stack.pools[DURABLE_FUNCTION].peak_busy,
                "load_average_before": began,
                "load_average_after": machine.load_average(),
            }
            progress(f"durable throughput {mode}: {results[mode]}")
    return results


def _client_connections(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def _sample(stop: threading.Event, at_s: float, pool: FunctionPool, url: str, samples: list[dict[str, Any]]) -> None:
    """What the waiters hold ``at_s`` seconds from now, unless ``stop`` is set first."""
    if not stop.wait(at_s):
        samples.append(
            {
                "running_start_invocations": len(pool.busy()),
                "start_environments": len(pool.busy()) + pool.idle_count(),
                "database_client_connections": _client_connections(url),
                "load_average": machine.load_average(),
            }
        )


def run_fleet(config: Config, *, progress: Callable[[str], None]) -> dict[str, Any]:
    """N durable starts waiting at once: what they hold, sampled while every one of them waits."""
    results: dict[str, Any] = {}
    run_id = secrets.token_hex(3)
    with private_cluster(max_connections=max(config.fleet_sizes) + 100) as cluster:
        environment = {"WAIT_MODE": "durable", "DATABASE_URL": cluster.url()}
        with _stack(environment, {"concurrency": 2}, progress) as stack:
            _warm(stack, 10)
            pool = stack.pools[DURABLE_FUNCTION]
            for size in config.fleet_sizes:
                arrival_s = size / config.fleet_rate_per_s
                finish_after = arrival_s + config.fleet_hold_s
                plan = [
                    Planned(
                        f"df-{run_id}-{size}-{index}",
                        index / config.fleet_rate_per_s,
                        finish_after - index / config.fleet_rate_per_s,
                    )
                    for index in range(size)
                ]
                samples: list[dict[str, Any]] = []
                stop = threading.Event()
                # Once every waiter arrived and its first invocation ended, before any is finished.
                sampler = threading.Thread(
                    target=_sample,
                    args=(stop, arrival_s + config.fleet_hold_s * 0.6, pool, cluster.url(), samples),
                )
                sampler.start()
                answers = _drive_elsewhere(stack, plan, size)
                stop.set()
                sampler.join()
                codes = Counter(str(answer.status_code) for answer in answers)
                results[str(size)] = {
                    "waiters": size,
                    "answers": dict(sorted(codes.items())),
                    "while_waiting": samples[0] if samples else None,
                }
                progress(f"durable fleet {size}: {results[str(size)]}")
    return results


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
