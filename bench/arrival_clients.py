"""Open-loop clients of the arrival-rate benchmark: a start every ``1/rate`` seconds, each in a
thread of its own, whatever the earlier ones are doing (a closed loop would slow down with the
stack and hide its ceiling). They run in a process of their own, apart from the stack's GIL."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests

from bench.clients import auth, start_body

#: Longer than any start may take (the wait, 25 s, and the gateway's 30 s limit).
REQUEST_TIMEOUT_S = 40.0

__all__ = ["Answer", "open_loop", "start_body"]


@dataclass(frozen=True)
class Answer:
    sent_s: float
    """When the start was sent, in seconds from the load's start."""
    status_code: int
    """0 when no answer came."""
    latency_ms: float


def open_loop(
    url: str, token: str, *, prefix: str, rate: float, seconds: float, start_at: float, respond_async: bool = False
) -> list[Answer]:
    """``rate * seconds`` starts of ``onboard-user``, the first at ``start_at`` (seconds since the
    epoch), evenly spaced; returns once every one has its answer. ``respond_async``: the starts ask
    for an answer at once (``Prefer: respond-async``), so that no start holds an environment while
    its process runs."""
    headers = auth(token, Prefer="respond-async") if respond_async else auth(token)
    answers: list[Answer] = []
    guard = threading.Lock()

    def send(index: int, due: float) -> None:
        began = time.perf_counter()
        try:
            response = requests.post(
                f"{url}/api/process/start",
                json=start_body(f"{prefix}-{index}"),
                headers=headers,
                timeout=REQUEST_TIMEOUT_S,
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        latency_ms = (time.perf_counter() - began) * 1000
        with guard:
            answers.append(Answer(due - start_at, status, latency_ms))

    threads = []
    for index in range(round(rate * seconds)):
        due = start_at + index / rate
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        thread = threading.Thread(target=send, args=(index, due), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return answers
