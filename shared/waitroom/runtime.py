"""The objects an execution environment builds once, at cold start, and reuses."""

from __future__ import annotations

import functools
import uuid

import requests

from waitroom.camunda.client import CamundaClient
from waitroom.processes import ProcessService
from waitroom.reconciler import Reconciler
from waitroom.settings import get_settings
from waitroom.store import open_store
from waitroom.worker import REGISTRY
from waitroom.worker.runner import Worker
from waitroom.worker.tasks import WorkerResources


@functools.cache
def process_service() -> ProcessService:
    """Reads the settings (a bad one fails here, at cold start); the store connects on first use."""
    settings = get_settings()
    return ProcessService(store=open_store(settings), camunda=CamundaClient.from_settings(settings), settings=settings)


def reset() -> None:
    """Forget the cached objects, so that the next call reads the environment again (tests)."""
    if process_service.cache_info().currsize:
        process_service().store.close()
    if worker.cache_info().currsize:
        worker().resources.store.close()
    process_service.cache_clear()
    reconciler.cache_clear()
    worker.cache_clear()
    get_settings.cache_clear()


@functools.cache
def reconciler() -> Reconciler:
    service = process_service()
    return Reconciler(store=service.store, camunda=service.camunda, settings=service.settings)


@functools.cache
def worker() -> Worker:
    """The worker of this execution environment, with a worker id of its own in Camunda's locks."""
    settings = get_settings()
    resources = WorkerResources(store=open_store(settings), settings=settings, http=requests.Session())
    return Worker(
        camunda=CamundaClient.from_settings(settings),
        registry=REGISTRY,
        resources=resources,
        settings=settings,
        worker_id=settings.worker_id or f"waitroom-worker-{uuid.uuid4().hex[:12]}",
    )
