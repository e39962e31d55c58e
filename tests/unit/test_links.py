"""The links of a process answer."""

from __future__ import annotations

import pytest

from waitroom.entrypoints.http.links import base_url, process_links


def test_absolute_when_the_gateway_says_its_host() -> None:
    base = base_url({"Host": "abc123.execute-api.eu-west-1.amazonaws.com", "X-Forwarded-Proto": "https"})
    assert base == "https://abc123.execute-api.eu-west-1.amazonaws.com"
    assert process_links("user-1", base) == {
        "status": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/process/status/user-1",
        "history": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/process/status/user-1?history=true",
        "cancel": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/process/cancel",
    }
    assert base_url({"host": "127.0.0.1:8080", "x-forwarded-proto": "http"}) == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "api.example.com"},
        {"x-forwarded-proto": "https"},
        {"host": "api.example.com", "x-forwarded-proto": "gopher"},
        {"host": "evil.example.com/phish?", "x-forwarded-proto": "https"},
        {"host": "a b", "x-forwarded-proto": "https"},
    ],
)
def test_paths_when_it_does_not_or_says_something_unusable(headers: dict[str, str]) -> None:
    assert base_url(headers) is None
    assert process_links("user-1", None)["status"] == "/api/process/status/user-1"
