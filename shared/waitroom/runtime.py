"""The objects an execution environment builds once, at cold start, and reuses."""

from __future__ import annotations

import functools

from waitroom.camunda.client import CamundaClient
from waitroom.processes import ProcessService
from waitroom.settings import get_settings
from waitroom.store import open_store


@functools.cache
def process_service() -> ProcessService:
    """Reads the settings (a bad one fails here, at cold start); the store connects on first use."""
    settings = get_settings()
    return ProcessService(store=open_store(settings), camunda=CamundaClient.from_settings(settings), settings=settings)


def reset() -> None:
    """Forget the cached objects, so that the next call reads the environment again (tests)."""
    if process_service.cache_info().currsize:
        process_service().store.close()
    process_service.cache_clear()
    get_settings.cache_clear()
