"""Asynchronous invocations of a Lambda function through boto3 (which comes with Lambda's Python
runtime; only the dispatcher loads this module): how the dispatcher starts worker invocations
(``waitroom.entrypoints.worker.dispatch``). In AWS, Lambda queues each event and answers 202 at once;
on this machine ``AWS_ENDPOINT_URL_LAMBDA`` points boto3 at the local stack's Lambda API
(``devstack/lambda_api.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from waitroom.domain.errors import ConfigurationError

#: An asynchronous invoke is answered at once; boto3's defaults (60 s to connect and to read, retried)
#: would let an unreachable Lambda API (a VPC without NAT or an endpoint) hold the dispatcher's
#: whole minute. Short: a failed start counts in ``invoke_failures`` and the next tick tries again.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"})


class LambdaInvoker:
    """Starts invocations of one function (its name or ARN) with ``InvocationType=Event``."""

    def __init__(self, function_name: str | None) -> None:
        if function_name is None:
            raise ConfigurationError("WORKER_FUNCTION_NAME is not set: the dispatcher has no worker to start")
        self.function_name = function_name
        self._client = boto3.client("lambda", config=CLIENT_CONFIG)

    def __call__(self, event: Mapping[str, Any]) -> None:
        self._client.invoke(FunctionName=self.function_name, InvocationType="Event", Payload=json.dumps(event).encode())
