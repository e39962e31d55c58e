"""Answering a request of Python's ``http.server`` with a JSON body, as the local stack's servers
(and the tests' stand-ins) do."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


def send(request: BaseHTTPRequestHandler, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
    """``body`` as JSON (bytes go as they are), ``application/json`` unless ``headers`` name a type."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    request.send_response(status)
    sent = {name.lower() for name, _ in headers or []}
    for name, value in headers or []:
        request.send_header(name, value)
    if "content-type" not in sent:
        request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(payload)
