"""The worker's ceiling: processes arriving at fixed rates on the local stack, whose onboarding
stand-in takes ``onboarding_delay_ms`` to answer (a real service is not instant).

Per worker configuration: a local stack (SQLite, the development engine, the scheduled functions),
one unmeasured start to warm it; then per rate, slowest first, open-loop clients (bench.arrival_clients,
in a process of their own) sending a start every ``1/rate`` seconds for ``seconds``, whatever the
answers. Meanwhile the engine's open external tasks and the store's recorded steps are sampled, until
the backlog is empty after the load or ``tail_s`` has passed. Figures per rate: the share of starts
answered 200 (within the start's own wait, ``SYNC_TIMEOUT_MS``), start latency p50/p99, the backlog
over time, steps completed per second.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests

from bench import arrival_clients, machine
from bench.end_to_end import environment_set, output_to
from bench.stats import percentile, rounded
from devstack.stack import LocalSettings, LocalStack


@dataclass(frozen=True)
class Config:
    workers: tuple[str, ...] = ("before", "scale-out")
    """Which worker configurations of ``WORKER_VARIANTS`` to measure."""
    rates: tuple[float, ...] = (0.5, 2.0, 5.0, 10.0, 20.0, 50.0)
    """Processes started per second."""
    seconds: float = 20.0
    """How long each rate's clients keep starting processes."""
    tail_s: float = 30.0
    """How long the backlog is followed after the load, at most."""
    onboarding_delay_ms: int = 250
    sample_s: float = 0.5
    """How often the backlog and the steps are read."""
    settle_s: float = 30.0
    """Between two rates, how much longer the backlog may take to empty (not measured)."""
    warm_environments: int = 8
    """Environments of each HTTP function made ready before the load: Lambda creates them on other
    machines, the local stack on these cores, during the measurement."""
    sweep_bounds: tuple[int, ...] = (1, 2, 4, 8)
    """The worker bounds (``WORKER_MAX_INVOCATIONS``) of the throughput sweep; empty: no sweep."""
    sweep_threads: int = 4
    """``WORKER_MAX_TASKS`` in the sweep: few, so that the bound, not one invocation, sets the pace."""
    sweep_rate: float = 30.0
    """Processes started per second in the sweep, asynchronously (``Prefer: respond-async``): more
    than the smaller bounds can run, and no start holds an environment while it waits."""
    sweep_seconds: float = 10.0


#: The worker configurations the arrival rates are run with, in the same run: ``before``, one listening
#: invocation running four tasks at once and no dispatcher (the baseline), and ``scale-out``, the
#: settings' defaults.
WORKER_VARIANTS: dict[str, dict[str, str]] = {
    "before": {"WORKER_MAX_TASKS": "4", "WORKER_MAX_INVOCATIONS": "1"},
    "scale-out": {},
}


def run(config: Config, progress: Callable[[str], None]) -> dict[str, Any]:
    return {variant: run_variant(variant, WORKER_VARIANTS[variant], config, progress) for variant in config.workers}


def run_sweep(config: Config, progress: Callable[[str], None]) -> dict[str, Any]:
    """Throughput against the worker bound: per bound, the steps completed per second while
    ``sweep_rate`` processes a second arrive, until the backlog is empty (or ``tail_s``)."""
    swept = replace(config, rates=(config.sweep_rate,), seconds=config.sweep_seconds)
    figures: dict[str, Any] = {}
    for bound in config.sweep_bounds:
        environment = {"WORKER_MAX_TASKS": str(config.sweep_threads), "WORKER_MAX_INVOCATIONS": str(bound)}
        measured = run_variant(f"bound {bound}", environment, swept, progress, respond_async=True)
        figures[str(bound)] = {
            "threads": config.sweep_threads,
            **measured[_rate_key(config.sweep_rate)],
        }
    return figures


def _rate_key(rate: float) -> str:
    return f"{rate:g}/s"


def run_variant(
    variant: str,
    environment: Mapping[str, str],
    config: Config,
    progress: Callable[[str], None],
    *,
    respond_async: bool = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="waitroom-bench-arrival-") as directory:
        data_dir = Path(directory)
        log = data_dir / "stack.log"
        try:
            with environment_set(environment), output_to(log):
                return _measure(variant, data_dir, config, progress, respond_async=respond_async)
        except BaseException:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
            progress("the local stack's last log lines:\n" + "\n".join(lines[-40:]))
            raise


