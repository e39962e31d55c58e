"""An API function loads the adapter of the engine ``ENGINE`` names and no other, and never a task
queue: Camunda 8's adapter stays off the Camunda 7 functions' cold start, and the other way round."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cold_start import modules_after_import


@pytest.mark.parametrize("function", ["start", "status", "cancel"])
@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        (
            "camunda7",
            "waitroom.adapters.camunda waitroom.adapters.camunda.client waitroom.adapters.camunda.engine "
            "waitroom.adapters.camunda.variables",
        ),
        (
            "camunda8",
            # Camunda 8's client borrows Camunda 7's transport helpers from its client module, and
            # the API's schemas take the 64-bit range from Camunda 7's variables; no Camunda 7 engine.
            "waitroom.adapters.camunda waitroom.adapters.camunda.client waitroom.adapters.camunda.variables "
            "waitroom.adapters.camunda8 "
            "waitroom.adapters.camunda8.client waitroom.adapters.camunda8.engine "
            "waitroom.adapters.camunda8.variables",
        ),
    ],
)
def test_an_api_function_loads_its_engine_s_adapter_only(
    function: str, engine: str, expected: str, tmp_path: Path
) -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("CAMUNDA", "ENGINE"))}
    environment |= {"ENGINE": engine, "DATABASE_URL": f"sqlite:///{tmp_path / 'waitroom.sqlite3'}"}
    loaded = modules_after_import(function, environment)
    assert " ".join(sorted(name for name in loaded if name.startswith("waitroom.adapters.camunda"))) == expected
