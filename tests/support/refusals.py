"""How a test reads a refusal: its status, its error code and the fields it names.

The one place that knows the error shape of the API (RFC 9457 problem details: ``type``, ``title``,
``status``, ``detail``, ``instance``, ``code``, ``errors``) and of API Gateway's own answers
(``{"message"}``), so that a change of shape changes only this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str | None
    fields: tuple[str, ...]
    message: str


def refusal_of(status: int, body: Any) -> Refusal:
    """The refusal an answer carries; fails the test when the body has neither error shape."""
    assert isinstance(body, dict), f"{status}: the body is not a JSON object: {body!r:.300}"
    if "type" in body:
        assert body["status"] == status, f"the problem's status is the answer's: {body!r:.300}"
        fields = tuple(str(problem.get("field", "")) for problem in body.get("errors") or [])
        return Refusal(status, body["code"], fields, str(body["detail"]))
    assert set(body) == {"message"}, f"{status}: neither the API's nor API Gateway's error shape: {body!r:.300}"
    return Refusal(status, None, (), str(body["message"]))


def assert_refused(
    status: int, body: Any, expected_status: int, *, code: str | None = None, field: str | None = None
) -> Refusal:
    """The answer is a refusal with that status, and (when given) that code and a detail naming that field."""
    assert status == expected_status, f"expected {expected_status}, got {status}: {body!r:.500}"
    refusal = refusal_of(status, body)
    if code is not None:
        assert refusal.code == code, refusal
    if field is not None:
        assert field in refusal.fields, refusal
    return refusal
