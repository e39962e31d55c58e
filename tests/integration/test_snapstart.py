"""SnapStart's runtime hooks, called as Lambda calls them (shared/waitroom/snapstart.py): the hooks
before the snapshot in the reverse order of their registration, those after the restore in order
(AWS's ``snapshot_restore_py`` holds the registrations, as in the managed runtime)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import psycopg
import pytest
from snapshot_restore_py import get_after_restore, get_before_snapshot

from tests.support.camunda_stub import CamundaStub
from tests.support.lambdas import invoke, load_event, load_function, with_caller, with_path
from waitroom import runtime
from waitroom.domain import NewProcess
from waitroom.settings import Settings, get_settings
from waitroom.store import dialect_for
from waitroom.store.migrate import migrate


def take_snapshot() -> None:
    for hook, args, kwargs in reversed(get_before_snapshot()):
        hook(*args, **kwargs)


def restore() -> None:
    for hook, args, kwargs in get_after_restore():
        hook(*args, **kwargs)


def backend_pid(connection: Any) -> int:
    assert isinstance(connection, psycopg.Connection)
    return int(connection.info.backend_pid)


def test_a_restored_environment_opens_a_fresh_connection_and_serves_a_request(
    pg_schema_url: str, camunda: CamundaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(dialect_for(pg_schema_url, Settings(database_url=pg_schema_url)))
    monkeypatch.setenv("DATABASE_URL", pg_schema_url)
    monkeypatch.setenv("CAMUNDA_URL", camunda.url)
    runtime.reset()
    status_function = load_function("status")
    # The init did some work and holds a connection when the snapshot is taken.
    runtime.store().save(NewProcess("snap-1", "onboard-user", "0" * 64, owner="alice"))
    held = runtime.store()._connection
    held_pid = backend_pid(held)

    take_snapshot()

    assert held.closed, "the snapshot would carry an open connection"
    restore()

    fresh = runtime.store()._connection
    assert fresh is not None and fresh is not held and not fresh.closed
    assert backend_pid(fresh) != held_pid
    event = with_path(load_event("status"), "/api/process/status/snap-1", {"correlationId": "snap-1"})
    answer = invoke(status_function, with_caller(event, "alice"))
    assert answer.status == 202
    assert answer.body["correlationId"] == "snap-1"
    assert runtime.store()._connection is fresh, "the request used the connection the restore opened"


def test_environments_restored_from_one_snapshot_draw_different_random_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'waitroom.sqlite3'}")
    take_snapshot()
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        restore()
        draws.append(random.random())  # noqa: S311 -- the module's state is what is tested
    assert draws[0] != draws[1]


def test_the_snapshot_forgets_the_settings_read_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_TIMEOUT_MS", "1000")
    assert get_settings().sync_timeout_ms == 1000
    take_snapshot()
    monkeypatch.setenv("SYNC_TIMEOUT_MS", "2000")
    assert get_settings().sync_timeout_ms == 2000
