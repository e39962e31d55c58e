"""The composition of the dispatcher, which starts worker invocations that drain the engine's backlog (see
:mod:`waitroom.entrypoints.worker.dispatch`). A module of its own, so that only the dispatcher loads
boto3's Lambda client."""

from __future__ import annotations

from waitroom.adapters.camunda.client import CamundaClient
from waitroom.adapters.camunda.task_queue import CamundaTaskQueue
from waitroom.adapters.lambda_invoke import LambdaInvoker
from waitroom.domain.errors import ConfigurationError
from waitroom.entrypoints.worker.dispatch import Dispatcher
from waitroom.entrypoints.worker.plugins import load_registry
from waitroom.settings import Settings


def build_dispatcher(settings: Settings) -> Dispatcher:
    """The dispatcher at its cold start: the engine's task queue (Camunda 7's external tasks), the
    topics the worker serves, and the Lambda client that starts worker invocations. The Camunda 8
    adapter reads no backlog (:mod:`waitroom.adapters.camunda8.task_queue` says why): on
    ``ENGINE=camunda8`` the cold start fails, and the worker runs on its schedule alone."""
    if settings.engine != "camunda7":
        raise ConfigurationError(
            "the dispatcher reads Camunda 7's backlog of external tasks; Camunda 8's job search does not tell a job "
            "taken from one waiting, so Waitroom's Camunda 8 adapter reads none"
        )
    return Dispatcher(
        # It reads the backlog and takes no task: its id is in no lock.
        tasks=CamundaTaskQueue(
            CamundaClient.from_settings(settings),
            worker_id="waitroom-dispatcher",
            string_max_chars=settings.camunda_string_max_chars,
        ),
        registry=load_registry(settings),
        settings=settings,
        invoke=LambdaInvoker(settings.worker_function_name),
    )
