"""Camunda 8 as the service's :class:`~waitroom.service.ports.Engine`, on its REST API v2 (8.8 and later).

An instance carries its Waitroom correlation id as the tag ``waitroom:<id>`` on every version: a
correlation id (``[A-Za-z0-9._:-]{1,64}``) behind that prefix always matches Camunda's Tag pattern (a
letter, then at most 99 of letters, digits, ``_ - : .``). On Camunda 8.9 and later it is also the
instance's ``businessId`` (a string of 1 to 256 characters, no pattern: every correlation id is
one), so Camunda's own tools show and search it as the business id. The version is the gateway's
(``GET /topology``'s ``gatewayVersion``, read once per client by
:meth:`~waitroom.adapters.camunda8.client.Camunda8Client.gateway_version`); when it cannot be read
the start goes ahead as on 8.8, with the tag only. Finding by business key is a process-instance
search on the tag on every version: an instance started before an upgrade to 8.9 has no business
id, and the one search serves both. With 8.9's business-id uniqueness check switched on, Camunda
refuses a second active instance of the same process with the same correlation id.

How an ended instance ended comes from Camunda 8's secondary storage, as Camunda 7's comes from its
history:

* :meth:`Camunda8Engine.scope_ends`: the end events reached on the process's top level, an
  element-instance search (``type`` ``END_EVENT``, ``state`` ``COMPLETED``, ``elementInstanceScopeKey``
  the instance's key). Camunda 8 names an element's type, not its event definition, so each end
  event's kind (none, terminate, error ...) is read from its process's XML
  (``GET /process-definitions/{key}/xml``, kept per definition: a deployed definition never changes)
  and given as Camunda 7's activity type (``noneEndEvent``, ``terminateEndEvent`` ...), the port's
  vocabulary (an end event the XML does not name is a :class:`~waitroom.domain.errors.CamundaFailed`,
  never taken for a plain end);
* :meth:`Camunda8Engine.final_variables`: a variable search on the instance's own scope (``scopeKey``
  the instance's key). Values come as JSON text; one the search truncated (``isTruncated``) is read
  whole with ``GET /variables/{variableKey}``.

A BPMN error nothing catches does not end a Camunda 8 instance: Zeebe raises an
``UNHANDLED_ERROR_EVENT`` incident, which ends its process ERROR ``INCIDENT`` as any incident does.

An incident raised because a job ran out of retries (``JOB_NO_RETRIES``) names its job; the job
search (``POST /jobs/search`` on the incidents' job keys) gives the job's type, the
:class:`~waitroom.service.ports.Incident`'s ``topic``, as Camunda 7's external task gives its topic.

A termination's reason is not kept: a cancelled instance is ``TERMINATED`` with no reason, read as
``EXTERNALLY_TERMINATED``.

The engine watch's reads (incidents raised, instances ended after a moment) are one page each,
filtered by date and sorted oldest first (``creationTime``, ``endDate``).

Camunda 8's searches read its secondary storage, which its exporter fills shortly after the fact:
an instance just started may be missing from a search for a moment (the reconciler looks again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from waitroom.adapters.camunda8.client import Camunda8Client
from waitroom.adapters.camunda8.variables import to_json_variables
from waitroom.domain.errors import CamundaFailed, CamundaNotFound
from waitroom.service.ports import Incident, InstanceHistory, ScopeEnd

#: The prefix of the tag that carries an instance's Waitroom correlation id.
TAG_PREFIX = "waitroom:"
#: The first Camunda version whose instances have a ``businessId``.
BUSINESS_ID_SINCE = (8, 9)
#: Camunda 8's instance states → the port's (Camunda 7's) states.
STATES = {"ACTIVE": "ACTIVE", "COMPLETED": "COMPLETED", "TERMINATED": "EXTERNALLY_TERMINATED"}
#: The incident a job raises when its retries run out: the one whose job's type is a topic.
JOB_NO_RETRIES = "JOB_NO_RETRIES"
BPMN_NAMESPACE = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
#: An end event's event definition → Camunda 7's activity type (org.camunda.bpm.engine.ActivityTypes).
END_EVENT_TYPES = {
    "terminateEventDefinition": "terminateEndEvent",
    "errorEventDefinition": "errorEndEvent",
    "messageEventDefinition": "messageEndEvent",
    "signalEventDefinition": "signalEndEvent",
    "escalationEventDefinition": "escalationEndEvent",
    "compensateEventDefinition": "compensationEndEvent",
}
#: Process definitions whose end events are kept (each a few entries): beyond it the oldest go.
DEFINITIONS_KEPT = 64


def correlation_tag(correlation_id: str) -> str:
    return TAG_PREFIX + correlation_id


def correlation_id_of(tags: Iterable[str] | None) -> str | None:
    """The Waitroom correlation id among an instance's (or a job's) tags."""
    return next((tag[len(TAG_PREFIX) :] for tag in tags or () if tag.startswith(TAG_PREFIX)), None)


class Camunda8Engine:
    def __init__(self, client: Camunda8Client) -> None:
        self.client = client
        #: Per process definition key, its end events' activity types by element id.
        self._end_events: dict[str, dict[str, str]] = {}

    def check_variables(self, variables: Mapping[str, Any]) -> None:
        to_json_variables(variables)

    def start(self, process_key: str, *, business_key: str, variables: Mapping[str, Any]) -> str:
        instruction: dict[str, Any] = {
            "processDefinitionId": process_key,
            "variables": to_json_variables(variables),
            "tags": [correlation_tag(business_key)],
        }
        if (self.client.gateway_version() or (0, 0)) >= BUSINESS_ID_SINCE:
            instruction["businessId"] = business_key
        created = self.client.request("POST", "/process-instances", json=instruction)
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
        topics = self._job_types(
            sorted(
                {
                    str(incident["jobKey"])
                    for incident in found
                    if incident.get("errorType") == JOB_NO_RETRIES and incident.get("jobKey")
                }
            )
        )
        return [_incident(incident, tags, topics) for incident in found]

    def instances_ended_after(self, moment: datetime, *, limit: int) -> list[InstanceHistory]:
        ended = self._first(
            "/process-instances/search",
            {"state": {"$in": ["COMPLETED", "TERMINATED"]}, "endDate": {"$gte": camunda8_date(moment)}},
            "endDate",
            limit,
        )
        return [_history(instance) for instance in ended]

    def scope_ends(self, instance_id: str) -> list[ScopeEnd]:
        query = {
            "processInstanceKey": instance_id,
            "elementInstanceScopeKey": instance_id,
            "type": "END_EVENT",
            "state": "COMPLETED",
        }
        ends = self.client.search("/element-instances/search", {"filter": query})
        return [
            ScopeEnd(
                str(end["elementId"]), self._end_event_type(str(end["processDefinitionKey"]), str(end["elementId"]))
            )
            for end in ends
        ]

    def final_variables(self, instance_id: str) -> dict[str, Any]:
        query = {"processInstanceKey": instance_id, "scopeKey": instance_id}
        values: dict[str, Any] = {}
        for found in self.client.search("/variables/search", {"filter": query}):
            whole = (
                self.client.request("GET", f"/variables/{found['variableKey']}") if found.get("isTruncated") else found
            )
            values[str(whole["name"])] = _json_value(whole)
        return values

    def _end_event_type(self, definition_key: str, element_id: str) -> str:
        """The activity type of an end event of the process definition, from its XML; a
        :class:`CamundaFailed` when the XML does not say (an end event is never guessed plain)."""
        found = self._end_events.get(definition_key)
        if found is None:
            xml = self.client.text(f"/process-definitions/{definition_key}/xml")
            try:
                found = end_event_types(xml or "")
            except SyntaxError as exc:  # ElementTree's ParseError, or no XML at all
                raise CamundaFailed(f"Camunda's XML of the process definition {definition_key} does not parse") from exc
            if len(self._end_events) >= DEFINITIONS_KEPT:
                self._end_events.pop(next(iter(self._end_events)))
            self._end_events[definition_key] = found
        if element_id not in found:
            raise CamundaFailed(
                f"the end event {element_id} is not in the XML of its process definition {definition_key}"
            )
        return found[element_id]

    def _job_types(self, job_keys: list[str]) -> dict[str, str]:
        if not job_keys:
            return {}
        jobs = self.client.search("/jobs/search", {"filter": {"jobKey": {"$in": job_keys}}})
        return {str(job["jobKey"]): str(job["type"]) for job in jobs}

    def _first(self, route: str, query: Mapping[str, Any], field: str, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` items of a search, oldest ``field`` first: one page."""
        body = {"filter": dict(query), "sort": [{"field": field, "order": "ASC"}], "page": {"from": 0, "limit": limit}}
        answer = self.client.request("POST", route, json=body)
        return list(answer.get("items") or [])

    def _instances(self, keys: list[str]) -> list[dict[str, Any]]:
        if not keys:
            return []
        return self.client.search("/process-instances/search", {"filter": {"processInstanceKey": {"$in": keys}}})


