"""The engine's persisted entities, one dataclass per Camunda table family.

Each record names, in ``owner_field``, the field it is most often looked up by (a deployment's
resources, an instance's external tasks ...); the store indexes that field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

VariableRecords = dict[str, dict[str, Any]]


@dataclass
class Deployment:
    owner_field: ClassVar[str] = "name"

    id: str
    name: str | None
    source: str | None
    deployment_time: int


@dataclass
class Resource:
    owner_field: ClassVar[str] = "deployment_id"

    id: str
    deployment_id: str
    name: str
    data_base64: str


@dataclass
class ProcessDefinition:
    owner_field: ClassVar[str] = "key"

    id: str
    key: str
    version: int
    name: str | None
    category: str | None
    resource: str
    deployment_id: str
    version_tag: str | None
    history_time_to_live: int | None
    startable_in_tasklist: bool


@dataclass
class ProcessInstance:
    owner_field: ClassVar[str] = "definition_id"

    id: str
    definition_id: str
    definition_key: str
    business_key: str | None
    workflow: str
    variables: VariableRecords = field(default_factory=dict)


@dataclass
class HistoricProcessInstance:
    owner_field: ClassVar[str] = "definition_id"

    id: str
    business_key: str | None
    definition_id: str
    definition_key: str
    definition_name: str | None
    definition_version: int
    start_time: int
    start_activity_id: str
    state: str = "ACTIVE"
    end_time: int | None = None
    delete_reason: str | None = None
    # Camunda keeps historic incidents after they are resolved; the history query filters on them.
    had_incident: bool = False
    # Camunda 8's process instance tags (POST /v2/process-instances).
    tags: list[str] = field(default_factory=list)


@dataclass
class HistoricActivityInstance:
    """An activity instance that completed a scope (ACT_HI_ACTINST with completeScope): an end event
    reached, or a task whose uncaught BPMN error ended its path. The engine keeps no other activity
    history."""

    owner_field: ClassVar[str] = "process_instance_id"

    id: str
    spiff_task_id: str
    activity_id: str
    activity_name: str | None
    activity_type: str
    # The instance's id for its top level (Camunda gives the instance's scope the instance's id), or
    # the activity instance id of the embedded sub process whose scope it completed.
    parent_activity_instance_id: str
    process_instance_id: str
    process_definition_id: str
    process_definition_key: str
    execution_id: str
    start_time: int
    end_time: int


@dataclass
class HistoricVariableInstance:
    """A variable of an instance's own scope as history keeps it (ACT_HI_VARINST at history level
    ``audit``): created with the variable, updated with it, DELETED when it is removed, kept after the
    instance ends. Local variables of activities end with their activity here and have no history."""

    owner_field: ClassVar[str] = "process_instance_id"

    id: str
    name: str
    process_instance_id: str
    process_definition_id: str
    process_definition_key: str
    create_time: int
    value: dict[str, Any]
    state: str = "CREATED"


@dataclass
class ExternalTask:
    owner_field: ClassVar[str] = "process_instance_id"

    id: str
    topic_name: str
    process_instance_id: str
    execution_id: str
    activity_id: str
    activity_instance_id: str
    spiff_task_id: str
    definition_id: str
    definition_key: str
    version_tag: str | None
    business_key: str | None
    priority: int
    create_time: int
    worker_id: str | None = None
    lock_expiration_time: int | None = None
    retries: int | None = None
    error_message: str | None = None
    error_details: str | None = None
    local_variables: VariableRecords = field(default_factory=dict)
    # A Camunda 8 job (a zeebe:taskDefinition task), activated through /v2 only; an external task
    # (camunda:type="external") is fetched through /engine-rest only.
    job: bool = False

    def is_fetchable(self, now: int) -> bool:
        """Unlocked (or lock expired) and not out of retries, like Camunda's fetch query."""
        unlocked = self.lock_expiration_time is None or self.lock_expiration_time <= now
        return unlocked and self.has_retries_left

    @property
    def has_retries_left(self) -> bool:
        return self.retries is None or self.retries > 0


@dataclass
class UserTask:
    """A user task waiting for a person (ACT_RU_TASK)."""

    owner_field: ClassVar[str] = "process_instance_id"

    id: str
    name: str | None
    description: str | None
    assignee: str | None
    priority: int
    form_key: str | None
    created: int
    process_instance_id: str
    execution_id: str
    activity_id: str  # the task definition key
    spiff_task_id: str
    definition_id: str
    definition_key: str
    business_key: str | None
    local_variables: VariableRecords = field(default_factory=dict)


@dataclass
class Incident:
    owner_field: ClassVar[str] = "process_instance_id"

    id: str
    incident_type: str
    incident_timestamp: int
    incident_message: str | None
    process_instance_id: str
    process_definition_id: str
    process_definition_key: str
    execution_id: str
    activity_id: str
    configuration: str


@dataclass
class EventSubscription:
    """A wait state: a message subscription (ACT_RU_EVENT_SUBSCR) or a timer (a job in ACT_RU_JOB)."""

    owner_field: ClassVar[str] = "process_instance_id"

    id: str
    event_type: str  # "message" or "timer"
    event_name: str  # the message name, or the timer definition
    process_instance_id: str
    activity_id: str
    spiff_task_id: str
    created: int
    due_time: int | None = None  # timers only; None once a failed timer has raised an incident


Record = (
    Deployment
    | Resource
    | ProcessDefinition
    | ProcessInstance
    | HistoricProcessInstance
    | HistoricActivityInstance
    | HistoricVariableInstance
    | ExternalTask
    | UserTask
    | Incident
    | EventSubscription
)
