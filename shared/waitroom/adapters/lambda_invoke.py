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

from waitroom.domain.errors import ConfigurationError


class LambdaInvoker:
    """Starts invocations of one function (its name or ARN) with ``InvocationType=Event``."""

    def __init__(self, function_name: str | None) -> None:
        if function_name is None:
            raise ConfigurationError("WORKER_FUNCTION_NAME is not set: the dispatcher has no worker to start")
        self.function_name = function_name
        self._client = boto3.client("lambda")

    def __call__(self, event: Mapping[str, Any]) -> None:
        self._client.invoke(FunctionName=self.function_name, InvocationType="Event", Payload=json.dumps(event).encode())
