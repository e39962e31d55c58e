"""Ends the wait of a process as soon as any of its steps stops in an incident, whoever ran the step.

A step whose retries run out (any worker's: Waitroom's, or one of a team's own written with another
client) leaves its instance running with an open incident and no one to finish the row: its client
would wait for a result that cannot come. The listening worker invocation polls the engine every
``INCIDENT_POLL_MS`` for the incidents raised in the last ``INCIDENT_LOOKBACK_S`` (one query, and one
more for their instances' business keys when there are new ones) and ends each PENDING process they
stop as ERROR ``INCIDENT``, through :meth:`ProcessService.end_in_incident`. So a process ends within
``INCIDENT_POLL_MS`` plus two engine round trips of its incident; the reconciler ends the rest (an
incident raised while no worker listened longer than the lookback) once it examines the row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from waitroom.domain.process import Outcome, error_value
from waitroom.service.ports import Engine, Incident, WallClock
from waitroom.service.processes import ProcessService

logger = logging.getLogger(__name__)

#: Incidents read per poll: a storm beyond it is read over the next polls (oldest first).
INCIDENTS_PER_POLL = 500


def incident_outcome(incident: Incident) -> Outcome:
    """The ERROR a process ends with when ``incident`` stops it."""
    message = f"incident in {incident.activity_id}: {incident.message}"
    return Outcome.failed(error_value(message, code="INCIDENT", activityId=incident.activity_id))


@dataclass
class IncidentWatch:
    service: ProcessService
    engine: Engine
    lookback: timedelta
    now: WallClock
    #: Incidents already acted on, by id, with the time they were first seen: each is acted on once.
    _seen: dict[str, datetime] = field(default_factory=dict)

    def poll(self) -> int:
        """Look once; returns how many processes this poll ended."""
        since = self.now() - self.lookback
        self._seen = {incident_id: seen for incident_id, seen in self._seen.items() if seen >= since}
        ended = 0
        for incident in self.engine.incidents_raised_after(since, limit=INCIDENTS_PER_POLL):
            if incident.id is None or incident.id in self._seen:
                continue
            self._seen[incident.id] = self.now()
            if incident.business_key is None or incident.instance_id is None:
                continue
            finished = self.service.end_in_incident(
                incident.business_key, incident_outcome(incident), instance_id=incident.instance_id
            )
            if finished is not None:
                ended += 1
                logger.info(
                    "ended a process stopped by an incident",
                    extra={"correlation_id": incident.business_key, "activityId": incident.activity_id},
                )
        return ended