def _measure(
    variant: str, data_dir: Path, config: Config, progress: Callable[[str], None], *, respond_async: bool
) -> dict[str, Any]:
    """One stack for every rate, slowest first (a stack per rate costs minutes on a busy machine):
    between two rates the backlog is given ``settle_s`` more to empty, and what is left of it is
    reported with the next rate as ``backlog_at_start``."""
    local = LocalSettings(
        data_dir=data_dir,
        engine_port=0,
        onboarding_delay_ms=config.onboarding_delay_ms,
        concurrency=config.warm_environments,
    )
    began = time.monotonic()
    stack = LocalStack(port=0, local=local).start()
    sampler = Sampler(stack.environment["CAMUNDA_URL"], data_dir / "waitroom.sqlite3", config.sample_s)
    figures: dict[str, Any] = {}
    try:
        token = stack.identity.issue("bench")
        warm = requests.post(
            f"{stack.url}/api/process/start",
            json=arrival_clients.start_body(f"warm-{secrets.token_hex(4)}"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        progress(
            f"arrival, {variant}: the stack is up and warm in {time.monotonic() - began:.1f} s "
            f"(warm start answered {warm.status_code})"
        )
        sampler.start()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client_process:
            for rate in sorted(config.rates):
                carried = sampler.samples[-1].open_tasks if sampler.samples else None
                start_at = time.time() + 1.0
                answers = client_process.submit(
                    arrival_clients.open_loop,
                    stack.url,
                    token,
                    prefix=f"arrival-{secrets.token_hex(4)}",
                    rate=rate,
                    seconds=config.seconds,
                    start_at=start_at,
                    respond_async=respond_async,
                ).result()
                load_end = start_at + config.seconds
                sampler.wait_drained(after=load_end, deadline=load_end + config.tail_s)
                rate_figures = {
                    "backlog_at_start": carried,
                    **_figures(answers, sampler.between(start_at, time.time()), start_at, load_end),
                    "load_average": machine.load_average(),
                }
                figures[_rate_key(rate)] = rate_figures
                progress(
                    f"arrival, {variant}, {_rate_key(rate)}: {rate_figures['share_200_pct']}% answered 200, "
                    f"p50 {rate_figures['start_p50_ms']} ms, backlog max {rate_figures['backlog_max']}, drained "
                    f"{rate_figures['drained_after_s']} s after the load, {rate_figures['steps_per_s']} steps/s; "
                    f"load average {rate_figures['load_average']}"
                )
                sampler.wait_drained(after=time.time(), deadline=time.time() + config.settle_s)
        return figures
    finally:
        sampler.stop()
        stack.stop()


@dataclass
class Sample:
    at: float
    """Seconds since the epoch."""
    open_tasks: int
    """External tasks that exist: waiting to be fetched, or locked by a worker."""
    not_locked: int
    """Of those, the ones no worker holds: the backlog a worker could fetch now."""
    steps: int
    """Steps the store has recorded (one per task a worker ran)."""


@dataclass
class Sampler:
    camunda_url: str
    database: Path
    interval_s: float
    samples: list[Sample] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="arrival-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def between(self, began: float, ended: float) -> list[Sample]:
        return [sample for sample in self.samples if began <= sample.at <= ended]

    def wait_drained(self, *, after: float, deadline: float) -> None:
        """Until a sample taken after ``after`` shows no open task, or ``deadline``."""
        while time.time() < deadline:
            if any(sample.at > after and sample.open_tasks == 0 for sample in self.samples[-3:]):
                return
            time.sleep(self.interval_s)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stopped.is_set():
            began = time.time()
            # A missed sample under load is a gap in the series, not a failure.
            with contextlib.suppress(requests.RequestException, sqlite3.Error, ValueError):
                self.samples.append(self._sample(session, began))
            self._stopped.wait(max(0.0, self.interval_s - (time.time() - began)))

    def _sample(self, session: requests.Session, at: float) -> Sample:
        open_tasks, not_locked = (
            session.get(f"{self.camunda_url}/external-task", params=params, timeout=10)
            for params in ({}, {"notLocked": "true"})
        )
        open_tasks.raise_for_status()
        not_locked.raise_for_status()
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute("SELECT count(*) FROM process_event").fetchone()
        return Sample(at, len(open_tasks.json()), len(not_locked.json()), int(row[0]))


def _figures(
    answers: list[arrival_clients.Answer], samples: list[Sample], start_at: float, load_end: float
) -> dict[str, Any]:
    sent = len(answers)
    answered = [answer for answer in answers if answer.status_code in (200, 202)]
    ok = [answer for answer in answers if answer.status_code == 200]
    latencies = [answer.latency_ms for answer in answered]
    refused: dict[str, int] = {}
    for answer in answers:
        if answer.status_code not in (200, 202):
            refused[str(answer.status_code or "no answer")] = refused.get(str(answer.status_code or "no answer"), 0) + 1
    drained = next(
        (sample.at - load_end for sample in samples if sample.at > load_end and sample.open_tasks == 0), None
    )
    steps = _steps_per_s(samples, load_end)
    return {
        "sent": sent,
        "answered_200": len(ok),
        "answered_202": sum(1 for answer in answers if answer.status_code == 202),
        "share_200_pct": rounded(100 * len(ok) / sent, 1) if sent else None,
        "start_p50_ms": rounded(percentile(latencies, 50)) if latencies else None,
        "start_p99_ms": rounded(percentile(latencies, 99)) if latencies else None,
        "refused": refused,
        "backlog_max": max((sample.open_tasks for sample in samples), default=None),
        "backlog_at_load_end": next((sample.open_tasks for sample in samples if sample.at >= load_end), None),
        "drained_after_s": None if drained is None else rounded(drained),
        "steps_per_s": steps,
        "backlog_series": [
            [rounded(sample.at - start_at), sample.open_tasks, sample.not_locked, sample.steps] for sample in samples
        ],
    }


def _steps_per_s(samples: list[Sample], load_end: float) -> float | None:
    """Steps recorded per second from the load's start until the backlog is empty after it (or the
    last sample)."""
    if len(samples) < 2:
        return None
    first = samples[0]
    end = next((sample for sample in samples if sample.at > load_end and sample.open_tasks == 0), samples[-1])
    return rounded((end.steps - first.steps) / (end.at - first.at), 1) if end.at > first.at else None
