"""A Python client for Waitroom: start a Camunda process over HTTP and get its result.

from waitroom_client import Waitroom

with Waitroom("http://127.0.0.1:8080", token=token) as client:
    process = client.run("onboard-user", {"userId": "u1", "email": "u1@example.com"})
    print(process.data)
"""

from waitroom_client.auth import SigV4
from waitroom_client.client import FunctionUrls, Progress, Retry, Waitroom, new_correlation_id
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

__all__ = [
    "ApiError",
    "BadGateway",
    "ClientError",
    "Conflict",
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
