"""The API functions as a client calls them: composed as their app.py composes them, on the settings a
test chooses, with the Camunda stand-in over real HTTP behind them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.support.camunda_stub import CamundaStub
from tests.support.lambdas import (
    ApiFunction,
    HttpResult,
    api_function,
    invoke,
    load_event,
    with_body,
    with_caller,
    with_headers,
    with_path,
    with_query,
)
from waitroom import bootstrap
from waitroom.bootstrap import Application
from waitroom.settings import load_settings

#: Cold-starts the API functions on a database URL and settings (``sync_timeout_ms=1000``, ...).
ColdStart = Callable[..., "Api"]


@dataclass(frozen=True)
class ApiFunctions:
    start: ApiFunction
    status: ApiFunction
    complete: ApiFunction
    cancel: ApiFunction

    @classmethod
    def of(cls, application: Application) -> ApiFunctions:
        """The four API functions, composed on one application (as one environment per function would be)."""
        return cls(*(api_function(name, application) for name in ("start", "status", "complete", "cancel")))


@dataclass
class Api:
    """The API functions as a client calls them, with the Camunda stand-in behind them."""

    functions: ApiFunctions
    camunda: CamundaStub

    caller: str = "alice"
    admin: bool = False

    def as_caller(self, subject: str, *, admin: bool = False) -> Api:
        """The same functions, called by someone else."""
        return replace(self, caller=subject, admin=admin)

    def start(self, body: Any, **headers: str) -> HttpResult:
        event = with_headers(with_body(load_event("start"), body), **headers)
        return invoke(self.functions.start, self._signed_in(event))

    def status(self, correlation_id: str, **headers: str) -> HttpResult:
        event = with_path(
            load_event("status"), f"/api/process/status/{correlation_id}", {"correlationId": correlation_id}
        )
        return invoke(self.functions.status, self._signed_in(with_headers(event, **headers)))

    def list(self, **query: str) -> HttpResult:
        return invoke(self.functions.status, self._signed_in(with_query(load_event("status-all"), **query)))

    def cancel(self, body: Any) -> HttpResult:
        return invoke(self.functions.cancel, self._signed_in(with_body(load_event("cancel"), body)))

    def _signed_in(self, event: dict[str, Any]) -> dict[str, Any]:
        """The JWT claims API Gateway would pass on for this caller."""
        return with_caller(event, self.caller, admin=self.admin)

    def complete(self, body: Any) -> HttpResult:
        return invoke(self.functions.complete, with_body(load_event("complete"), body))

    def complete_later(self, delay_s: float, body: dict[str, Any]) -> threading.Thread:
        """The last step of the process reporting back while a start request waits."""

        def report() -> None:
            time.sleep(delay_s)
            # A step reports on a process that exists: on a loaded machine the start may not have
            # saved its row yet after ``delay_s``. Bounded by attempts, not by the clock.
            for _ in range(600):
                if self.status(body["correlationId"]).status != 404:
                    break
                time.sleep(0.05)
            assert self.complete(body).status == 200

        thread = threading.Thread(target=report)
        thread.start()
        return thread


@pytest.fixture
def cold_start(camunda: CamundaStub) -> Iterator[ColdStart]:
    """Compose the API functions on ``database_url``, the stand-in as Camunda (unless ``camunda_url``
    says otherwise) and the given settings, the rest at their defaults; a bad setting fails here, as
    it fails a cold start. Their connections are closed when the test ends."""
    built: list[Application] = []

    def start(database_url: str, **settings: object) -> Api:
        application = bootstrap.application(
            load_settings(**{"database_url": database_url, "camunda_url": camunda.url, **settings})
        )
        built.append(application)
        return Api(ApiFunctions.of(application), camunda)

    yield start
    for application in built:
        application.close()
