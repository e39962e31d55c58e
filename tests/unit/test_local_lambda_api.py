"""How the dispatcher names the worker it invokes, in AWS and on the local Lambda API."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.lambda_api import function_name
from waitroom.adapters.lambda_invoke import LambdaInvoker


@pytest.mark.parametrize(
    "identifier",
    [
        "WorkerFunction",
        "WorkerFunction:live",
        "arn:aws:lambda:us-east-1:123456789012:function:WorkerFunction",
        "arn:aws:lambda:us-east-1:123456789012:function:WorkerFunction:live",
    ],
)
def test_the_local_lambda_api_finds_a_function_by_name_or_arn_with_or_without_its_alias(identifier: str) -> None:
    assert function_name(identifier) == "WorkerFunction"


def test_the_dispatchers_lambda_client_gives_up_in_seconds_not_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    invoker = LambdaInvoker("arn:aws:lambda:us-east-1:123456789012:function:WorkerFunction:live")
    config: Any = invoker._client.meta.config
    assert config.connect_timeout <= 2
    assert config.read_timeout <= 5
    assert config.retries["total_max_attempts"] <= 2
