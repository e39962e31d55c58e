"""The process record and its state machine, as the store keeps them."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ProcessStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self is not ProcessStatus.PENDING


FINAL_STATUSES = frozenset(status for status in ProcessStatus if status.is_final)


def dump_json(value: Any) -> str:
    """The one JSON encoding the store writes: compact, non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def request_hash(process_key: str, variables: dict[str, Any]) -> str:
    """A fingerprint of a start request, so that a repeated start can be told from a different one.

    Keys are sorted so that the same variables in another order are the same request.
    """
    canonical = json.dumps(
        {"processKey": process_key, "variables": variables},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who is calling: the subject of their token, and whether they hold the admin scope."""

    subject: str
    admin: bool = False

    def may_see(self, owner: str | None) -> bool:
        """Their own processes; an admin sees every process (and alone those without an owner)."""
        return self.admin or owner == self.subject


@dataclass(frozen=True)
class NewProcess:
    correlation_id: str
    process_key: str
    request_hash: str
    owner: str | None = None


@dataclass(frozen=True)
class ProcessRecord:
    correlation_id: str
    status: ProcessStatus
    process_key: str | None
    payload_json: str | None
    error_json: str | None
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    camunda_instance_id: str | None = None
    request_hash: str | None = None
    owner: str | None = None

    @functools.cached_property
    def payload(self) -> Any:
        return None if self.payload_json is None else json.loads(self.payload_json)

    @functools.cached_property
    def error(self) -> Any:
        return None if self.error_json is None else json.loads(self.error_json)

    @property
    def duration_ms(self) -> int | None:
        if self.completed_at is None:
            return None
        return round((self.completed_at - self.started_at).total_seconds() * 1000)


@dataclass(frozen=True)
class ListQuery:
    """One page of the process list, newest first; ``after`` is the last row of the previous page."""

    limit: int
    status: ProcessStatus | None = None
    process_key: str | None = None
    started_after: datetime | None = None
    """Inclusive."""
    started_before: datetime | None = None
    """Exclusive."""
    after: tuple[datetime, str] | None = None
    """``(started_at, correlation_id)`` of the row the page starts after."""
    owner: str | None = None
    """Only the processes of this owner (a caller without the admin scope sees only theirs)."""


class StepOutcome(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    BPMN_ERROR = "BPMN_ERROR"


@dataclass(frozen=True)
class StepEvent:
    """One run of one step of a process, as the worker saw it (the seed's event log)."""

    correlation_id: str
    topic: str
    activity_id: str | None
    outcome: StepOutcome
    duration_ms: int
    error_json: str | None = None
    occurred_at: datetime | None = None

    @property
    def error(self) -> Any:
        return None if self.error_json is None else json.loads(self.error_json)
