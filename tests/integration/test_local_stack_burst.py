"""No unbounded wait in the local stack: a burst of 100 starts on a cold stack gets an answer for
every one of them within 60 s, each one of those API Gateway and the functions give under load."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devstack.stack import LocalSettings, LocalStack
from tests.support.stacks import run_stack

BURST = 100
ANSWERED_WITHIN_S = 60
#: What a client may get from a stack that is saturated: a result, a deferral, or "try again".
EXPECTED = {200, 202, 429, 503}


@pytest.fixture
def cold_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The stack as ``make run`` starts it (one warm environment per function, the default limit
    of environments), with no worker: the processes need not finish for the burst to be answered."""
    local = LocalSettings(data_dir=tmp_path_factory.mktemp("burst"), engine_port=0, concurrency=1, schedules=False)
    with run_stack(local, {"DATABASE_URL": None}) as running:
        yield running


def test_a_burst_of_100_starts_on_a_cold_stack_is_answered_within_60_s(cold_stack: LocalStack) -> None:
    token = cold_stack.identity.issue("burst")
    headers = {"Authorization": f"Bearer {token}", "Prefer": "wait=2"}

    def start(index: int) -> int | str:
        body = {"processKey": "onboard-user", "correlationId": f"burst-{index}"}
        try:
            url = f"{cold_stack.url}/api/process/start"
            return requests.post(url, json=body, headers=headers, timeout=ANSWERED_WITHIN_S).status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        answers = list(pool.map(start, range(BURST)))
    elapsed = time.monotonic() - began

    counted = Counter(answers)
    assert set(counted) <= EXPECTED, f"answers: {dict(counted)}"
    assert elapsed < ANSWERED_WITHIN_S, f"the last answer came after {elapsed:.0f} s: {dict(counted)}"
    print(f"burst of {BURST} on a cold stack: {dict(counted)} in {elapsed:.1f} s")
