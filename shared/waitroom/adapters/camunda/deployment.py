"""Deploying the BPMN files of a folder to Camunda, changed ones only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waitroom.adapters.camunda.client import CamundaClient

DEPLOYMENT_NAME = "waitroom"


def deploy_bpmn(camunda: CamundaClient, directory: Path) -> dict[str, Any]:
    """One deployment of every ``*.bpmn`` in ``directory``; Camunda keeps the unchanged ones as they are.

    Returns Camunda's DeploymentWithDefinitionsDto (``deployedProcessDefinitions`` lists what is new).
    """
    resources = {path.name: path.read_bytes() for path in sorted(directory.glob("*.bpmn"))}
    if not resources:
        raise FileNotFoundError(f"no .bpmn files in {directory}")
    return camunda.create_deployment(DEPLOYMENT_NAME, resources, deploy_changed_only=True)
