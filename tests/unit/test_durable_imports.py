"""The durable execution SDK (and the boto3 it loads) stays off the classic functions' cold start: only
the start function in the durable wait mode imports it (issue #24's cold-start targets); the functions
that send callbacks load boto3 with their first callback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cold_start import modules_after_import

SDK = "aws_durable_execution_sdk_python"


def loaded_in(function: str, wait_mode: str, tmp_path: Path) -> set[str]:
    """The modules ``functions/<function>/app.py`` loads in ``wait_mode``, outside Lambda."""
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'waitroom.sqlite3'}",
        "WAIT_MODE": wait_mode,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    environment.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    return modules_after_import(function, environment)


@pytest.mark.parametrize("function", ["start", "status", "complete", "cancel"])
def test_a_classic_function_never_loads_the_durable_sdk(function: str, tmp_path: Path) -> None:
    loaded = loaded_in(function, "classic", tmp_path)
    assert "waitroom.composition.http" in loaded
    assert SDK not in loaded
    assert "boto3" not in loaded


def test_the_durable_start_function_loads_the_sdk(tmp_path: Path) -> None:
    assert SDK in loaded_in("start", "durable", tmp_path)


@pytest.mark.parametrize("function", ["complete", "cancel", "worker", "reconciler"])
def test_in_the_durable_mode_every_finishing_function_loads_the_callbacks_client_and_not_the_sdk(
    function: str, tmp_path: Path
) -> None:
    loaded = loaded_in(function, "durable", tmp_path)
    assert "waitroom.adapters.callbacks" in loaded, "a finishing function sends callbacks"
    assert SDK not in loaded
    assert "boto3" not in loaded, "boto3 and its Lambda client come with the first callback sent"
