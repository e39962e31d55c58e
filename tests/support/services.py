"""The service, the reconciler and the worker composed on a store and a Camunda a test chose (the
rest as the functions compose them)."""

from __future__ import annotations

from datetime import datetime

import requests

from waitroom import bootstrap
from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.engine import CamundaEngine
from waitroom.adapters.camunda.task_queue import CamundaTaskQueue
from waitroom.adapters.store import SqlStore
from waitroom.adapters.wake import Polling
from waitroom.composition import scheduled
from waitroom.composition.worker import engine_watch
from waitroom.entrypoints.worker.plugins import load_registry
from waitroom.entrypoints.worker.runner import Worker
from waitroom.entrypoints.worker.tasks import TopicRegistry, WorkerResources
from waitroom.service.ports import ProcessRepository, TaskQueue, Waker
from waitroom.service.processes import ProcessService
from waitroom.service.reconciler import Reconciler
from waitroom.settings import Settings

#: The handler module of the example onboard-user (examples/onboard-user), for the tests that run it.
DEMO_HANDLERS = "onboard_user.handlers"

#: A Camunda nobody listens on: for services whose test never reaches the engine.
NO_CAMUNDA = "http://127.0.0.1:9/engine-rest"


def service_on(
    store: ProcessRepository,
    settings: Settings | None = None,
    *,
    camunda: CamundaClient | None = None,
    waker: Waker | None = None,
) -> ProcessService:
    settings = settings or Settings()
    engine = CamundaEngine(
        camunda or CamundaClient(NO_CAMUNDA, connect_timeout_s=0.5),
        string_max_chars=settings.camunda_string_max_chars,
    )
    return bootstrap.process_service(settings, repository=store, waker=waker or Polling(), engine=engine)


def reconciler_on(
    store: SqlStore, camunda: CamundaClient, settings: Settings, *, now: datetime | None = None
) -> Reconciler:
    service = service_on(store, settings, camunda=camunda)
    return scheduled.reconciler(settings, service, now=bootstrap.utc_now if now is None else lambda: now)


def worker_on(
    store: SqlStore,
    settings: Settings,
    *,
    camunda: CamundaClient | None = None,
    tasks: TaskQueue | None = None,
    registry: TopicRegistry | None = None,
    waker: Waker | None = None,
    worker_id: str = "test",
    watch_engine: bool = True,
) -> Worker:
    """A worker as ``build_worker`` composes one, on this store and Camunda client: its task queue the
    Camunda 7 adapter on the client unless ``tasks`` says otherwise, its topics those of ``settings``
    unless ``registry`` says otherwise."""
    camunda = camunda or CamundaClient(NO_CAMUNDA, connect_timeout_s=0.5)
    service = service_on(store, settings, camunda=camunda, waker=waker)
    return Worker(
        tasks=tasks
        or CamundaTaskQueue(camunda, worker_id=worker_id, string_max_chars=settings.camunda_string_max_chars),
        service=service,
        registry=load_registry(settings) if registry is None else registry,
        resources=WorkerResources(settings=settings, http=requests.Session()),
        settings=settings,
        engine_watch=engine_watch(settings, service) if watch_engine else None,
    )
