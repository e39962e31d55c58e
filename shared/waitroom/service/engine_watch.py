"""Ends the wait of a process as soon as the engine stops it, whoever ran its steps.

Two things stop a process without any of Waitroom's code seeing it: a step whose retries run out
(any worker's: Waitroom's, or one a team wrote with another client) leaves its instance running with
an open incident; and an instance can end without passing through a response step (a BPMN error no
boundary event catches ends its path, as does a terminate end event; or it is deleted in Camunda).
Either way its client would wait for a result that cannot come.

The listening worker invocation runs :meth:`EngineWatch.poll` every ``ENGINE_WATCH_MS``: it asks the
engine for the incidents raised and the instances ended since the newest it read (at its first poll,
in the last ``ENGINE_WATCH_LOOKBACK_S``): two queries, and two more for the incidents' business keys
and topics when there are incidents;
and ends each PENDING process they stop through :meth:`ProcessService.end_for_instance`: ERROR
``INCIDENT`` for an incident; for an ended instance, what the reconciler would decide
(:func:`engine_ending`). A process whose result was recorded is no longer PENDING when its instance
ends (the response step ends the row before it completes its task), so the watch leaves it alone.

So a process ends within ``ENGINE_WATCH_MS`` plus a few engine round trips of its incident or end;
the reconciler ends the rest (what happened while no worker listened for longer than the lookback)
once the row is ``RECONCILE_MIN_AGE_S`` old.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from waitroom.domain.process import Outcome, error_value
from waitroom.service.ports import Engine, Incident, InstanceHistory, WallClock
from waitroom.service.processes import ProcessService

logger = logging.getLogger(__name__)

#: Incidents (and ended instances) read per poll, oldest first: a storm beyond it is read over the
#: next polls, each from the newest item the last one read.
READ_PER_POLL = 500


def incident_outcome(incident: Incident) -> Outcome:
    """The ERROR a process ends with when ``incident`` stops it: the same whoever notices it first
    (the worker that raised it, this watch, or the reconciler)."""
    if incident.topic is not None:
        return step_incident_outcome(incident.topic, incident.message)
    message = f"incident in {incident.activity_id}: {incident.message}"
    return Outcome.failed(error_value(message, code="INCIDENT", activityId=incident.activity_id))


def step_incident_outcome(topic: str, message: str | None) -> Outcome:
    """The ERROR of a process whose step of ``topic`` failed with no retries left."""
    text = f"step {topic} failed and has no retries left: {message}"
    return Outcome.failed(error_value(text, code="INCIDENT", topic=topic))


def engine_ending(history: InstanceHistory) -> tuple[str, Outcome] | None:
    """How a PENDING process ends when its instance ended as ``history`` says (the repair's name, and
    the outcome); None while the instance runs."""
    if history.state == "COMPLETED":
        message = "the process ended in Camunda without reporting a result"
        return "ENDED_WITHOUT_RESULT", Outcome.failed(error_value(message, code="ENDED_WITHOUT_RESULT"))
    if history.state == "EXTERNALLY_TERMINATED":
        reason = history.delete_reason or "no reason given"
        return "EXTERNALLY_TERMINATED", Outcome.cancelled(f"the instance was deleted in Camunda: {reason}")
    if history.state == "INTERNALLY_TERMINATED":
        message = "the process was terminated inside Camunda"
        return "TERMINATED", Outcome.failed(error_value(message, code="TERMINATED"))
    return None


@dataclass
class EngineWatch:
    service: ProcessService
    engine: Engine
    lookback: timedelta
    now: WallClock
    #: What was acted on already (incident ids, ended instance ids), with when it was first seen:
    #: each is acted on once, and forgotten once it is older than the lookback.
    _seen: dict[str, datetime] = field(default_factory=dict)
    #: The newest incident raised and instance ended read so far, on the engine's clock: the next
    #: poll reads from there (less :data:`OVERLAP`), so that a storm longer than a page is read on.
    _newest_incident: datetime | None = None
    _newest_end: datetime | None = None

    def poll(self) -> int:
        """Look once; returns how many processes this poll ended."""
        horizon = self.now() - self.lookback
        self._seen = {key: seen for key, seen in self._seen.items() if seen >= horizon}
        ended = 0
        incidents = self.engine.incidents_raised_after(_since(horizon, self._newest_incident), limit=READ_PER_POLL)
        for incident in incidents:
            self._newest_incident = _later(self._newest_incident, incident.raised_at)
            if incident.id is not None and self._first_sight(f"incident:{incident.id}"):
                ended += self._end(incident.business_key, incident.instance_id, incident_outcome(incident), "INCIDENT")
        for history in self.engine.instances_ended_after(_since(horizon, self._newest_end), limit=READ_PER_POLL):
            self._newest_end = _later(self._newest_end, history.ended_at)
            ending = engine_ending(history)
            if ending is not None and self._first_sight(f"ended:{history.id}"):
                ended += self._end(history.business_key, history.id, ending[1], ending[0])
        return ended

    def _first_sight(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = self.now()
        return True

    def _end(self, business_key: str | None, instance_id: str | None, outcome: Outcome, why: str) -> int:
        if business_key is None or instance_id is None:
            return 0
        if self.service.end_for_instance(business_key, outcome, instance_id=instance_id) is None:
            return 0
        logger.info("ended a process the engine stopped", extra={"correlation_id": business_key, "code": why})
        return 1


#: How far before the newest item read the next poll reads again: an incident (or an end) is stamped
#: before its transaction commits, so one stamped earlier may become visible after a later one.
OVERLAP = timedelta(seconds=5)


def _since(horizon: datetime, newest: datetime | None) -> datetime:
    return horizon if newest is None else max(horizon, newest - OVERLAP)


def _later(current: datetime | None, seen: datetime | None) -> datetime | None:
    if seen is None:
        return current
    return seen if current is None else max(current, seen)