def end_event_types(xml: str) -> dict[str, str]:
    """Camunda 7's activity type of each end event of a BPMN document, by element id: its event
    definition's (:data:`END_EVENT_TYPES`), ``noneEndEvent`` for one without."""
    # The standard library's parser: the document is a model deployed to the team's own engine, and
    # Python's expat refuses entity expansion attacks.
    from xml.etree import ElementTree  # noqa: PLC0415 -- only an ended instance's classification reads XML

    types: dict[str, str] = {}
    for end in ElementTree.fromstring(xml).iter(f"{BPMN_NAMESPACE}endEvent"):  # noqa: S314 -- see above
        kinds = [child.tag.removeprefix(BPMN_NAMESPACE) for child in end if child.tag.endswith("EventDefinition")]
        types[str(end.get("id"))] = next(
            (END_EVENT_TYPES[kind] for kind in kinds if kind in END_EVENT_TYPES), "noneEndEvent"
        )
    return types


def _json_value(variable: Mapping[str, Any]) -> Any:
    """A VariableResult's value: JSON text, as Camunda 8 keeps a variable."""
    try:
        return json.loads(variable["value"])
    except (TypeError, ValueError) as exc:
        raise CamundaFailed(
            f"Camunda answered the variable {variable.get('name')!r} with a value that is not JSON"
        ) from exc


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


def _incident(
    incident: Mapping[str, Any],
    correlation_ids: Mapping[str, str | None],
    topics: Mapping[str, str] | None = None,
) -> Incident:
    """An IncidentResult as the port's value; ``topics`` the types of the jobs that ran out of retries."""
    instance_id = incident.get("processInstanceKey")
    job_key = incident.get("jobKey")
    return Incident(
        activity_id=incident.get("elementId"),
        message=incident.get("errorMessage"),
        id=incident.get("incidentKey"),
        instance_id=instance_id,
        business_key=correlation_ids.get(str(instance_id)) if instance_id else None,
        topic=(topics or {}).get(str(job_key)) if job_key and incident.get("errorType") == JOB_NO_RETRIES else None,
        raised_at=parse_date(incident.get("creationTime")),
    )
