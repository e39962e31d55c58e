"""The worker an execution environment of the worker function builds once, at cold start."""

from __future__ import annotations

import uuid

import requests

from waitroom.camunda.client import CamundaClient
from waitroom.runtime import store
from waitroom.settings import get_settings
from waitroom.worker import REGISTRY
from waitroom.worker.runner import Worker
from waitroom.worker.tasks import WorkerResources


def build_worker() -> Worker:
    """The worker, with a worker id of its own in Camunda's locks, sharing the environment's store."""
    settings = get_settings()
    resources = WorkerResources(store=store(), settings=settings, http=requests.Session())
    return Worker(
        camunda=CamundaClient.from_settings(settings),
        registry=REGISTRY,
        resources=resources,
        settings=settings,
        worker_id=settings.worker_id or f"waitroom-worker-{uuid.uuid4().hex[:12]}",
    )
