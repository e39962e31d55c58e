"""The local stack end to end, over real HTTP: ``LocalStack`` in this process (SQLite, the worker
on its schedule, the development engine as Camunda), the clients in another (see bench.clients).

Per variant: ``onboard-user`` started one request at a time (latency of the 200, and Waitroom's
overhead beside the process's own ``durationMs``), then 50 concurrent clients for 60 s, then the
engine's history and the onboarding stand-in's accounts are searched for duplicates.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import clients, services
from bench.stats import percentile, rounded
from devstack.stack import LocalSettings, LocalStack


@dataclass(frozen=True)
class Config:
    sequence: int = 100
    """Starts measured one after the other."""
    warmup: int = 5
    """Starts sent before them, not measured."""
    clients: int = 50
    seconds: float = 60.0
    grace_s: float = 30.0
    """How long a client follows its last process past the end, and how long the unfinished ones are
    asked again afterwards before they count as lost."""


def variants(*, redis: bool) -> dict[str, dict[str, str]]:
    """Each variant's environment, set before the stack starts (its functions inherit it)."""
    found: dict[str, dict[str, str]] = {"sqlite-poll": {}}
    if redis:
        found["sqlite-redis"] = {"REDIS_URL": services.REDIS_URL}
    return found


def run(config: Config, *, redis: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    return {name: run_variant(environment, config, progress) for name, environment in variants(redis=redis).items()}


def run_variant(environment: Mapping[str, str], config: Config, progress: Callable[[str], None]) -> dict[str, Any]:
    prefix = f"bench-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="waitroom-bench-stack-") as directory:
        data_dir = Path(directory)
        log = data_dir / "stack.log"
        try:
            with environment_set(environment), output_to(log):
                return _measure(data_dir, prefix, config, progress)
        except BaseException:
            # The stack's own log says why; the directory goes with it, so show its end.
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
            progress("the local stack's last log lines:\n" + "\n".join(lines[-40:]))
            raise


def _measure(data_dir: Path, prefix: str, config: Config, progress: Callable[[str], None]) -> dict[str, Any]:
    began = time.monotonic()
    stack = LocalStack(port=0, local=LocalSettings(data_dir=data_dir, engine_port=0)).start()
    try:
        progress(f"e2e: the local stack is up in {time.monotonic() - began:.1f} s at {stack.url}")
        token = stack.identity.issue("bench")
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client_process:
            samples = client_process.submit(
                clients.sequential_starts,
                stack.url,
                token,
                prefix=f"{prefix}-seq",
                count=config.sequence,
                warmup=config.warmup,
            ).result()
            progress(f"e2e: sequential starts done; {config.clients} clients for {config.seconds:.0f} s")
            load = client_process.submit(
                clients.concurrent_load,
                stack.url,
                token,
                prefix=f"{prefix}-load",
                clients=config.clients,
                seconds=config.seconds,
                grace_s=config.grace_s,
            ).result()
        duplicated, instances = _duplicated(stack, prefix)
        return _figures(samples, load, duplicated, instances, stack)
    finally:
        stack.stop()


def _duplicated(stack: LocalStack, prefix: str) -> tuple[list[str], int]:
    """The correlation ids with more than one Camunda instance, or whose user got more than one
    onboarding account; and how many instances the run started in all."""
    camunda = stack.environment["CAMUNDA_URL"]
    response = requests.get(
        f"{camunda}/history/process-instance",
        params={"processInstanceBusinessKeyLike": f"{prefix}-%"},
        timeout=120,
    )
    response.raise_for_status()
    instances = Counter(str(instance["businessKey"]) for instance in response.json())
    accounts: Counter[str] = Counter()
    if stack.onboarding is not None:
        accounts.update(
            str(account["userId"])
            for account in stack.onboarding.accounts.values()
            if str(account["userId"]).startswith(prefix)
        )
    twice = {key for key, count in instances.items() if count > 1} | {
        user for user, count in accounts.items() if count > 1
    }
    return sorted(twice), sum(instances.values())


def _figures(
    samples: list[clients.Sample],
    load: clients.LoadResult,
    duplicated: list[str],
    instances: int,
    stack: LocalStack,
) -> dict[str, Any]:
    return {
        **_sequence_figures(samples),
        "clients": len({correlation_id.rsplit("-", 1)[0] for correlation_id in load.issued}),
        "load_seconds": rounded(load.elapsed_s),
        "issued": len(load.issued),
        "completed": load.completed,
        "throughput_per_s": rounded(load.completed / load.elapsed_s, 2) if load.elapsed_s else None,
        "start_under_load_p50_ms": _p(load.start_latencies_ms, 50),
        "start_under_load_p99_ms": _p(load.start_latencies_ms, 99),
        "steady_start_under_load_p50_ms": _p(load.steady_start_latencies_ms, 50),
        "steady_start_under_load_p99_ms": _p(load.steady_start_latencies_ms, 99),
        "refused": dict(load.refusals),
        "error_samples": load.error_samples,
        "lost": len(load.lost),
        "lost_ids": load.lost[:10],
        "duplicated": len(duplicated),
        "duplicated_ids": duplicated[:10],
        "camunda_instances": instances,
        "onboarding_calls": stack.onboarding.calls if stack.onboarding is not None else None,
    }


def _sequence_figures(samples: list[clients.Sample]) -> dict[str, Any]:
    answered = [sample for sample in samples if sample.status_code == 200]
    latencies = [sample.latency_ms for sample in answered]
    # Waitroom's own part: what the client waited beyond the process's own work.
    overheads = [sample.latency_ms - sample.duration_ms for sample in answered if sample.duration_ms is not None]
    durations = [sample.duration_ms for sample in answered if sample.duration_ms is not None]
    return {
        "sequence_requests": len(samples),
        "sequence_not_200": len(samples) - len(answered),
        "start_200_p50_ms": _p(latencies, 50),
        "start_200_p99_ms": _p(latencies, 99),
        "process_duration_p50_ms": _p(durations, 50),
        "e2e_overhead_p50_ms": _p(overheads, 50),
        "e2e_overhead_p99_ms": _p(overheads, 99),
    }


def _p(values: list[float], q: float) -> float | None:
    return rounded(percentile(values, q)) if values else None


@contextmanager
def environment_set(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the stack (its function processes inherit them), restored afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr, and those of every process it starts meanwhile (the
    functions log a JSON line per step), to ``path``, so that the report stays readable."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
