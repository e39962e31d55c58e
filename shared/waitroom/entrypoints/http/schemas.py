"""The JSON shapes of the HTTP API (functions/docs/openapi.json): camelCase on the wire, validated by pydantic."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from waitroom.domain.errors import InvalidRequest
from waitroom.domain.process import ProcessRecord, ProcessStatus, StepEvent, StepOutcome

CORRELATION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
PROCESS_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$"
VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
RESERVED_CORRELATION_IDS = frozenset({"all"})


def _not_reserved(value: str) -> str:
    if value in RESERVED_CORRELATION_IDS:
        raise ValueError(f"{value!r} is reserved (it names a route)")
    return value


CorrelationId = Annotated[
    str,
    StringConstraints(pattern=CORRELATION_ID_PATTERN),
    AfterValidator(_not_reserved),
    Field(description="1 to 64 characters of A-Z a-z 0-9 . _ : -, not `all`", examples=["user-123"]),
]
ProcessKey = Annotated[
    str,
    StringConstraints(pattern=PROCESS_KEY_PATTERN),
    Field(description="The key of a deployed Camunda process definition", examples=["onboard-user"]),
]
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN)]
#: UTC, milliseconds, ``Z``: the precision the store keeps.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(timespec="milliseconds").replace("+00:00", "Z"), return_type=str),
]


def _utf8_only(value: Any, path: str) -> None:
    """JSON may carry an unpaired UTF-16 surrogate (``"\\ud800"``); no database can store one."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{path} holds text with an unpaired UTF-16 surrogate") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _utf8_only(key, f"{path} key")
            _utf8_only(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _utf8_only(item, f"{path}[{index}]")


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_unpaired_surrogates(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                _utf8_only(value, str(name))
        return data

    def to_json(self) -> dict[str, Any]:
        """The wire form: camelCase, absent values left out."""
        body: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return body


class StartRequest(ApiModel):
    process_key: ProcessKey
    correlation_id: CorrelationId = Field(default_factory=lambda: str(uuid.uuid4()))
    variables: dict[VariableName, Any] = Field(default_factory=dict)
    fetch_variables: list[VariableName] | None = Field(
        default=None,
        description="The fields of the result to answer with (as Camunda 8's fetchVariables); all when absent",
    )


class CancelRequest(ApiModel):
    correlation_id: CorrelationId
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class CompleteRequest(ApiModel):
    correlation_id: CorrelationId
    status: Literal["ok", "error"]
    data: Any = None
    error: str | dict[str, Any] | None = None


class ProcessView(ApiModel):
    """A process as every route returns it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    correlation_id: str
    process_key: str | None
    status: ProcessStatus
    data: Any = None
    error: Any = None
    started_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None = None
    duration_ms: int | None = None
    status_url: str
    history: list[StepView] | None = None

    @classmethod
    def of(
        cls,
        record: ProcessRecord,
        *,
        fetch_variables: list[str] | None = None,
        steps: list[StepEvent] | None = None,
    ) -> ProcessView:
        data = record.payload
        if fetch_variables is not None and isinstance(data, dict):
            data = {name: data[name] for name in fetch_variables if name in data}
        return cls(
            correlation_id=record.correlation_id,
            process_key=record.process_key,
            status=record.status,
            data=data,
            error=record.error,
            started_at=record.started_at,
            updated_at=record.updated_at,
            completed_at=record.completed_at,
            duration_ms=record.duration_ms,
            status_url=status_url(record.correlation_id),
            history=None if steps is None else [StepView.of(step) for step in steps],
        )


class StepView(ApiModel):
    """One run of one step, as the worker recorded it."""

    topic: str
    activity_id: str | None = None
    outcome: StepOutcome
    duration_ms: int
    error: Any = None
    occurred_at: Timestamp | None = None

    @classmethod
    def of(cls, step: StepEvent) -> StepView:
        return cls(
            topic=step.topic,
            activity_id=step.activity_id,
            outcome=step.outcome,
            duration_ms=step.duration_ms,
            error=step.error,
            occurred_at=step.occurred_at,
        )


class ProcessPage(ApiModel):
    items: list[ProcessView]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; absent on the last")


def encode_cursor(after: ProcessRecord) -> str:
    """An opaque token for the page that starts after ``after`` (newest-first order)."""
    key = json.dumps([after.started_at.isoformat(), after.correlation_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        started_at, correlation_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(started_at), str(correlation_id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidRequest(
            "cursor is not one this API gave out", details=[{"field": "cursor", "reason": "not a valid cursor"}]
        ) from None


class ErrorDetail(BaseModel):
    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail


def status_url(correlation_id: str) -> str:
    return f"/api/process/status/{correlation_id}"
