"""The JSON shapes of the HTTP API (DESIGN §2): camelCase on the wire, validated by pydantic."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints
from pydantic.alias_generators import to_camel

from waitroom.domain import ProcessRecord, ProcessStatus

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


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The wire form: camelCase, absent values left out."""
        body: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return body


class StartRequest(ApiModel):
    process_key: ProcessKey
    correlation_id: CorrelationId = Field(default_factory=lambda: str(uuid.uuid4()))
    variables: dict[VariableName, Any] = Field(default_factory=dict)


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

    @classmethod
    def of(cls, record: ProcessRecord) -> ProcessView:
        return cls(
            correlation_id=record.correlation_id,
            process_key=record.process_key,
            status=record.status,
            data=record.payload,
            error=record.error,
            started_at=record.started_at,
            updated_at=record.updated_at,
            completed_at=record.completed_at,
            duration_ms=record.duration_ms,
            status_url=status_url(record.correlation_id),
        )


class ProcessList(ApiModel):
    items: list[ProcessView]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail


def status_url(correlation_id: str) -> str:
    return f"/api/process/status/{correlation_id}"
