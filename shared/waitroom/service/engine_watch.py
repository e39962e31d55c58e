"""Ends the wait of a process as soon as the engine stops it, whoever ran its steps.

Two things stop a process without any of Waitroom's code seeing it: a step whose retries run out
(any worker's: Waitroom's, or one a team wrote with another client) leaves its instance running with
an open incident; and an instance can end without passing through a response step: at a plain end
event (a process modelled without a response step), by a BPMN error no boundary event catches, at a
terminate end event, or deleted in Camunda. Either way its client would wait for a result that
cannot come, unless Waitroom answers from the engine.

The listening worker invocation runs :meth:`EngineWatch.poll` every ``ENGINE_WATCH_MS``: it asks the
engine for the incidents raised and the instances ended since the newest it read (at its first poll,
in the last ``ENGINE_WATCH_LOOKBACK_S``). Engine calls per poll: two queries; two more when there are
incidents (their instances' business keys, their tasks' topics); and for each instance that ended
COMPLETED while its process is still PENDING here, one to read how it ended (:meth:`Engine.scope_ends`)
and, when it ended plainly, one more for its variables (:meth:`Engine.final_variables`). An instance
whose process is no longer PENDING costs nothing more: a process whose response step recorded its
result is DONE before its instance ends.

It ends each PENDING process they stop through :meth:`ProcessService.end_for_instance`: ERROR
``INCIDENT`` for an incident; for an ended instance, what the reconciler would decide
(:func:`engine_ending`): DONE with the instance's final variables when it ended plainly.

So a process ends within ``ENGINE_WATCH_MS`` plus a few engine round trips of its incident or end;
the reconciler ends the rest (what happened while no worker listened for longer than the lookback)
once the row is ``RECONCILE_MIN_AGE_S`` old.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from waitroom.domain.process import Outcome, error_value
from waitroom.service.ports import Engine, Incident, InstanceHistory, ScopeEnd, WallClock
from waitroom.service.processes import RUNNING, ProcessService

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


#: End events that end their path without throwing anything the process could have caught: an instance
#: whose top level ended only at these ended plainly, and its variables are its result (Camunda's
#: activity types, org.camunda.bpm.engine.ActivityTypes).
PLAIN_END_TYPES = frozenset({"noneEndEvent", "messageEndEvent", "signalEndEvent", "escalationEndEvent"})
TERMINATE_END_TYPE = "terminateEndEvent"
#: The repair of an instance that ended plainly: the process ends DONE.
ENDED_PLAINLY = "ENDED_AT_END_EVENT"


def engine_ending(history: InstanceHistory, engine: Engine) -> tuple[str, Outcome] | None:
    """How a PENDING process ends when its instance ended as ``history`` says (the repair's name, and
    the outcome); None while the instance runs. A COMPLETED instance is read further from the engine
    (:func:`completed_ending`)."""
    if history.state == "COMPLETED":
        return completed_ending(history.id, engine)
    if history.state == "EXTERNALLY_TERMINATED":
        reason = history.delete_reason or "no reason given"
        return "EXTERNALLY_TERMINATED", Outcome.cancelled(f"the instance was deleted in Camunda: {reason}")
    if history.state == "INTERNALLY_TERMINATED":
        message = "the process was terminated inside Camunda"
        return "TERMINATED", Outcome.failed(error_value(message, code="TERMINATED"))
    return None


def completed_ending(instance_id: str, engine: Engine) -> tuple[str, Outcome]:
    """A COMPLETED instance ended plainly when every activity that completed its top level is a plain
    end event (:data:`PLAIN_END_TYPES`): DONE with its final variables. A terminate end event is ERROR
    ``TERMINATED``; an uncaught BPMN error (an error end event, or a task's error that ended its path)
    or no activity history at all is ERROR ``ENDED_WITHOUT_RESULT``."""
    ends = engine.scope_ends(instance_id)
    terminated = [end for end in ends if end.activity_type == TERMINATE_END_TYPE]
    if terminated:
        message = f"the process reached the terminate end event {terminated[0].activity_id}"
        return "TERMINATED", Outcome.failed(
            error_value(message, code="TERMINATED", activityId=terminated[0].activity_id)
        )
    abnormal = [end for end in ends if end.activity_type not in PLAIN_END_TYPES]
    if abnormal:
        return "ENDED_WITHOUT_RESULT", _ended_without_result(abnormal[0])
    if not ends:
        message = "the process ended in Camunda without a result, and Camunda keeps no history of how it ended"
        return "ENDED_WITHOUT_RESULT", Outcome.failed(error_value(message, code="ENDED_WITHOUT_RESULT"))
    return ENDED_PLAINLY, Outcome.done(engine.final_variables(instance_id))


def _ended_without_result(end: ScopeEnd) -> Outcome:
    message = (
        f"the process ended in Camunda at {end.activity_id} ({end.activity_type}) without a result: "
        "a BPMN error that no boundary event caught"
    )
    return Outcome.failed(
        error_value(message, code="ENDED_WITHOUT_RESULT", activityId=end.activity_id, activityType=end.activity_type)
    )


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
            key = f"ended:{history.id}"
            if history.business_key is None or history.state in RUNNING or key in self._seen:
                continue
            # Only a process still waiting for this instance is worth the engine's further reads.
            if self.service.awaits_instance(history.business_key, history.id):
                ending = engine_ending(history, self.engine)
                if ending is not None:
                    ended += self._end(history.business_key, history.id, ending[1], ending[0])
            self._first_sight(key)
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
