"""The problems each operation answers, each as one real answer: the OpenAPI document's examples.

Each example is the body the API gives in a situation a test recreates through the real handler
(tests/integration/test_api_document.py compares them whole), rendered by the same
:func:`~waitroom.entrypoints.http.problems.problem_body` that renders every answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from waitroom.entrypoints.http.problems import problem_body, status_of_code
from waitroom.settings import Settings

START_PATH = "/api/process/start"
LIST_PATH = "/api/process/status/all"
STATUS_PATH = "/api/process/status/user-123"
COMPLETE_PATH = "/api/process/complete"
CANCEL_PATH = "/api/process/cancel"
#: The id of the Camunda instance in the examples (Camunda makes a new one for each start).
INSTANCE_ID = "8a6f4c1e-2b3d-4e5f-9a0b-1c2d3e4f5a6b"
#: What ``MAX_BODY_BYTES`` is by default, as a refusal of a larger body names it.
DEFAULT_MAX_BODY_BYTES: int = Settings.model_fields["max_body_bytes"].default


@dataclass(frozen=True)
class ProblemExample:
    """One answer of one operation: its problem code, ``detail`` and the fields at fault."""

    name: str
    code: str
    detail: str
    errors: tuple[tuple[str, str], ...] = ()
    camunda: tuple[dict[str, Any], ...] = ()

    @property
    def status(self) -> int:
        return status_of_code(self.code).value

    def body(self, instance: str) -> dict[str, Any]:
        """The answer's body, for a request to ``instance``."""
        details: list[dict[str, Any]] = [{"field": field, "reason": reason} for field, reason in self.errors]
        return problem_body(
            status=self.status, code=self.code, detail=self.detail, instance=instance, errors=[*details, *self.camunda]
        )


def _too_large() -> ProblemExample:
    size = DEFAULT_MAX_BODY_BYTES + 1
    return ProblemExample(
        "tooLarge",
        "PAYLOAD_TOO_LARGE",
        f"the body has {size} bytes; the limit is {DEFAULT_MAX_BODY_BYTES}",
        (("body", f"larger than {DEFAULT_MAX_BODY_BYTES} bytes"),),
    )


NOT_JSON = ProblemExample(
    "notJson",
    "UNSUPPORTED_MEDIA_TYPE",
    "the body must be application/json, not 'text/plain'",
    (("Content-Type", "only application/json is accepted"),),
)
NO_SUBJECT = ProblemExample("noSubject", "UNAUTHENTICATED", "the request carries no token with a subject")
UNEXPECTED = ProblemExample("unexpected", "INTERNAL_ERROR", "an unexpected error occurred; it has been logged")
STORE_DOWN = ProblemExample("storeDown", "STORE_UNAVAILABLE", "cannot connect to the postgresql database")
CAMUNDA_DOWN = ProblemExample("camundaDown", "CAMUNDA_UNAVAILABLE", "Camunda cannot be reached")
UNKNOWN_ID = ProblemExample("unknownId", "PROCESS_NOT_FOUND", "no process with correlation id 'user-123'")

