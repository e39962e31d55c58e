"""In Lambda a function without a database setting fails its cold start with a message that says
what to set, instead of falling back to the SQLite default (under Lambda's read-only /var/task)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.template import ROOT
from tests.support.cold_start import import_app

SETTINGS_OF_THE_DATABASE = ("DATABASE_URL", "DB_HOST", "DB_SECRET_ARN")


@pytest.mark.parametrize("function", ["start", "docs"])
def test_a_function_without_a_database_fails_its_cold_start_saying_what_to_set(function: str) -> None:
    environment = {name: value for name, value in os.environ.items() if name not in SETTINGS_OF_THE_DATABASE}
    environment["AWS_LAMBDA_FUNCTION_NAME"] = f"waitroom-dev-{function}"
    imported = import_app(function, environment, check=False)
    assert imported.returncode != 0, "the cold start must fail"
    last_line = imported.stderr.strip().splitlines()[-1]
    assert last_line.startswith("waitroom.domain.errors.ConfigurationError: invalid configuration:"), imported.stderr
    assert "no database configured: set DB_SECRET_ARN (or DATABASE_URL, dev only)" in last_line
    assert not (ROOT / "functions" / function / ".var").exists(), "no SQLite file was created"


#: As Lambda runs a function, with the tracer active (tests/conftest.py disables it elsewhere).
TRACED = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
#: After the import: whether requests was loaded, then, once imported, whether X-Ray traces its calls.
REQUESTS_LOADED_THEN_TRACED = (
    "import sys, app\n"
    "print('requests' in sys.modules)\n"
    "import requests\n"
    "print(type(vars(requests.Session)['request']).__name__ == 'FunctionWrapper')\n"
)


@pytest.mark.parametrize("function", ["status", "docs"])
def test_a_function_that_calls_no_camunda_at_its_cold_start_loads_no_requests_yet_traces_it_once_imported(
    function: str, tmp_path: Path
) -> None:
    environment = {
        name: value for name, value in os.environ.items() if name not in {"POWERTOOLS_TRACE_DISABLED", "PYTHONPATH"}
    }
    environment |= TRACED | {"DATABASE_URL": f"sqlite:///{tmp_path / 'waitroom.sqlite3'}"}
    imported = import_app(function, environment, code=REQUESTS_LOADED_THEN_TRACED)
    assert imported.stdout.split() == ["False", "True"], imported.stderr
