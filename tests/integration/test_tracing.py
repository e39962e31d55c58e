"""Tracing as X-Ray receives it: a function run as Lambda runs it (a trace header in the
environment, the X-Ray daemon's address) sends its subsegments over UDP; the test is the daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.camunda_stub import CamundaStub
from tests.support.lambdas import ROOT
from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.settings import Settings

TRACE_ID = "1-67890abc-0123456789abcdef01234567"

INVOKE = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import app
    from devstack.lambda_context import LocalLambdaContext
    from tests.support.lambdas import load_event, with_body, with_caller, with_headers
    event = with_headers(with_body(load_event("start"), {"processKey": "onboard-user", "correlationId": "traced-1"}),
                         prefer="respond-async")
    response = app.lambda_handler(with_caller(event, "alice"), LocalLambdaContext(function_name="start"))
    print(json.dumps({"status": response["statusCode"]}))
    """
)


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)
    yield listener
    listener.close()


def received(listener: socket.socket) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    while True:
        try:
            datagram = listener.recv(65536).decode()
        except TimeoutError:
            return documents
        documents.append(json.loads(datagram.split("\n", 1)[1]))  # a header line, then the document


def flattened(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    pending = list(documents)
    while pending:
        document = pending.pop()
        found.append(document)
        pending.extend(document.get("subsegments", []))
    return found


def test_a_start_traces_its_handler_camunda_and_the_database_with_the_correlation_id(
    daemon: socket.socket, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'traced.sqlite3'}"
    migrate(dialect_for(database, Settings(database_url=database)))
    camunda = CamundaStub().start()
    environment = {
        **{name: value for name, value in os.environ.items() if name != "POWERTOOLS_TRACE_DISABLED"},
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "start"),
        "AWS_LAMBDA_FUNCTION_NAME": "start",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "DATABASE_URL": database,
        "CAMUNDA_URL": camunda.url,
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", INVOKE, str(ROOT / "functions" / "start"), str(ROOT / "shared")],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        camunda.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"status": 202}

    subsegments = flattened(received(daemon))
    names = {subsegment["name"] for subsegment in subsegments}
    assert all(subsegment["trace_id"] == TRACE_ID for subsegment in subsegments if "trace_id" in subsegment)
    handler = next(subsegment for subsegment in subsegments if subsegment["name"] == "## lambda_handler")
    assert handler["annotations"]["correlationId"] == "traced-1"
    assert "## sqlite" in names, "the database calls are subsegments"
    camunda_calls = [
        s for s in subsegments if s.get("http", {}).get("request", {}).get("url", "").startswith(camunda.url)
    ]
    assert camunda_calls, f"the call to Camunda is a subsegment: {sorted(names)}"
    assert camunda_calls[0]["http"]["request"]["method"] == "POST"
