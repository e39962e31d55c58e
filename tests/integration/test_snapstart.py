"""SnapStart's runtime hooks, called as Lambda calls them (shared/waitroom/snapstart.py): the hooks
before the snapshot in the reverse order of their registration, those after the restore in order
(AWS's ``snapshot_restore_py`` holds the registrations, as in the managed runtime)."""

from __future__ import annotations

import random
from typing import Any

import psycopg
from snapshot_restore_py import get_after_restore, get_before_snapshot

from tests.support.camunda_stub import CamundaStub
from tests.support.lambdas import api_function, invoke, load_event, with_caller, with_path
from waitroom import bootstrap
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.store import dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.domain.process import NewProcess
from waitroom.settings import Settings


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
    pg_schema_url: str, camunda: CamundaStub
) -> None:
    settings = Settings(database_url=pg_schema_url, camunda_url=camunda.url)
    migrate(dialect_for(pg_schema_url, settings))
    # The init composes the function (as its app.py does), did some work and holds a connection
    # when the snapshot is taken.
    application = bootstrap.application(settings)
    status_function = api_function("status", application)
    application.repository.save(NewProcess("snap-1", "onboard-user", "0" * 64, owner="alice"))
    held = application.repository._connection
    held_pid = backend_pid(held)

    take_snapshot()

    assert held.closed, "the snapshot would carry an open connection"
    restore()

    fresh = application.repository._connection
    assert fresh is not None and fresh is not held and not fresh.closed
    assert backend_pid(fresh) != held_pid
    event = with_path(load_event("status"), "/api/process/status/snap-1", {"correlationId": "snap-1"})
    answer = invoke(status_function, with_caller(event, "alice"))
    assert answer.status == 202
    assert answer.body["correlationId"] == "snap-1"
    assert application.repository._connection is fresh, "the request used the connection the restore opened"
    application.close()


def test_environments_restored_from_one_snapshot_draw_different_random_numbers() -> None:
    take_snapshot()
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        restore()
        draws.append(random.random())  # noqa: S311 -- the module's state is what is tested
    assert draws[0] != draws[1]


def test_the_snapshot_forgets_the_camunda_credentials_read_at_init(camunda: CamundaStub) -> None:
    application = bootstrap.application(Settings(camunda_url=camunda.url, camunda_token="before"))
    client = application.engine.client
    assert isinstance(client, CamundaClient)
    client.session  # noqa: B018 -- the session exists, as after a first request
    client._authenticated = True
    take_snapshot()
    assert client._session is None
    assert client._authenticated is False, "a rotated secret would live on in the snapshot"
