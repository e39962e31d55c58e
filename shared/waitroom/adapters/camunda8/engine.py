"""Camunda 8 as the service's :class:`~waitroom.service.ports.Engine`, on its REST API v2 (8.8).

An instance carries its Waitroom correlation id as the tag ``waitroom:<id>`` (Camunda 8.8 has no
business key; 8.9's ``businessId`` is not used yet, so that one adapter serves both): a correlation id
(``[A-Za-z0-9._:-]{1,64}``) behind that prefix always matches Camunda's Tag pattern (a letter, then
at most 99 of letters, digits, ``_ - : .``). Finding by business key is a process-instance search on
the tag.

What Camunda 8's REST API does not give, this adapter does not pretend to:

* the activities that ended an instance and its variables at its end (Camunda 7's history): on 8.8
  they are in the element-instance and variable searches, which the development engine does not
  serve, so :meth:`scope_ends` and :meth:`final_variables` answer empty, as the port allows for an
  engine that keeps no such history: a process whose BPMN simply ends, with no Waitroom step giving
  its result, ends ERROR ``ENDED_WITHOUT_RESULT``;
* an incident's job type (the topic): the incident search names the job, not its type, and the job
  search is not served by the development engine, so :class:`~waitroom.service.ports.Incident`
  ``topic`` is None here (the worker that exhausted the retries names the topic itself);
* a termination's reason: a cancelled instance is ``TERMINATED`` with no reason, read as
  ``EXTERNALLY_TERMINATED``.

The engine watch's reads (incidents raised, instances ended after a moment) are one page each,
filtered by date and sorted oldest first (``creationTime``, ``endDate``).

Camunda 8's searches read its secondary storage, which its exporter fills shortly after the fact:
an instance just started may be missing from a search for a moment (the reconciler looks again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from waitroom.adapters.camunda8.client import Camunda8Client
from waitroom.adapters.camunda8.variables import to_json_variables
from waitroom.domain.errors import CamundaNotFound
from waitroom.service.ports import Incident, InstanceHistory, ScopeEnd

#: The prefix of the tag that carries an instance's Waitroom correlation id.
TAG_PREFIX = "waitroom:"
#: Camunda 8's instance states → the port's (Camunda 7's) states.
STATES = {"ACTIVE": "ACTIVE", "COMPLETED": "COMPLETED", "TERMINATED": "EXTERNALLY_TERMINATED"}


def correlation_tag(correlation_id: str) -> str:
    return TAG_PREFIX + correlation_id


def correlation_id_of(tags: Iterable[str] | None) -> str | None:
    """The Waitroom correlation id among an instance's (or a job's) tags."""
    return next((tag[len(TAG_PREFIX) :] for tag in tags or () if tag.startswith(TAG_PREFIX)), None)


class Camunda8Engine:
    def __init__(self, client: Camunda8Client) -> None:
        self.client = client

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        to_json_variables(variables)

    def start(self, process_key: str, *, business_key: str, variables: Mapping[str, Any]) -> str:
        created = self.client.request(
            "POST",
            "/process-instances",
            json={
                "processDefinitionId": process_key,
                "variables": to_json_variables(variables),
                "tags": [correlation_tag(business_key)],
            },
        )
        return str(created["processInstanceKey"])

    def find_by_business_key(self, business_key: str, *, process_key: str | None) -> list[InstanceHistory]:
        query: dict[str, Any] = {"tags": [correlation_tag(business_key)]}
        if process_key:
            query["processDefinitionId"] = process_key
        return [_history(found) for found in self.client.search("/process-instances/search", {"filter": query})]

    def history(self, instance_id: str) -> InstanceHistory | None:
        try:
            return _history(self.client.request("GET", f"/process-instances/{instance_id}"))
        except CamundaNotFound:
            return None

    def delete(self, instance_id: str) -> bool:
        try:
            self.client.request("POST", f"/process-instances/{instance_id}/cancellation")
        except CamundaNotFound:
            # Camunda 8 rejects cancelling an instance that ended as one it cannot find.
            return False
        return True

    def incidents(self, instance_id: str) -> list[Incident]:
        query = {"filter": {"processInstanceKey": instance_id, "state": "ACTIVE"}}
        return [_incident(found, {}) for found in self.client.search("/incidents/search", query)]

    def incidents_raised_after(self, moment: datetime, *, limit: int) -> list[Incident]:
        found = self._first(
            "/incidents/search",
            {"state": "ACTIVE", "creationTime": {"$gt": camunda8_date(moment)}},
            "creationTime",
            limit,
        )
        keys = sorted({str(incident["processInstanceKey"]) for incident in found})
        tags = {
            str(instance["processInstanceKey"]): correlation_id_of(instance.get("tags"))
            for instance in self._instances(keys)
        }
        return [_incident(incident, tags) for incident in found]

    def instances_ended_after(self, moment: datetime, *, limit: int) -> list[InstanceHistory]:
        ended = self._first(
            "/process-instances/search",
            {"state": {"$in": ["COMPLETED", "TERMINATED"]}, "endDate": {"$gte": camunda8_date(moment)}},
            "endDate",
            limit,
        )
        return [_history(instance) for instance in ended]

    def scope_ends(self, instance_id: str) -> list[ScopeEnd]:
        return []

    def final_variables(self, instance_id: str) -> dict[str, Any]:
        return {}

    def _first(self, route: str, query: Mapping[str, Any], field: str, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` items of a search, oldest ``field`` first: one page."""
        body = {"filter": dict(query), "sort": [{"field": field, "order": "ASC"}], "page": {"from": 0, "limit": limit}}
        answer = self.client.request("POST", route, json=body)
        return list(answer.get("items") or [])

    def _instances(self, keys: list[str]) -> list[dict[str, Any]]:
        if not keys:
            return []
        return self.client.search("/process-instances/search", {"filter": {"processInstanceKey": {"$in": keys}}})


def parse_date(text: Any) -> datetime | None:
    """A date of Camunda 8's answers (ISO 8601, ``Z`` for UTC)."""
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def camunda8_date(moment: datetime) -> str:
    """A time as Camunda 8's filters take it: ISO 8601 in UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _history(instance: Mapping[str, Any]) -> InstanceHistory:
    """A ProcessInstanceResult as the port's value."""
    return InstanceHistory(
        id=str(instance["processInstanceKey"]),
        state=STATES.get(str(instance.get("state")), str(instance.get("state"))),
        business_key=correlation_id_of(instance.get("tags")),
        ended_at=parse_date(instance.get("endDate")),
    )


def _incident(incident: Mapping[str, Any], correlation_ids: Mapping[str, str | None]) -> Incident:
    """An IncidentResult as the port's value."""
    instance_id = incident.get("processInstanceKey")
    return Incident(
        activity_id=incident.get("elementId"),
        message=incident.get("errorMessage"),
        id=incident.get("incidentKey"),
        instance_id=instance_id,
        business_key=correlation_ids.get(str(instance_id)) if instance_id else None,
        raised_at=parse_date(incident.get("creationTime")),
    )
