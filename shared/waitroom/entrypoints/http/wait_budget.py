"""How long a request may wait for its process: the configured timeout, the client's ``Prefer: wait``,
the invocation's remaining time and the gateway's limit. Facts of the transport, so the entry point
grants the wait and the service is given it."""

from __future__ import annotations

from waitroom.entrypoints.http.resolver import Preferences
from waitroom.settings import Settings

#: API Gateway HTTP APIs end every integration after 30 s; a wait must answer before that.
API_GATEWAY_TIMEOUT_MS = 30_000


def wait_budget_ms(
    *,
    sync_timeout_ms: int,
    safety_margin_ms: int,
    preferred_wait_ms: int | None = None,
    remaining_ms: int | None = None,
    long_wait_max_ms: int | None = None,
) -> int:
    """How long a request may wait: the smallest of the configured timeout, the client's
    ``Prefer: wait``, the Lambda's remaining time and the gateway's limit, the last two less a margin
    to write the answer.

    ``long_wait_max_ms`` is set for a request that came through a Lambda Function URL, where no
    gateway cuts the call: there a ``Prefer: wait`` may exceed the configured timeout, up to it.
    """
    if long_wait_max_ms is None:
        limits = [sync_timeout_ms, API_GATEWAY_TIMEOUT_MS - safety_margin_ms]
    else:
        limits = [sync_timeout_ms if preferred_wait_ms is None else long_wait_max_ms]
    if preferred_wait_ms is not None:
        limits.append(preferred_wait_ms)
    if remaining_ms is not None:
        limits.append(remaining_ms - safety_margin_ms)
    return max(0, min(limits))


def granted_wait_ms(settings: Settings, preferences: Preferences, *, remaining_ms: int | None, long_wait: bool) -> int:
    """How long a request that asked for ``preferences`` may wait (``long_wait`` for a request no
    gateway cuts at 30 s: a Function URL; ``remaining_ms`` None for a wait no invocation holds: a
    durable one)."""
    return wait_budget_ms(
        sync_timeout_ms=settings.sync_timeout_ms,
        safety_margin_ms=settings.wait_safety_margin_ms,
        preferred_wait_ms=preferences.max_wait_ms,
        remaining_ms=remaining_ms,
        long_wait_max_ms=settings.long_wait_max_ms if long_wait else None,
    )
