"""Retention: finished processes older than the policy keeps are deleted, with their steps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from waitroom.service.policies import RetentionPolicy
from waitroom.service.ports import ProcessRepository, WallClock

logger = logging.getLogger(__name__)

#: A scheduled run stops starting batches when its invocation has less time left than this.
TIME_KEPT_BACK_MS = 5_000


@dataclass(frozen=True)
class RetentionSummary:
    deleted: int
    batches: int


def purge_expired(
    repository: ProcessRepository,
    policy: RetentionPolicy,
    *,
    remaining_ms: Callable[[], int],
    now: WallClock,
    on_batch: Callable[[RetentionSummary], None] | None = None,
) -> RetentionSummary:
    """Delete finished processes older than the policy keeps, a batch at a time, until none is left or
    the invocation's time runs short (the next run goes on).

    ``on_batch`` is given the running totals after each batch (the command line shows progress)."""
    cutoff = now() - policy.keep_for
    deleted = batches = 0
    while remaining_ms() > TIME_KEPT_BACK_MS:
        started = time.monotonic()
        count = repository.purge_finished(updated_before=cutoff, batch=policy.batch)
        deleted += count
        batches += 1
        logger.debug("retention batch", extra={"deleted": count, "ms": round((time.monotonic() - started) * 1000)})
        if on_batch is not None:
            on_batch(RetentionSummary(deleted, batches))
        if count < policy.batch:
            break
    logger.info("retention run finished", extra={"deleted": deleted, "batches": batches})
    return RetentionSummary(deleted, batches)
