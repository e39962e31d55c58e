"""The process record, its state machine and the values that end a process.

Payloads and errors are JSON values here (``Any`` for a payload, a ``dict`` for an error); only the
store adapter turns them into text.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from waitroom.domain.errors import InvalidRequest
from waitroom.domain.json_values import same_json

#: What every store keeps exactly, byte for byte, on every backend: a correlation id is ASCII (SQL
#: Server's column is ``VARCHAR(64)``, and a longer id or one outside its code page would be truncated
#: or turned into ``?`` there, onto another row's id); a process key likewise; an owner (a token's
#: subject) is any Unicode text that fits ``NVARCHAR(255)``, counted in UTF-16 code units as SQL Server
#: counts them, without NUL (PostgreSQL's text cannot hold it).
CORRELATION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
PROCESS_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$"
OWNER_MAX_UTF16_UNITS = 255
_CORRELATION_ID = re.compile(CORRELATION_ID_PATTERN)
_PROCESS_KEY = re.compile(PROCESS_KEY_PATTERN)


def is_correlation_id(value: str) -> bool:
    """Whether ``value`` has the form of a correlation id, which every stored process has."""
    return _CORRELATION_ID.fullmatch(value) is not None


def is_process_key(value: str) -> bool:
    """Whether ``value`` has the form of a process key, which every stored process has."""
    return _PROCESS_KEY.fullmatch(value) is not None


def owner_problem(owner: str) -> str | None:
    """Why a caller's subject cannot be kept as a process's owner, or None when it can."""
    if not owner:
        return "it is empty"
    if "\x00" in owner:
        return "it contains NUL"
    try:
        units = len(owner.encode("utf-16-le")) // 2
    except UnicodeEncodeError:
        return "it is not Unicode text (a lone surrogate)"
    if units > OWNER_MAX_UTF16_UNITS:
        return f"it is longer than {OWNER_MAX_UTF16_UNITS} UTF-16 code units"
    return None


class ProcessStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self is not ProcessStatus.PENDING


def dump_json(value: Any) -> str:
    """The one JSON text of a value: compact, non-ASCII kept as is; raises ValueError or TypeError
    for what JSON cannot hold (NaN, a set, an object)."""
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

    def __post_init__(self) -> None:
        if not is_correlation_id(self.correlation_id):
            raise InvalidRequest(
                "correlationId: 1 to 64 characters of A-Z a-z 0-9 . _ : -",
                details=[{"field": "correlationId", "reason": f"does not match {CORRELATION_ID_PATTERN}"}],
            )
        if not is_process_key(self.process_key):
            raise InvalidRequest(
                "processKey: a letter or _ and up to 254 more of A-Z a-z 0-9 _ . -",
                details=[{"field": "processKey", "reason": f"does not match {PROCESS_KEY_PATTERN}"}],
            )
        if self.owner is not None and (problem := owner_problem(self.owner)) is not None:
            raise InvalidRequest(
                f"the caller's subject cannot own a process: {problem}",
                details=[{"field": "owner", "reason": problem}],
            )


#: The error code of a row the reconciler ended because Camunda has no instance for it at all.
START_FAILED = "START_FAILED"


@dataclass(frozen=True)
class ProcessRecord:
    correlation_id: str
    status: ProcessStatus
    process_key: str | None
    payload: Any
    error: dict[str, Any] | None
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    camunda_instance_id: str | None = None
    request_hash: str | None = None
    owner: str | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.completed_at is None:
            return None
        return round((self.completed_at - self.started_at).total_seconds() * 1000)

    @property
    def never_started(self) -> bool:
        """Ended ERROR ``START_FAILED`` with no engine instance: the reconciler found no instance
        under its business key once its start could no longer be under way, so no instance exists
        and starting the id again starts nothing twice. (Any other ending, or a recorded instance,
        means an instance may exist.)"""
        return (
            self.status is ProcessStatus.ERROR
            and self.camunda_instance_id is None
            and (self.error or {}).get("code") == START_FAILED
        )


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


def step_token() -> str:
    """A new step token: 32 hexadecimal characters, unique to one run of one step."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class StepEvent:
    """One run of one step of a process, as the worker saw it (the event log of docs/seeds/)."""

    correlation_id: str
    topic: str
    activity_id: str | None
    outcome: StepOutcome
    duration_ms: int
    error: dict[str, Any] | None = None
    occurred_at: datetime | None = None
    token: str | None = field(default_factory=step_token)
    """Chosen when the run is described, before any attempt to record it: an attempt repeated after
    a lost answer finds the run already recorded under its token and adds nothing (None: steps
    recorded before tokens existed)."""


