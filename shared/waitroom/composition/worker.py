"""The composition of the worker: its topics, the engine's task queue it takes them from (Camunda 7's
external tasks or Camunda 8's jobs, as ``ENGINE`` says), the service it records steps and finishes
processes with, and the listening worker's engine watch."""

from __future__ import annotations

import uuid
from datetime import timedelta

import requests

from waitroom import bootstrap
from waitroom.adapters.camunda.engine import CamundaEngine
from waitroom.adapters.camunda.task_queue import CamundaTaskQueue
from waitroom.entrypoints.worker.plugins import load_registry
from waitroom.entrypoints.worker.runner import Worker
from waitroom.entrypoints.worker.tasks import WorkerResources
from waitroom.service.engine_watch import EngineWatch
from waitroom.service.ports import TaskQueue
from waitroom.service.processes import ProcessService
from waitroom.settings import Settings


def engine_watch(settings: Settings, service: ProcessService) -> EngineWatch | None:
    """The listening worker's watch for incidents (None when ``ENGINE_WATCH_MS`` is 0)."""
    if not settings.engine_watch_ms:
        return None
    return EngineWatch(
        service=service,
        engine=service.engine,
        lookback=timedelta(seconds=settings.engine_watch_lookback_s),
        now=bootstrap.utc_now,
    )


def task_queue(settings: Settings, built: bootstrap.Application, *, worker_id: str) -> TaskQueue:
    """The configured engine's task queue, on the client of the application's engine: Camunda 7's
    external tasks, or Camunda 8's jobs."""
    engine = built.engine
    if isinstance(engine, CamundaEngine):
        return CamundaTaskQueue(engine.client, worker_id=worker_id, string_max_chars=settings.camunda_string_max_chars)
    from waitroom.adapters.camunda8.task_queue import Camunda8TaskQueue  # noqa: PLC0415 -- Camunda 8 only

    return Camunda8TaskQueue(engine.client, worker_id=worker_id)


def build_worker(settings: Settings) -> Worker:
    """The worker of an execution environment, composed at its cold start: the topics of the response
    step and of the handler modules (a bad module, or a topic claimed twice, fails here), the task
    queue on the engine's client with a worker id of its own in the engine's locks, and the service
    (on this environment's connection) to record steps and finish processes with."""
    registry = load_registry(settings)
    built = bootstrap.application(settings)
    return Worker(
        tasks=task_queue(settings, built, worker_id=settings.worker_id or f"waitroom-worker-{uuid.uuid4().hex[:12]}"),
        service=built.service,
        registry=registry,
        resources=WorkerResources(settings=settings, http=requests.Session()),
        settings=settings,
        engine_watch=engine_watch(settings, built.service),
    )
