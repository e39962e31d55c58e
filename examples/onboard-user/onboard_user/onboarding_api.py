"""A stand-in for the onboarding service that the ``call-onboarding-api`` step calls.

``POST /users`` with ``{userId, email}`` creates an account and answers 201 with it. A repeated
``Idempotency-Key`` gets the first answer again, as a real service that honours the header would,
so that a step that runs twice (a lapsed lock) creates one account. ``calls`` counts what arrived.
``delay_ms`` makes every answer take that long, as a real service's would (the arrival-rate
benchmark runs it at 250 ms); the requests wait side by side, so the delay adds no queue of its own.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def send(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    request.wfile.write(payload)


class OnboardingApi:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, delay_ms: int = 0) -> None:
        self.delay_s = delay_ms / 1000
        self.accounts: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # see the gateway's handler

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the worker's logs tell the story."""

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/users":
                    send(self, 404, {"message": "not found"})
                    return
                try:
                    request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                    user_id, email = str(request["userId"]), str(request["email"])
                except (ValueError, KeyError, TypeError):
                    send(self, 400, {"message": "userId and email are required"})
                    return
                if api.delay_s:
                    time.sleep(api.delay_s)
                status, account = api.create(user_id, email, self.headers.get("Idempotency-Key"))
                send(self, status, account)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def create(self, user_id: str, email: str, idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls += 1
            key = idempotency_key or f"{user_id}:{email}"
            if key in self.accounts:
                return 200, self.accounts[key]
            account = {
                "accountId": "acct-" + hashlib.sha256(user_id.encode()).hexdigest()[:12],
                "userId": user_id,
                "email": email,
                "status": "active",
                "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
            self.accounts[key] = account
            return 201, account

    def start(self) -> OnboardingApi:
        threading.Thread(target=self._server.serve_forever, name="onboarding-api", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