def error_value(message: str, *, code: str | None = None, **more: Any) -> dict[str, Any]:
    """The error a process ends with: a ``message``, its ``code`` when Waitroom chose the outcome
    (``CANCELLED``, ``INCIDENT``, ``TIMED_OUT``, ...), and whatever else tells more."""
    return {**({"code": code} if code is not None else {}), "message": message, **more}


def reported_error(error: str | dict[str, Any] | None) -> dict[str, Any]:
    """An error as the last step of a process reported it, made an object with at least a ``message``."""
    if error is None:
        return error_value("the process reported an error")
    if isinstance(error, str):
        return error_value(error)
    return error


@dataclass(frozen=True)
class Outcome:
    """How a process ends: the final status, the result (if any) and the error (if any)."""

    status: ProcessStatus
    payload: Any = None
    error: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.status.is_final:
            raise ValueError("an outcome ends a process: DONE, ERROR or CANCELLED")

    @classmethod
    def done(cls, payload: Any = None) -> Outcome:
        return cls(ProcessStatus.DONE, payload)

    @classmethod
    def failed(cls, error: dict[str, Any], payload: Any = None) -> Outcome:
        return cls(ProcessStatus.ERROR, payload, error)

    @classmethod
    def cancelled(cls, reason: str) -> Outcome:
        return cls(ProcessStatus.CANCELLED, None, error_value(reason, code="CANCELLED"))

    def matches(self, record: ProcessRecord) -> bool:
        """Whether ``record`` ended exactly so (a repeated report of the same outcome): equal by JSON's
        rules, where ``1``, ``1.0`` and ``true`` differ and key order does not matter."""
        return (
            record.status is self.status
            and same_json(record.payload, self.payload)
            and same_json(record.error, self.error)
        )


def record_to_json(record: ProcessRecord) -> dict[str, Any]:
    """``record`` as JSON values (times in ISO 8601), as it travels to a durable waiter: the inverse of
    :func:`record_from_json`."""
    return {
        "correlationId": record.correlation_id,
        "status": record.status.value,
        "processKey": record.process_key,
        "payload": record.payload,
        "error": record.error,
        "startedAt": record.started_at.isoformat(),
        "updatedAt": record.updated_at.isoformat(),
        "completedAt": None if record.completed_at is None else record.completed_at.isoformat(),
        "camundaInstanceId": record.camunda_instance_id,
        "requestHash": record.request_hash,
        "owner": record.owner,
    }


def record_from_json(value: dict[str, Any]) -> ProcessRecord:
    completed_at = value.get("completedAt")
    return ProcessRecord(
        correlation_id=value["correlationId"],
        status=ProcessStatus(value["status"]),
        process_key=value.get("processKey"),
        payload=value.get("payload"),
        error=value.get("error"),
        started_at=datetime.fromisoformat(value["startedAt"]),
        updated_at=datetime.fromisoformat(value["updatedAt"]),
        completed_at=None if completed_at is None else datetime.fromisoformat(completed_at),
        camunda_instance_id=value.get("camundaInstanceId"),
        request_hash=value.get("requestHash"),
        owner=value.get("owner"),
    )
