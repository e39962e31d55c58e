"""What the Camunda client puts on the wire where the development engine cannot tell the difference:
it hands out tasks oldest first whatever it is asked, so the fetch's ordering is checked here, on a
server that records the request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from waitroom.adapters.camunda.client import IDS_PER_QUERY, CamundaClient, FetchTopic


@pytest.fixture
def recorded() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            bodies.append({"GET": self.path})
            self.do_answer()

        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.do_answer()

        def do_answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/engine-rest", bodies
    server.shutdown()
    server.server_close()


def test_fetch_and_lock_asks_for_the_highest_priority_then_the_oldest_tasks(
    recorded: tuple[str, list[dict[str, Any]]],
) -> None:
    url, bodies = recorded
    tasks = CamundaClient(url).fetch_and_lock(
        worker_id="w", topics=[FetchTopic("a", 30_000, ("userId",))], max_tasks=4, async_response_timeout_ms=0
    )
    assert tasks == []
    assert bodies == [
        {
            "workerId": "w",
            "maxTasks": 4,
            "usePriority": True,
            "sorting": [{"sortBy": "createTime", "sortOrder": "asc"}],
            "asyncResponseTimeout": 0,
            "topics": [{"topicName": "a", "lockDuration": 30_000, "variables": ["userId"]}],
        }
    ]


def test_the_response_step_s_topic_asks_for_the_task_s_own_variables(
    recorded: tuple[str, list[dict[str, Any]]],
) -> None:
    url, bodies = recorded
    topic = FetchTopic("waitroom-respond", 30_000, None, local_variables=True)
    CamundaClient(url).fetch_and_lock(worker_id="w", topics=[topic], max_tasks=1, async_response_timeout_ms=0)
    assert bodies[0]["topics"] == [{"topicName": "waitroom-respond", "lockDuration": 30_000, "localVariables": True}]


def test_queries_by_ids_go_in_chunks_a_web_server_accepts(recorded: tuple[str, list[dict[str, Any]]]) -> None:
    url, bodies = recorded
    ids = [f"{n:036d}" for n in range(IDS_PER_QUERY * 2 + 1)]
    client = CamundaClient(url)
    assert client.list_process_instances(ids) == []
    assert client.list_process_instances([]) == []
    paths = [urlsplit(body["GET"]) for body in bodies]
    assert [path.path for path in paths] == ["/engine-rest/process-instance"] * 3
    asked = [parse_qs(path.query)["processInstanceIds"][0].split(",") for path in paths]
    assert [len(chunk) for chunk in asked] == [IDS_PER_QUERY, IDS_PER_QUERY, 1]
    assert [one for chunk in asked for one in chunk] == ids
    assert max(len(body["GET"]) for body in bodies) < 8192 // 4