#: Each operation's problems, by ``METHOD path`` as the document names the operation.
PROBLEMS: dict[str, tuple[ProblemExample, ...]] = {
    f"POST {START_PATH}": (
        ProblemExample(
            "badVariableName",
            "VALIDATION_ERROR",
            "invalid request: variables.1x: String should match pattern '^[A-Za-z_][A-Za-z0-9_]{0,63}$'",
            (("variables.1x", "String should match pattern '^[A-Za-z_][A-Za-z0-9_]{0,63}$'"),),
        ),
        NO_SUBJECT,
        ProblemExample(
            "keyNotAllowed",
            "PROCESS_KEY_NOT_ALLOWED",
            "process key 'payroll' may not be started through Waitroom",
            (("processKey", "not one of ALLOWED_PROCESS_KEYS"),),
        ),
        ProblemExample(
            "unknownKey",
            "PROCESS_DEFINITION_NOT_FOUND",
            "no process definition with key 'payroll' is deployed in Camunda",
            (("processKey", "unknown to Camunda"),),
        ),
        ProblemExample(
            "otherVariables",
            "CORRELATION_ID_CONFLICT",
            "correlation id 'user-123' was started with different variables",
            (("variables", "differ from the process started under this id"),),
        ),
        _too_large(),
        NOT_JSON,
        UNEXPECTED,
        ProblemExample(
            "camundaFailed",
            "CAMUNDA_ERROR",
            "Camunda failed on POST /process-definition/key/onboard-user/start (500): engine on fire",
            camunda=(
                {"camundaStatus": 500, "camundaType": "ProcessEngineException", "camundaMessage": "engine on fire"},
            ),
        ),
        CAMUNDA_DOWN,
        STORE_DOWN,
    ),
    f"GET {LIST_PATH}": (
        ProblemExample(
            "limitTooSmall",
            "VALIDATION_ERROR",
            "invalid request: limit: Input should be greater than or equal to 1",
            (("limit", "Input should be greater than or equal to 1"),),
        ),
        NO_SUBJECT,
        UNEXPECTED,
        STORE_DOWN,
    ),
    "GET /api/process/status/{correlationId}": (
        ProblemExample(
            "badHistory",
            "VALIDATION_ERROR",
            "invalid request: history: Input should be a valid boolean, unable to interpret input",
            (("history", "Input should be a valid boolean, unable to interpret input"),),
        ),
        NO_SUBJECT,
        UNKNOWN_ID,
        UNEXPECTED,
        STORE_DOWN,
    ),
    f"POST {COMPLETE_PATH}": (
        ProblemExample(
            "duplicatedKey",
            "VALIDATION_ERROR",
            "status: a key that appears more than once in its object",
            (("status", "a key that appears more than once in its object"),),
        ),
        UNKNOWN_ID,
        ProblemExample(
            "otherOutcome",
            "ALREADY_FINISHED",
            "process 'user-123' already finished as DONE",
            (("status", "the process is DONE with another outcome"),),
        ),
        _too_large(),
        NOT_JSON,
        UNEXPECTED,
        STORE_DOWN,
    ),
    f"POST {CANCEL_PATH}": (
        ProblemExample(
            "noCorrelationId",
            "VALIDATION_ERROR",
            "invalid request: correlationId: Field required",
            (("correlationId", "Field required"),),
        ),
        NO_SUBJECT,
        UNKNOWN_ID,
        ProblemExample(
            "alreadyDone",
            "ALREADY_FINISHED",
            "process 'user-123' already finished as DONE",
            (("correlationId", "the process is DONE"),),
        ),
        _too_large(),
        NOT_JSON,
        UNEXPECTED,
        ProblemExample(
            "camundaFailed",
            "CAMUNDA_ERROR",
            f"Camunda failed on DELETE /process-instance/{INSTANCE_ID} (500): engine on fire",
            camunda=(
                {"camundaStatus": 500, "camundaType": "ProcessEngineException", "camundaMessage": "engine on fire"},
            ),
        ),
        CAMUNDA_DOWN,
        STORE_DOWN,
    ),
}

#: The problems each operation may answer besides those its examples show: failures of Camunda
#: that the Camunda stand-in of the tests does not give, and a misconfigured Camunda secret.
WITHOUT_EXAMPLE: dict[str, tuple[str, ...]] = {
    # A start that Camunda does not answer is CAMUNDA_START_UNCONFIRMED, never CAMUNDA_NO_ANSWER.
    f"POST {START_PATH}": (
        "CONFIGURATION_ERROR",
        "CAMUNDA_REJECTED",
        "CAMUNDA_START_UNCONFIRMED",
        "PROCESS_START_FAILED",
    ),
    f"GET {LIST_PATH}": (),
    "GET /api/process/status/{correlationId}": (),
    f"POST {COMPLETE_PATH}": (),
    f"POST {CANCEL_PATH}": ("CONFIGURATION_ERROR", "CAMUNDA_REJECTED", "CAMUNDA_NO_ANSWER"),
}

#: The path a request of each operation is sent to in its examples (``instance``).
INSTANCES: dict[str, str] = {
    f"POST {START_PATH}": START_PATH,
    f"GET {LIST_PATH}": LIST_PATH,
    "GET /api/process/status/{correlationId}": STATUS_PATH,
    f"POST {COMPLETE_PATH}": COMPLETE_PATH,
    f"POST {CANCEL_PATH}": CANCEL_PATH,
}


def problem_examples(operation: str) -> dict[int, dict[str, Any]]:
    """The OpenAPI examples of ``operation``'s problems, by status: ``{name: {summary, value}}``."""
    by_status: dict[int, dict[str, Any]] = {}
    for example in PROBLEMS[operation]:
        by_status.setdefault(example.status, {})[example.name] = {
            "summary": example.code,
            "value": example.body(INSTANCES[operation]),
        }
    return by_status


def problem_codes(operation: str) -> dict[int, list[str]]:
    """Every problem ``operation`` may answer, by status: the codes, those with an example first."""
    by_status: dict[int, list[str]] = {}
    codes = [example.code for example in PROBLEMS[operation]] + list(WITHOUT_EXAMPLE[operation])
    for code in dict.fromkeys(codes):
        by_status.setdefault(status_of_code(code).value, []).append(code)
    return by_status
