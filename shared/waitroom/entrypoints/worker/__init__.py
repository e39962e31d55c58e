"""The Camunda external-task worker and the handlers of the processes Waitroom ships."""

from __future__ import annotations

import uuid

import requests

from waitroom import bootstrap
from waitroom.entrypoints.worker import onboard_user
from waitroom.entrypoints.worker.runner import Worker
from waitroom.entrypoints.worker.tasks import TopicRegistry, WorkerResources
from waitroom.settings import Settings

#: Every topic the worker serves, declared in this one place.
REGISTRY = TopicRegistry.of([*onboard_user.TOPICS])


def build_worker(settings: Settings) -> Worker:
    """The worker of an execution environment, composed at its cold start: a worker id of its own in
    Camunda's locks, and the service (on this environment's connection) to record steps and finish
    processes with."""
    built = bootstrap.application(settings)
    return Worker(
        camunda=built.engine.client,
        service=built.service,
        registry=REGISTRY,
        resources=WorkerResources(settings=settings, http=requests.Session()),
        settings=settings,
        worker_id=settings.worker_id or f"waitroom-worker-{uuid.uuid4().hex[:12]}",
    )
