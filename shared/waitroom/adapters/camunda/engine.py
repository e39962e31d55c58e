"""Camunda 7 as the service's :class:`~waitroom.service.ports.Engine`: typed variables on the way in,
the engine's answers as the port's values on the way out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from waitroom.adapters.camunda.client import CamundaClient, parse_camunda_date
from waitroom.adapters.camunda.variables import from_typed, to_typed_variables_or_invalid
from waitroom.service.ports import Incident, InstanceHistory, ScopeEnd

#: The type of the incident an external task raises when its retries run out.
EXTERNAL_TASK_INCIDENT = "failedExternalTask"


class CamundaEngine:
    def __init__(self, client: CamundaClient, *, string_max_chars: int) -> None:
        self.client = client
        self._string_max_chars = string_max_chars

    def _typed(self, variables: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        return to_typed_variables_or_invalid(variables, string_max_chars=self._string_max_chars)

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        self._typed(variables)

    def start(self, process_key: str, *, business_key: str, variables: Mapping[str, Any]) -> str:
        instance = self.client.start_process(process_key, business_key=business_key, variables=self._typed(variables))
        return str(instance["id"])

    def find_by_business_key(self, business_key: str, *, process_key: str | None) -> list[InstanceHistory]:
        found = self.client.find_historic_process_instances(business_key=business_key, process_key=process_key)
        return [_history(instance) for instance in found]

    def history(self, instance_id: str) -> InstanceHistory | None:
        found = self.client.get_historic_process_instance(instance_id)
        return None if found is None else _history(found)

    def delete(self, instance_id: str) -> bool:
        return self.client.delete_process_instance(instance_id)

    def incidents(self, instance_id: str) -> list[Incident]:
        return [
            Incident(activity_id=incident.get("activityId"), message=incident.get("incidentMessage"))
            for incident in self.client.list_incidents(process_instance_id=instance_id)
        ]

    def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
        found = self.client.list_incidents(raised_after=moment, max_results=limit)
        instance_ids = sorted(
            {str(incident["processInstanceId"]) for incident in found if incident.get("processInstanceId")}
        )
        business_keys = {
            str(instance["id"]): instance.get("businessKey")
            for instance in self.client.list_process_instances(instance_ids)
        }
        # A failedExternalTask incident's configuration is its task's id.
        task_ids = sorted(
            {
                str(incident["configuration"])
                for incident in found
                if incident.get("incidentType") == EXTERNAL_TASK_INCIDENT
            }
        )
        topics = {str(task["id"]): task.get("topicName") for task in self.client.list_external_tasks(task_ids)}
        return [_incident(incident, business_keys, topics) for incident in found]

    def instances_ended_after(self, moment: datetime, *, limit: int) -> list[InstanceHistory]:
        return [
            _history(instance) for instance in self.client.historic_instances_ended_after(moment, max_results=limit)
        ]

    def scope_ends(self, instance_id: str) -> list[ScopeEnd]:
        # The instance's own scope is the activity instance whose id is the instance's id; end events
        # of embedded sub processes complete theirs.
        return [
            ScopeEnd(activity_id=str(activity.get("activityId")), activity_type=str(activity.get("activityType")))
            for activity in self.client.scope_completing_activities(instance_id)
            if activity.get("parentActivityInstanceId") == instance_id
        ]

    def final_variables(self, instance_id: str) -> dict[str, Any]:
        return {
            str(variable["name"]): from_typed(variable)
            for variable in self.client.historic_scope_variables(instance_id)
            if variable.get("name") is not None
        }


def _incident(
    incident: Mapping[str, Any], business_keys: Mapping[str, str | None], topics: Mapping[str, str | None]
) -> Incident:
    instance_id = incident.get("processInstanceId")
    configuration = incident.get("configuration")
    external = incident.get("incidentType") == EXTERNAL_TASK_INCIDENT
    return Incident(
        activity_id=incident.get("activityId"),
        message=incident.get("incidentMessage"),
        id=incident.get("id"),
        instance_id=instance_id,
        business_key=business_keys.get(instance_id) if instance_id else None,
        topic=topics.get(configuration) if external and configuration else None,
        raised_at=parse_camunda_date(incident.get("incidentTimestamp")),
    )


def _history(instance: Mapping[str, Any]) -> InstanceHistory:
    """A HistoricProcessInstanceDto as the port's value."""
    return InstanceHistory(
        id=str(instance["id"]),
        state=str(instance.get("state")),
        delete_reason=instance.get("deleteReason"),
        business_key=instance.get("businessKey"),
        ended_at=parse_camunda_date(instance.get("endTime")),
    )
