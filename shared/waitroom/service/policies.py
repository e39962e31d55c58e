"""The settings the service obeys, as plain values: :meth:`waitroom.settings.Settings` builds them,
so that the service reads no environment and imports no pydantic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from waitroom.service.waiting import PollSchedule


@dataclass(frozen=True)
class StartPolicy:
    allowed_process_keys: frozenset[str]
    """The keys clients may start; ``*`` among them allows every key."""

    def may_start(self, process_key: str) -> bool:
        return "*" in self.allowed_process_keys or process_key in self.allowed_process_keys


@dataclass(frozen=True)
class WaitPolicy:
    poll_schedule: PollSchedule
    push_fallback_poll_ms: int
    """With a push channel, the row is still read this often in case a notification is lost."""
    adaptive_history: int
    """Finished processes of a key an ``adaptive`` schedule learns from (0: never learn)."""


@dataclass(frozen=True)
class ReconcilePolicy:
    min_age: timedelta
    """Younger PENDING rows are left alone: their start may still be under way."""
    batch: int
    max_process_age: timedelta
    stuck_after: timedelta


@dataclass(frozen=True)
class RetentionPolicy:
    keep_for: timedelta
    batch: int
