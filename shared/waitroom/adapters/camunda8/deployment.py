"""Deploying the BPMN files of a folder to Camunda 8 (``POST /v2/deployments``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waitroom.adapters.camunda8.client import Camunda8Client


def deploy_bpmn(camunda: Camunda8Client, directory: Path) -> list[dict[str, Any]]:
    """One deployment of every ``*.bpmn`` in ``directory``. Returns the process definitions it holds
    (``processDefinitionId``, ``processDefinitionVersion``, ``processDefinitionKey``): Camunda 8 keeps
    a resource deployed unchanged at its latest version, and lists it all the same."""
    paths = sorted(directory.glob("*.bpmn"))
    if not paths:
        raise FileNotFoundError(f"no .bpmn files in {directory}")
    files = [("resources", (path.name, path.read_bytes(), "application/octet-stream")) for path in paths]
    answer = camunda.request("POST", "/deployments", files=files)
    return [
        deployed["processDefinition"] for deployed in answer.get("deployments") or [] if "processDefinition" in deployed
    ]
