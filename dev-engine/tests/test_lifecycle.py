"""Engine lifecycle: persistence across restarts, authentication, the CLI and a real worker client."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from engine_client import (
    BPMN_DIR,
    HTTP_TIMEOUT,
    ORDER_REVIEW,
    Camunda,
    order_variables,
)
from waitroom_dev_engine import EngineServer
from waitroom_dev_engine.testing.ecosystem_worker import ExternalTask, TaskResult, running_worker


def test_state_survives_a_restart(engine_db: Path) -> None:
    first = EngineServer(engine_db)
    camunda = Camunda(first.start())
    camunda.deploy(ORDER_REVIEW)
    instance = camunda.start("order-review", order_variables(), businessKey="persisted")
    validate = camunda.fetch_one("w", "order-review.validate", lock_duration=60_000)
    first.stop()

    second = EngineServer(engine_db)
    camunda = Camunda(second.start())
    try:
        assert camunda.fetch("other", "order-review.validate") == []
        assert camunda.complete(validate["id"], "w").status_code == 204
        fulfil = camunda.fetch_one("w", "order-review.fulfil")
        assert fulfil["businessKey"] == "persisted"
        assert fulfil["variables"]["customer"]["value"] == "ada"
        assert camunda.complete(fulfil["id"], "w").status_code == 204
        assert camunda.history(instance["id"])["state"] == "COMPLETED"
    finally:
        camunda.session.close()
        second.stop()


def test_basic_auth_when_configured(engine_db: Path) -> None:
    with EngineServer(engine_db, username="demo", password="s3cret") as server:
        anonymous = requests.get(f"{server.url}/version", timeout=HTTP_TIMEOUT)
        wrong = requests.get(f"{server.url}/version", auth=("demo", "nope"), timeout=HTTP_TIMEOUT)
        allowed = requests.get(f"{server.url}/version", auth=("demo", "s3cret"), timeout=HTTP_TIMEOUT)
        engines = requests.get(f"{server.url}/engine", timeout=HTTP_TIMEOUT)

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="default"'
    assert wrong.status_code == 401
    assert allowed.json() == {"version": "7.24.0"}
    # Like Camunda's authentication filter, the engine list stays open.
    assert engines.json() == [{"name": "default"}]


def test_the_real_external_task_client_drives_a_process(engine_db: Path) -> None:
    with EngineServer(engine_db, username="demo", password="s3cret") as server:
        camunda = Camunda(server.url)
        camunda.session.auth = ("demo", "s3cret")
        camunda.deploy(ORDER_REVIEW)
        instance = camunda.start("order-review", order_variables(score=2))
        seen: list[str] = []

        def handle(task: ExternalTask) -> TaskResult:
            seen.append(task.get_topic_name())
            if task.get_topic_name() == "order-review.validate":
                assert task.get_variable("customer") == "ada"
                return task.complete({"score": 9, "validatedBy": task.get_worker_id()})
            return task.complete({"fulfilled": True})

        topics = ["order-review.validate", "order-review.fulfil"]
        with running_worker(
            server.url,
            topics,
            handle,
            worker_id="python-client",
            config={"auth_basic": {"username": "demo", "password": "s3cret"}},
        ) as thread:
            deadline = time.monotonic() + 10
            while camunda.history(instance["id"])["state"] == "ACTIVE" and time.monotonic() < deadline:
                time.sleep(0.05)
        history = camunda.history(instance["id"])
        camunda.session.close()

    assert not thread.is_alive()
    assert seen == ["order-review.validate", "order-review.fulfil"]
    assert history["state"] == "COMPLETED"


def test_command_line_deploys_a_directory_and_stops_cleanly(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "waitroom_dev_engine", "--port", "0", "--db", str(tmp_path / "cli.sqlite"),
        "--bpmn-dir", str(BPMN_DIR), "--log-level", "WARNING",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # a fixed argv
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("CAMUNDA_URL=http://127.0.0.1:")
        url = line.removeprefix("CAMUNDA_URL=")
        definition = requests.get(f"{url}/process-definition/key/single-step", timeout=HTTP_TIMEOUT)
        assert definition.status_code == 200
        assert definition.json()["resource"] == "single_step.bpmn"
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert exit_code == 0
