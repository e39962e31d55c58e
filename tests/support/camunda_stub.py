"""A Camunda stand-in that speaks real HTTP, for the handler tests of the API functions.

It answers ``POST /engine-rest/process-definition/key/{key}/start``, ``DELETE
/engine-rest/process-instance/{id}`` and ``GET /engine-rest/history/process-instance`` as Camunda
does (the shapes of the official OpenAPI definition) and can be told to fail the way Camunda fails: an unknown key
(404 with Camunda's message), a server error (500), or no answer at all (a hang past the client's
read timeout). It records every start, so that tests can prove a second instance never started.
The real BPMN runs on the development engine in the end-to-end tests; this stub exists to drive
the failure paths deterministically.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from devstack.http_answers import send

_START = re.compile(r"^/engine-rest/process-definition/key/(?P<key>[^/]+)/start$")


@dataclass
class CamundaStub:
    known_keys: set[str] = field(default_factory=lambda: {"onboard-user", "slow-process"})
    #: "ok", "server-error" (starts and deletes answer 500) or "hang" (starts hang)
    mode: str = "ok"
    hang_s: float = 5.0
    starts: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: Called with the business key once an instance exists and before its start is answered: what
    #: a request that arrives in that window does.
    before_start_answer: Callable[[str], object] | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/engine-rest"

    def start(self) -> CamundaStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read the stub's records, not its log."""

            def do_DELETE(self) -> None:
                instance_id = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
                if stub.mode == "server-error":
                    send(self, 500, {"type": "ProcessEngineException", "message": "engine on fire"})
                    return
                if any(start["id"] == instance_id for start in stub.starts) and instance_id not in stub.deleted:
                    stub.deleted.append(instance_id)
                    self.send_response(204)
                    self.end_headers()
                    return
                send(self, 404, {"type": "InvalidRequestException", "message": f"No process instance {instance_id}"})

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path != "/engine-rest/history/process-instance":
                    send(self, 404, {"type": "NotFoundException", "message": f"no route {path}"})
                    return
                business_key = dict(parse_qsl(query)).get("processInstanceBusinessKey")
                found = [
                    {"id": start["id"], "businessKey": start["businessKey"], "state": "ACTIVE"}
                    for start in stub.starts_of(business_key or "")
                ]
                send(self, 200, found)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                match = _START.match(self.path)
                if match is None:
                    send(self, 404, {"type": "NotFoundException", "message": f"no route {self.path}"})
                    return
                key = match["key"]
                if stub.mode == "hang":
                    time.sleep(stub.hang_s)
                if stub.mode == "server-error":
                    send(self, 500, {"type": "ProcessEngineException", "message": "engine on fire"})
                    return
                if key not in stub.known_keys:
                    send(
                        self,
                        404,
                        {
                            "type": "RestException",
                            "message": f"No matching process definition with key: {key} and no tenant-id",
                        },
                    )
                    return
                instance_id = str(uuid.uuid4())
                stub.starts.append({"key": key, "id": instance_id, **body})
                if stub.before_start_answer is not None:
                    stub.before_start_answer(body.get("businessKey", ""))
                send(
                    self,
                    200,
                    {
                        "id": instance_id,
                        "definitionId": f"{key}:1:{uuid.uuid4()}",
                        "businessKey": body.get("businessKey"),
                        "ended": False,
                        "suspended": False,
                        "tenantId": None,
                        "links": [],
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def starts_of(self, business_key: str) -> list[dict[str, Any]]:
        return [start for start in self.starts if start.get("businessKey") == business_key]
