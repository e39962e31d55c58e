"""A Python client for Waitroom: start a Camunda process over HTTP and get its result.

from waitroom_client import Waitroom

with Waitroom("http://127.0.0.1:8080", token=token) as client:
    process = client.run("onboard-user", {"userId": "u1", "email": "u1@example.com"}, wait=60)
    print(process.data)

``AsyncWaitroom`` (the extra ``async``) has the same calls for asyncio.
"""

from typing import TYPE_CHECKING, Any

from waitroom_client.auth import SigV4
from waitroom_client.client import Waitroom
from waitroom_client.durations import Duration
from waitroom_client.errors import (
    ApiError,
    BadGateway,
    ClientError,
    Conflict,
    FieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Problem,
    ProcessCancelled,
    ProcessFailed,
    ProcessOutcomeError,
    ServerError,
    Throttled,
    TransportError,
    Unauthorized,
    Unavailable,
    WaitroomError,
    WaitTimedOut,
)
from waitroom_client.models import Process, ProcessFailure, ProcessStatus, Step
from waitroom_client.protocol import FunctionUrls, Progress, Retry, new_correlation_id

if TYPE_CHECKING:
    # Typed for checkers; imported on first use (below), so that ``import *`` needs no httpx.
    from waitroom_client.aio import AsyncWaitroom as AsyncWaitroom

__all__ = [
    "ApiError",
    "BadGateway",
    "ClientError",
    "Conflict",
    "Duration",
    "FieldError",
    "Forbidden",
    "FunctionUrls",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "Problem",
    "Process",
    "ProcessCancelled",
    "ProcessFailed",
    "ProcessFailure",
    "ProcessOutcomeError",
    "ProcessStatus",
    "Progress",
    "Retry",
    "ServerError",
    "SigV4",
    "Step",
    "Throttled",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "WaitTimedOut",
    "Waitroom",
    "WaitroomError",
    "new_correlation_id",
]


def __getattr__(name: str) -> Any:
    # The async client needs httpx, an optional extra: imported when first asked for.
    if name == "AsyncWaitroom":
        from waitroom_client.aio import AsyncWaitroom  # noqa: PLC0415

        return AsyncWaitroom
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
