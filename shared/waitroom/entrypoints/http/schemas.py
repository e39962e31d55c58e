"""The JSON shapes of the HTTP API (functions/docs/openapi.json): camelCase on the wire, validated by pydantic."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from waitroom.adapters.camunda.variables import INT64
from waitroom.domain.errors import InvalidRequest
from waitroom.domain.process import Caller, ListQuery, ProcessRecord, ProcessStatus, StepEvent, StepOutcome
from waitroom.entrypoints.http.links import process_links, status_path
from waitroom.entrypoints.http.problems import problem_types
from waitroom.entrypoints.http.request_edges import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH

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
    Field(
        description="1 to 64 characters of A-Z a-z 0-9 . _ : -, not `all`",
        examples=["user-123"],
        json_schema_extra={"not": {"enum": sorted(RESERVED_CORRELATION_IDS)}},
    ),
]
ProcessKey = Annotated[
    str,
    StringConstraints(pattern=PROCESS_KEY_PATTERN),
    Field(description="The key of a deployed Camunda process definition", examples=["onboard-user"]),
]
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN)]

#: What every JSON value in a body must be (request_edges refuses the rest before the routes see it).
JSON_LIMITS = (
    f"Any JSON, nested at most {MAX_JSON_DEPTH} deep; no key twice in one object; integers of at most "
    f"{MAX_INTEGER_DIGITS} digits; numbers within the range of a double and, when not 0, not below it; "
    "text without unpaired UTF-16 surrogates."
)
#: The smallest and the largest integer a variable may hold: Camunda's Long.
VARIABLE_INTEGER_BOUNDS = (INT64.start, INT64.stop - 1)
#: A variable's value: Camunda types it (Integer, Long, Double, String, Boolean, Json, Null), and an
#: integer must fit its Long (``waitroom.adapters.camunda.variables``); any other value is allowed.
VariableValue = Annotated[
    Any,
    WithJsonSchema(
        {
            "description": f"{JSON_LIMITS} An integer is a Camunda Integer or Long: within a signed 64-bit range.",
            "anyOf": [
                {"type": "integer", "minimum": VARIABLE_INTEGER_BOUNDS[0], "maximum": VARIABLE_INTEGER_BOUNDS[1]},
                {"not": {"type": "integer"}},
            ],
        }
    ),
]
#: Any JSON value, within the limits every body keeps.
AnyJson = Annotated[Any, WithJsonSchema({"description": JSON_LIMITS})]


def _text_or_object(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, dict)):
        raise ValueError("the error is text or a JSON object")
    return value


#: A step's error: text or an object (validated as one value, so that a refusal names the field alone).
ReportedError = Annotated[
    Any,
    AfterValidator(_text_or_object),
    WithJsonSchema(
        {
            "description": f"Text or a JSON object (null: a message of Waitroom's). {JSON_LIMITS}",
            "anyOf": [{"type": "string"}, {"type": "object"}, {"type": "null"}],
        }
    ),
]


#: Times a client sends are in the years 0002 to 9998: with any zone offset they then have a UTC
#: equivalent (``9999-12-31T23:59:59-14:00`` has none), and the document can say so.
TIME_PATTERN = r"^(?!0001-|9999-)"


def in_utc(value: datetime) -> datetime:
    """The time in UTC (a time without a zone is UTC); a ValueError for a time outside the years
    0002 to 9998, whose UTC equivalent may lie beyond what a datetime holds."""
    if value.year in (1, 9999):
        raise ValueError("times are in the years 0002 to 9998 (years 1 and 9999 may have no UTC equivalent)")
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time has no UTC equivalent") from None


#: A time a client sends, as the store keeps it: UTC.
UtcTime = Annotated[datetime, AfterValidator(in_utc)]
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


#: A start of the seed's process that runs to its end on the local stack (``make run``): the
#: onboard-user steps need ``userId`` and a well-formed ``email``.
START_EXAMPLE: dict[str, Any] = {
    "processKey": "onboard-user",
    "correlationId": "user-123",
    "variables": {"userId": "user-123", "email": "user@example.com"},
}


class StartRequest(ApiModel):
    process_key: ProcessKey
    correlation_id: CorrelationId = Field(default_factory=lambda: str(uuid.uuid4()))
    # The names' pattern alone (patternProperties) would let the document allow any other name too.
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        description="The process variables, by name",
        json_schema_extra={"additionalProperties": False},
    )
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
    data: AnyJson = None
    error: ReportedError = None


class ProcessLinks(ApiModel):
    """Where a caller may go from a process: absolute URLs when the gateway said its host, else paths."""

    status: str = Field(description="GET: the process (`Prefer: wait=N` waits for its end)")
    history: str = Field(description="GET: the process with the steps it ran")
    cancel: str = Field(description="POST `{correlationId, reason?}`: cancel it")


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
    links: ProcessLinks
    history: list[StepView] | None = None

    @classmethod
    def of(
        cls,
        record: ProcessRecord,
        *,
        fetch_variables: list[str] | None = None,
        steps: list[StepEvent] | None = None,
        base_url: str | None = None,
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
            links=ProcessLinks(**process_links(record.correlation_id, base_url)),
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


#: Bytes of a cursor's signature (HMAC-SHA256), after its position.
CURSOR_TAG_BYTES = 32
#: The longest cursor :class:`Cursors` makes is about 200 characters: base64url, unpadded.
MAX_CURSOR_CHARS = 512
CURSOR_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_CURSOR_CHARS}}}$"


def cursor_scope(caller: Caller, query: ListQuery) -> bytes:
    """What a cursor is given out for: the caller, and the filters of the list (not ``limit``, which
    may change from page to page). JSON, so that no two scopes run together."""
    filters = [
        caller.subject,
        query.status.value if query.status else None,
        query.process_key,
        query.started_after.isoformat() if query.started_after else None,
        query.started_before.isoformat() if query.started_before else None,
    ]
    return json.dumps(filters, separators=(",", ":")).encode()


@dataclasses.dataclass(frozen=True)
class Cursors:
    """The list route's opaque cursors: the position of the page's last row, signed (HMAC-SHA256 with
    ``key``) together with the scope it was given out for (:func:`cursor_scope`). A cursor of another
    caller, of other filters, of another key (a rotated one) or with a byte changed is refused."""

    key: bytes = dataclasses.field(repr=False)

    def encode(self, after: ProcessRecord, scope: bytes) -> str:
        """The cursor of the page that starts after ``after`` (newest-first order)."""
        position = json.dumps([after.started_at.isoformat(), after.correlation_id], separators=(",", ":")).encode()
        token = position + self._tag(position, scope)
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, cursor: str, scope: bytes) -> tuple[datetime, str]:
        """The position a cursor of :meth:`encode` holds, if it was given out for ``scope`` with this key;
        else a 400 naming the cursor."""
        try:
            if len(cursor) > MAX_CURSOR_CHARS:
                raise ValueError("too long")
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            position, tag = token[:-CURSOR_TAG_BYTES], token[-CURSOR_TAG_BYTES:]
            if not position or not hmac.compare_digest(tag, self._tag(position, scope)):
                raise ValueError("not signed for this scope")
            started_at, correlation_id = json.loads(position)
            return in_utc(datetime.fromisoformat(started_at)), correlation_id
        except (ValueError, TypeError, binascii.Error):
            raise InvalidRequest(
                "cursor is not one this API gave out for this caller and these filters",
                details=[{"field": "cursor", "reason": "not a cursor this API gave out for this query"}],
            ) from None

    def _tag(self, position: bytes, scope: bytes) -> bytes:
        # The scope is JSON, which holds no raw newline: the message splits one way only.
        return hmac.new(self.key, scope + b"\n" + position, hashlib.sha256).digest()


class FieldProblem(BaseModel):
    field: str = Field(description="The field as the caller sent it: `variables.userId`, `data.items[0]`")
    reason: str


class CamundaAnswer(BaseModel):
    """Camunda's own answer to a request of Waitroom's that failed."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    camunda_status: int = Field(description="The HTTP status Camunda answered")
    camunda_type: str = Field(description="Camunda's exception type (empty when its body named none)")
    camunda_message: str


