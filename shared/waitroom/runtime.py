"""The objects an execution environment builds once, at cold start, and reuses.

The worker's are in :mod:`waitroom.worker.runtime`, so that the HTTP functions do not import the
worker and its handlers.
"""

from __future__ import annotations

import functools

from waitroom import snapstart  # noqa: F401 -- registers the SnapStart hooks in every function
from waitroom.camunda.client import CamundaClient
from waitroom.domain import ProcessRecord
from waitroom.observability import observe_finish
from waitroom.processes import ProcessService
from waitroom.reconciler import Reconciler
from waitroom.settings import get_settings
from waitroom.store import SqlStore, open_store
from waitroom.wake import WakeChannel, announcer, wake_channel


@functools.cache
def _store_and_wake() -> tuple[SqlStore, WakeChannel]:
    """The store of this execution environment (it connects on first use), wired to announce every
    process it finishes on the wake channel, whichever function finishes it."""
    settings = get_settings()
    opened = open_store(settings)
    channel = wake_channel(settings, opened)

    announce = announcer(channel)

    def finished(record: ProcessRecord) -> None:
        announce(record)
        observe_finish(record)

    opened.on_finish = finished
    return opened, channel


def store() -> SqlStore:
    return _store_and_wake()[0]


def wake() -> WakeChannel:
    return _store_and_wake()[1]


@functools.cache
def process_service() -> ProcessService:
    """Reads the settings (a bad one fails here, at cold start)."""
    settings = get_settings()
    return ProcessService(store=store(), camunda=CamundaClient.from_settings(settings), settings=settings, wake=wake())


def reset() -> None:
    """Forget the cached objects, so that the next call reads the environment again (tests)."""
    if _store_and_wake.cache_info().currsize:
        store().close()
        wake().close()
    _store_and_wake.cache_clear()
    process_service.cache_clear()
    reconciler.cache_clear()
    get_settings.cache_clear()


@functools.cache
def reconciler() -> Reconciler:
    settings = get_settings()
    return Reconciler(store=store(), camunda=CamundaClient.from_settings(settings), settings=settings)
