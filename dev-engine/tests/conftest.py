"""The development engine, started in-process on a free port over a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine_client import ORDER_REVIEW, SINGLE_STEP, Camunda
from waitroom_dev_engine import EngineServer


@pytest.fixture
def engine_db(tmp_path: Path) -> Path:
    return tmp_path / "engine.sqlite"


@pytest.fixture
def engine_server(engine_db: Path) -> Iterator[EngineServer]:
    server = EngineServer(engine_db)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def camunda(engine_server: EngineServer) -> Iterator[Camunda]:
    client = Camunda(engine_server.url)
    yield client
    client.session.close()


@pytest.fixture
def deployed(camunda: Camunda) -> Camunda:
    """An engine with both test processes deployed."""
    response = camunda.deploy(ORDER_REVIEW, SINGLE_STEP)
    assert response.status_code == 200, response.text
    return camunda
