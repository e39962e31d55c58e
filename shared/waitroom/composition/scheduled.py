"""The composition of the scheduled functions that settle and clean up processes: the reconciler, on
the service of its settings, and retention, on the repository alone (it needs neither Camunda nor a
wake channel)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from waitroom import bootstrap
from waitroom.service.policies import RetentionPolicy
from waitroom.service.ports import ProcessRepository, WallClock
from waitroom.service.processes import ProcessService
from waitroom.service.reconciler import Reconciler
from waitroom.service.retention import RetentionSummary, purge_expired
from waitroom.settings import Settings


def reconciler(
    settings: Settings, service: ProcessService | None = None, *, now: WallClock = bootstrap.utc_now
) -> Reconciler:
    """The reconciler, on the service of ``settings`` (or on ``service``, with its engine and metrics)."""
    service = service or bootstrap.application(settings).service
    return Reconciler(
        service=service,
        engine=service.engine,
        metrics=service.metrics,
        policy=settings.reconcile_policy(),
        now=now,
    )


@dataclass(frozen=True)
class Retention:
    """Retention's run: the finished processes older than the policy keeps, deleted in batches."""

    repository: ProcessRepository
    policy: RetentionPolicy
    now: WallClock = bootstrap.utc_now

    def run(self, remaining_ms: Callable[[], int]) -> RetentionSummary:
        return purge_expired(self.repository, self.policy, remaining_ms=remaining_ms, now=self.now)


def retention(settings: Settings) -> Retention:
    """Retention on the configured database's repository, which connects on first use."""
    return Retention(bootstrap.repository(settings), settings.retention_policy())