_PROBLEM_TYPES = problem_types()


def _one_of(values: set[str]) -> list[JsonValue]:
    """An ``enum`` of ``values``, in one order."""
    return [*sorted(values)]


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error answer of Waitroom (`application/problem+json`)."""

    type: str = Field(
        description="A stable URI per kind of problem, an identifier never meant to be fetched",
        json_schema_extra={"format": "uri", "enum": _one_of({kind.type for kind in _PROBLEM_TYPES})},
    )
    title: str = Field(
        description="The kind's summary, the same in every answer of that type",
        json_schema_extra={"enum": _one_of({kind.title for kind in _PROBLEM_TYPES})},
    )
    status: int = Field(description="The HTTP status of the answer", ge=400, le=599)
    detail: str = Field(description="What went wrong this time")
    instance: str = Field(description="The path of the request")
    code: str = Field(
        description="The kind of problem as a code (extension member)",
        json_schema_extra={"enum": _one_of({kind.code for kind in _PROBLEM_TYPES})},
    )
    errors: list[FieldProblem] = Field(description="Each field at fault and why; empty when no field is (extension)")
    camunda: list[CamundaAnswer] | None = Field(
        default=None, description="When Camunda failed: its own answer, whole (extension member)"
    )


class GatewayMessage(BaseModel):
    """What API Gateway answers itself, before or instead of a function: no route (404), no valid
    token (401) or signature (403), throttled (429), a function that failed or timed out (500) or
    could not start (503), a body it cannot read (400, 413)."""

    message: str = Field(examples=["Unauthorized"])


def status_url(correlation_id: str) -> str:
    return status_path(correlation_id)
