"""A client of the development engine's REST API, and the test processes of these tests (``bpmn/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

BPMN_DIR = Path(__file__).resolve().parent / "bpmn"
ORDER_REVIEW = BPMN_DIR / "order_review.bpmn"
SINGLE_STEP = BPMN_DIR / "single_step.bpmn"
HTTP_TIMEOUT = 15


class Camunda:
    """A thin REST client for the tests: Camunda's paths, JSON bodies, short timeouts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def deploy(self, *resources: Path, name: str = "tests", changed_only: bool = False) -> requests.Response:
        fields: dict[str, Any] = {
            "deployment-name": (None, name),
            "deploy-changed-only": (None, "true" if changed_only else "false"),
            "deployment-source": (None, "pytest"),
        }
        for resource in resources:
            fields[resource.name] = (resource.name, resource.read_bytes(), "application/octet-stream")
        return self.post("/deployment/create", files=fields)

    def start(self, key: str, variables: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
        response = self.post(f"/process-definition/key/{key}/start", json={"variables": variables or {}, **body})
        assert response.status_code == 200, response.text
        instance: dict[str, Any] = response.json()
        return instance

    def fetch(
        self,
        worker: str,
        topic: str,
        *,
        lock_duration: int = 10_000,
        timeout: int | None = None,
        max_tasks: int = 10,
        **topic_options: Any,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "workerId": worker,
            "maxTasks": max_tasks,
            "topics": [{"topicName": topic, "lockDuration": lock_duration, **topic_options}],
        }
        if timeout is not None:
            body["asyncResponseTimeout"] = timeout
        response = self.post("/external-task/fetchAndLock", json=body)
        assert response.status_code == 200, response.text
        tasks: list[dict[str, Any]] = response.json()
        return tasks

    def fetch_one(self, worker: str, topic: str, **options: Any) -> dict[str, Any]:
        tasks = self.fetch(worker, topic, **options)
        assert len(tasks) == 1, tasks
        return tasks[0]

    def complete(self, task_id: str, worker: str, variables: dict[str, Any] | None = None) -> requests.Response:
        return self.post(f"/external-task/{task_id}/complete", json={"workerId": worker, "variables": variables or {}})

    def history(self, instance_id: str) -> dict[str, Any]:
        response = self.get(f"/history/process-instance/{instance_id}")
        assert response.status_code == 200, response.text
        history: dict[str, Any] = response.json()
        return history


def order_variables(score: int = 7, customer: str = "ada") -> dict[str, Any]:
    return {"score": {"value": score, "type": "Integer"}, "customer": {"value": customer, "type": "String"}}
