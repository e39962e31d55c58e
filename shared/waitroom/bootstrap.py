"""The service built on its adapters: the parts every kind of process composes itself from.

The composition roots, one module per kind of process, are in :mod:`waitroom.composition`; the command
line builds what each command uses from here. Nothing here is a global: a test builds its own with the
settings it wants, and fakes where it wants them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from waitroom import snapstart
from waitroom.adapters.metrics import CloudWatchMetrics
from waitroom.adapters.store import SqlStore, open_store
from waitroom.adapters.wake import WakeChannel, wake_channel
from waitroom.service.ports import Callbacks, Clock, Engine, Metrics, ProcessRepository, Waker
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings

if TYPE_CHECKING:
    from waitroom.adapters.camunda.engine import CamundaEngine
    from waitroom.adapters.camunda8.engine import Camunda8Engine


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Application:
    """The service and the adapters it runs on, which hold this environment's connections."""

    settings: Settings
    repository: SqlStore
    waker: WakeChannel
    #: The configured engine's adapter (``ENGINE``), whose client the worker's task queue shares.
    engine: CamundaEngine | Camunda8Engine
    service: ProcessService

    def close(self) -> None:
        """Let go of the connections (the environment ends, or a test does)."""
        self.repository.close()
        self.waker.close()
        self.engine.client.close()


def repository(settings: Settings) -> SqlStore:
    """The process repository on the configured database. It connects on first use."""
    return open_store(settings)


def engine(settings: Settings) -> CamundaEngine | Camunda8Engine:
    """The adapter of the engine ``ENGINE`` names. Only that adapter's modules are imported: an API
    function on Camunda 7 never loads Camunda 8's, nor the other way round."""
    if settings.engine == "camunda8":
        from waitroom.adapters.camunda8.client import Camunda8Client  # noqa: PLC0415 -- see above
        from waitroom.adapters.camunda8.engine import Camunda8Engine  # noqa: PLC0415

        return Camunda8Engine(Camunda8Client.from_settings(settings))
    from waitroom.adapters.camunda.client import CamundaClient  # noqa: PLC0415
    from waitroom.adapters.camunda.engine import CamundaEngine  # noqa: PLC0415

    return CamundaEngine(CamundaClient.from_settings(settings), string_max_chars=settings.camunda_string_max_chars)


def durable_callbacks(settings: Settings) -> Callbacks | None:
    """What resumes the durable waiters, in the durable wait mode (none in the classic one). boto3 is
    imported only then: the classic functions never load it."""
    if settings.wait_mode != "durable":
        return None
    from waitroom.adapters.callbacks import LambdaCallbacks  # noqa: PLC0415 -- durable mode only

    return LambdaCallbacks()


def process_service(
    settings: Settings,
    *,
    repository: ProcessRepository,
    waker: Waker,
    engine: Engine,
    metrics: Metrics | None = None,
    clock: Clock = time.monotonic,
    callbacks: Callbacks | None = None,
) -> ProcessService:
    """The service on the given adapters, obeying ``settings`` (a test or a benchmark passes its own)."""
    return ProcessService(
        repository=repository,
        engine=engine,
        waker=waker,
        metrics=metrics or CloudWatchMetrics(),
        start_policy=settings.start_policy(),
        wait_policy=settings.wait_policy(),
        clock=clock,
        callbacks=callbacks if callbacks is not None else durable_callbacks(settings),
    )


def application(settings: Settings, *, metrics: Metrics | None = None) -> Application:
    """The service on the configured database, Camunda and wake channel (and CloudWatch metrics unless
    ``metrics`` says otherwise). Nothing connects yet."""
    store = repository(settings)
    waker = wake_channel(settings, store)
    camunda = engine(settings)
    service = process_service(settings, repository=store, waker=waker, engine=camunda, metrics=metrics)
    # SnapStart's hooks drop this environment's connections before a snapshot and re-open them after.
    return snapstart.hold(Application(settings, store, waker, camunda, service))
