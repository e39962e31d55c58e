"""What ``make run`` prints while idle: the functions' logs, not their metric lines, which go to a file
of the data directory (``LOCAL_METRICS_ON_CONSOLE`` puts them back on the console)."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest

from devstack.functions import MetricLines
from devstack.stack import LocalSettings
from tests.support.stacks import run_stack

METRIC = '{"_aws":{"CloudWatchMetrics":[]},"Backlog":[0.0]}'


def test_metric_lines_go_to_the_file_and_every_other_line_to_the_console(tmp_path: Path) -> None:
    console = io.StringIO()
    log = '{"level":"INFO","message":"reconciler run finished"}'
    with MetricLines(console, tmp_path / "metrics.jsonl") as routed:

        def prints(worker: int) -> None:
            for _ in range(200):
                print(METRIC, file=routed)  # a line and its newline, in two writes
                print(f"{log} {worker}", file=routed)

        threads = [threading.Thread(target=prints, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(console.getvalue().splitlines()) == sorted(f"{log} {n}" for n in range(4) for _ in range(200))
    assert (tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines() == [METRIC] * 800


def test_an_idle_stack_prints_no_metric_lines(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    metrics = tmp_path / "metrics.jsonl"
    with run_stack(LocalSettings(data_dir=tmp_path, engine_port=0, concurrency=1), {"DATABASE_URL": None}):
        # The worker's dispatcher counts the backlog every 2 s: wait for two of its data points.
        ends = time.monotonic() + 60
        while not (metrics.exists() and metrics.read_text(encoding="utf-8").count('"Backlog"') >= 2):
            assert time.monotonic() < ends, "the idle stack emitted no metric"
            time.sleep(0.2)
    out = capfd.readouterr().out
    assert '"_aws"' not in out, "metric lines on the console"
    written = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()]
    assert all("_aws" in line for line in written)
