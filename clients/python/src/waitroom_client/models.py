"""The process as Waitroom answers it, typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ProcessStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class ProcessFailure:
    """Why a process ended in ERROR or CANCELLED."""

    code: str
    message: str
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Any) -> ProcessFailure:
        if isinstance(body, dict):
            return cls(str(body.get("code") or "ERROR"), str(body.get("message") or ""), body)
        return cls("ERROR", str(body), {})


@dataclass(frozen=True)
class Step:
    """One run of one step of the process (``history``)."""

    topic: str
    outcome: str
    duration_ms: int
    activity_id: str | None = None
    error: Any = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Process:
    correlation_id: str
    process_key: str | None
    status: ProcessStatus
    started_at: datetime
    updated_at: datetime
    data: Any = None
    """The result: what the process's last step reported (``DONE``)."""
    error: ProcessFailure | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    status_url: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    """The URLs a caller may follow (``status``, ``cancel``, ``history``), when the server sends them."""
    history: tuple[Step, ...] | None = None
    retry_after_s: float | None = None
    """The answer's ``Retry-After`` (a ``202``): when the server suggests looking again."""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status is not ProcessStatus.PENDING

    @classmethod
    def from_json(cls, body: dict[str, Any], *, retry_after_s: float | None = None) -> Process:
        links = body.get("links") or {}
        history = body.get("history")
        return cls(
            correlation_id=str(body["correlationId"]),
            process_key=body.get("processKey"),
            status=ProcessStatus(body["status"]),
            started_at=_time(body["startedAt"]),
            updated_at=_time(body["updatedAt"]),
            data=body.get("data"),
            error=None if body.get("error") is None else ProcessFailure.from_json(body["error"]),
            completed_at=None if body.get("completedAt") is None else _time(body["completedAt"]),
            duration_ms=body.get("durationMs"),
            status_url=body.get("statusUrl"),
            links={str(name): _href(value) for name, value in links.items()} if isinstance(links, dict) else {},
            history=None if history is None else tuple(_step(step) for step in history),
            retry_after_s=retry_after_s,
            raw=body,
        )


def _href(value: Any) -> str:
    """A link as a URL, whether the server sends ``"url"`` or ``{"href": "url"}``."""
    return str(value.get("href")) if isinstance(value, dict) else str(value)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _step(step: dict[str, Any]) -> Step:
    return Step(
        topic=str(step.get("topic")),
        outcome=str(step.get("outcome")),
        duration_ms=int(step.get("durationMs") or 0),
        activity_id=step.get("activityId"),
        error=step.get("error"),
        occurred_at=None if step.get("occurredAt") is None else _time(step["occurredAt"]),
    )
