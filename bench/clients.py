"""The HTTP clients of the end-to-end benchmark.

They run in a process of their own: the local stack's gateway, engine and onboarding stand-in share
the benchmark's process (and its GIL), and fifty client threads beside them would slow the very
stack they measure.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

PROCESS_KEY = "onboard-user"
#: What a client asks a status request to wait, in seconds (below the status function's timeout).
STATUS_WAIT_S = 20
#: Pause before sending again a start or status request the gateway refused (429) or that failed.
RETRY_PAUSE_S = 0.2
#: The first seconds of the load, while the stack creates an environment per waiting request (50
#: interpreters importing the layer at once on this machine's cores; Lambda creates them apart).
RAMP_S = 10.0
FINAL = frozenset({"DONE", "ERROR", "CANCELLED"})


@dataclass(frozen=True)
class Sample:
    status_code: int
    latency_ms: float
    duration_ms: float | None
    """The process's own ``durationMs``, from the response."""


def sequential_starts(url: str, token: str, *, prefix: str, count: int, warmup: int) -> list[Sample]:
    """``count`` starts of ``onboard-user``, one after the other, after ``warmup`` unmeasured ones
    (the first requests meet cold connections in every environment)."""
    session = requests.Session()
    samples = []
    for index in range(warmup + count):
        correlation_id = f"{prefix}-{index}"
        began = time.perf_counter()
        response = session.post(
            f"{url}/api/process/start", json=start_body(correlation_id), headers=auth(token), timeout=40
        )
        latency_ms = (time.perf_counter() - began) * 1000
        duration = _json(response).get("durationMs")
        samples.append(Sample(response.status_code, latency_ms, float(duration) if duration is not None else None))
    return samples[warmup:]


def start_body(correlation_id: str) -> dict[str, Any]:
    # The user id is the correlation id: one onboarding account per user is then checkable.
    return {
        "processKey": PROCESS_KEY,
        "correlationId": correlation_id,
        "variables": {"userId": correlation_id, "email": "bench@example.com"},
    }


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass
class LoadResult:
    issued: list[str] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)
    """The final status each process reached, as its client saw it."""
    refusals: Counter[str] = field(default_factory=Counter)
    """Answers that were neither the process's state nor a wait: 429, 5xx without a process, no answer."""
    start_latencies_ms: list[float] = field(default_factory=list)
    """Of the first answer to each start (200 or 202)."""
    steady_start_latencies_ms: list[float] = field(default_factory=list)
    """The same, of the starts sent after the first ``RAMP_S``: the stack's environments are warm."""
    elapsed_s: float = 0.0
    completed: int = 0
    """Processes their clients saw DONE within the run."""
    lost: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    """The first few failed requests' errors, to tell why."""


class LoadClient:
    """One client: starts a process with a new correlation id, follows it to its end, and again,
    until the time is up. A refused or failed request is sent again with the same id, as the
    idempotent start allows: the server must neither lose nor duplicate it."""

    def __init__(self, url: str, token: str, result: LoadResult, guard: threading.Lock, *, warm_at: float) -> None:
        self.url = url
        self.token = token
        self.result = result
        self.guard = guard
        self.warm_at = warm_at
        self.session = requests.Session()

    def run(self, name: str, stop_at: float, give_up_at: float) -> None:
        for number in range(1_000_000):
            if time.monotonic() >= stop_at:
                return
            correlation_id = f"{name}-{number}"
            with self.guard:
                self.result.issued.append(correlation_id)
            status = self._follow(correlation_id, give_up_at)
            if status is not None:
                with self.guard:
                    self.result.final[correlation_id] = status

    def _follow(self, correlation_id: str, give_up_at: float) -> str | None:
        """The process's final status, or None if it did not reach one before ``give_up_at``."""
        status = self._start(correlation_id, give_up_at)
        while status is not None and status not in FINAL and time.monotonic() < give_up_at:
            status = self._send(
                "GET",
                f"/api/process/status/{correlation_id}",
                None,
                give_up_at,
                Prefer=f"wait={STATUS_WAIT_S}",
            )
        return status if status in FINAL else None

    def _start(self, correlation_id: str, give_up_at: float) -> str | None:
        warm = time.monotonic() >= self.warm_at
        began = time.perf_counter()
        status = self._send("POST", "/api/process/start", start_body(correlation_id), give_up_at)
        if status is not None:
            latency_ms = (time.perf_counter() - began) * 1000
            with self.guard:
                self.result.start_latencies_ms.append(latency_ms)
                if warm:
                    self.result.steady_start_latencies_ms.append(latency_ms)
        return status

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, give_up_at: float, **headers: str
    ) -> str | None:
        """The process's status from the first answer that carries one; None past ``give_up_at``."""
        route = path.split("/")[3]
        while time.monotonic() < give_up_at:
            try:
                response = self.session.request(
                    method, f"{self.url}{path}", json=body, headers=auth(self.token, **headers), timeout=40
                )
            except requests.RequestException as exc:
                with self.guard:
                    if len(self.result.error_samples) < 5:
                        self.result.error_samples.append(f"{method} {path}: {exc}")
                self._refused(f"{route} {type(exc).__name__}")
                continue
            status = _json(response).get("status")
            if isinstance(status, str):
                return status
            self._refused(f"{route} {response.status_code}")
        return None

    def _refused(self, what: str) -> None:
        with self.guard:
            self.result.refusals[what] += 1
        time.sleep(RETRY_PAUSE_S)


def concurrent_load(url: str, token: str, *, prefix: str, clients: int, seconds: float, grace_s: float) -> LoadResult:
    """``clients`` clients for ``seconds``; then every process issued is checked once more, for up to
    ``grace_s``: one that is still not final (or unknown) is lost."""
    result, guard = LoadResult(), threading.Lock()
    began = time.monotonic()
    stop_at = began + seconds
    give_up_at = stop_at + grace_s
    threads = [
        threading.Thread(
            target=LoadClient(url, token, result, guard, warm_at=began + RAMP_S).run,
            args=(f"{prefix}-{index}", stop_at, give_up_at),
        )
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed_s = time.monotonic() - began
    result.completed = sum(1 for status in result.final.values() if status == "DONE")
    result.lost = _still_unfinished(url, token, result, time.monotonic() + grace_s)
    return result


def _still_unfinished(url: str, token: str, result: LoadResult, deadline: float) -> list[str]:
    """The issued processes that are not final, asked again of the server until ``deadline``."""
    session = requests.Session()
    unfinished = [correlation_id for correlation_id in result.issued if correlation_id not in result.final]
    while unfinished and time.monotonic() < deadline:
        still = []
        for correlation_id in unfinished:
            try:
                response = session.get(f"{url}/api/process/status/{correlation_id}", headers=auth(token), timeout=10)
                status = _json(response).get("status")
            except requests.RequestException:
                status = None
            if status in FINAL:
                result.final[correlation_id] = str(status)
            else:
                still.append(correlation_id)
        unfinished = still
        if unfinished:
            time.sleep(1)
    return unfinished
