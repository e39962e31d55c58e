"""The engine's services: repository, runtime, history and external tasks, with Camunda's semantics.

Every operation is one store transaction: it loads what it needs, lets Spiff move the tokens,
reconciles the external tasks with the tasks Spiff has waiting, and commits, or rolls everything
back on error, the way a Camunda command does.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from waitroom_dev_engine import mappings
from waitroom_dev_engine.clock import Clock
from waitroom_dev_engine.errors import (
    BadUserRequestException,
    CommandRejection,
    MismatchingMessageCorrelationException,
    NotFoundException,
    NullValueException,
    ProcessEngineException,
    RestException,
    ensure_message,
)
from waitroom_dev_engine.execution import Context, ProcessRuntime, ScopeCompletion
from waitroom_dev_engine.fetching import FetchRequest, LockedTask, TopicRequest, matches, next_unlock, order, validate
from waitroom_dev_engine.juel import ExecutionIdentity, JuelError, Scope
from waitroom_dev_engine.longpoll import TaskNotifier
from waitroom_dev_engine.parsing import Activity, is_bpmn_resource, parse_resource
from waitroom_dev_engine.queries import ExternalTaskRow, InstanceRow, QueryContext, VariableCondition, variables_match
from waitroom_dev_engine.records import (
    Deployment,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    ProcessDefinition,
    ProcessInstance,
    Resource,
    UserTask,
    VariableRecords,
)
from waitroom_dev_engine.store import Store
from waitroom_dev_engine.timers import parse_timer
from waitroom_dev_engine.variables import (
    TypedValue,
    ensure_storable,
    from_record,
    to_python,
    to_record,
)

_LOG = logging.getLogger("waitroom_dev_engine")
# Camunda's ExternalTaskEntity.MAX_EXCEPTION_MESSAGE_LENGTH: longer failure messages are cut.
MAX_ERROR_MESSAGE_LENGTH = 666
# ACT_RU_EXECUTION.BUSINESS_KEY_ is a varchar(255) in Camunda's schema.
MAX_BUSINESS_KEY_LENGTH = 255
INCIDENT_TYPE = "failedExternalTask"
# A Camunda 8 job whose BPMN error nothing catches raises this incident (Zeebe's UNHANDLED_ERROR_EVENT).
UNHANDLED_ERROR_INCIDENT_TYPE = "unhandledErrorEvent"
DEFAULT_DEPLOYMENT_SOURCE = "process application"


@dataclass(frozen=True)
class DeploymentResult:
    deployment: Deployment
    # None when nothing new was deployed (duplicate filtering) or no process was in it, as in Camunda.
    definitions: list[ProcessDefinition] | None


@dataclass(frozen=True)
class StartResult:
    instance_id: str
    definition: ProcessDefinition
    business_key: str | None
    ended: bool
    variables: dict[str, TypedValue]


@dataclass(frozen=True)
class MessageCorrelation:
    """A POST /message request, as Camunda's MessageCorrelationBuilder takes it."""

    name: str
    business_key: str | None = None
    process_instance_id: str | None = None
    tenant_id: str | None = None
    correlation_keys: dict[str, TypedValue] | None = None
    variables: dict[str, TypedValue] = field(default_factory=dict)
    all: bool = False

    def correlation_set(self) -> str:
        keys = None if self.correlation_keys is None else {name: v.value for name, v in self.correlation_keys.items()}
        return (
            f"CorrelationSet [businessKey={self.business_key}, processInstanceId={self.process_instance_id}, "
            f"processDefinitionId=null, correlationKeys={keys}, localCorrelationKeys=null, tenantId={self.tenant_id}, "
            f"isTenantIdSet={str(self.tenant_id is not None).lower()}, isExecutionsOnly=false]"
        )


@dataclass(frozen=True)
class CorrelationResult:
    result_type: str  # "Execution" or "ProcessDefinition", as Camunda's MessageCorrelationResultType
    execution_id: str
    process_instance_id: str
    instance: StartResult | None


class Engine:
    def __init__(self, db_path: str | Path) -> None:
        self.clock = Clock()
        self._store = Store(db_path)
        self._notifier = TaskNotifier()
        self._runtimes: dict[str, ProcessRuntime] = {}

    def interrupt_waits(self) -> None:
        """Answer pending long polls now; used when shutting down."""
        self._notifier.close()

    def close(self) -> None:
        self._notifier.close()
        self._store.close()

    # Repository ----------------------------------------------------------------------------------

    def deploy(
        self,
        name: str | None,
        source: str | None,
        resources: dict[str, bytes],
        duplicate_filtering: bool,
        changed_only: bool,
    ) -> DeploymentResult:
        if not resources:
            raise ProcessEngineException("No deployment resources contained to deploy.")
        with self._write():
            to_deploy = self._resources_to_deploy(name, source, resources, duplicate_filtering, changed_only)
            if not to_deploy:
                return DeploymentResult(self._store.by_owner(Deployment, name)[-1], None)
            parsed = [
                (resource, process)
                for resource, data in to_deploy.items()
                if is_bpmn_resource(resource)
                for process in parse_resource(resource, data)
            ]
            keys = [process.model.key for _, process in parsed]
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ProcessEngineException(
                    f"The deployment contains definitions with the same key '{duplicates[0]}' (id attribute), "
                    "this is not allowed"
                )
            deployment = Deployment(_new_id(), name, source, self.clock.now_ms())
            self._store.put(deployment)
            for resource, data in to_deploy.items():
                encoded = base64.b64encode(data).decode("ascii")
                self._store.put(Resource(_new_id(), deployment.id, resource, encoded))
            definitions = []
            for resource, process in parsed:
                model = process.model
                version = 1 + max((d.version for d in self._store.by_owner(ProcessDefinition, model.key)), default=0)
                definition = ProcessDefinition(
                    id=_definition_id(model.key, version),
                    key=model.key,
                    version=version,
                    name=model.name,
                    category=model.category,
                    resource=resource,
                    deployment_id=deployment.id,
                    version_tag=model.version_tag,
                    history_time_to_live=model.history_time_to_live,
                    startable_in_tasklist=model.startable_in_tasklist,
                )
                self._store.put(definition)
                self._runtimes[definition.id] = ProcessRuntime(process)
                definitions.append(definition)
            return DeploymentResult(deployment, definitions or None)

    def deployments(self) -> list[Deployment]:
        with self._store.transaction():
            return self._store.all(Deployment)

    def deployment(self, deployment_id: str) -> Deployment | None:
        with self._store.transaction():
            return self._store.get(Deployment, deployment_id)

    def definition(self, definition_id: str) -> ProcessDefinition | None:
        with self._store.transaction():
            return self._store.get(ProcessDefinition, definition_id)

    def definition_xml(self, definition_id: str) -> bytes:
        """The resource a definition was deployed from, as Camunda's RepositoryService.getProcessModel."""
        with self._store.transaction():
            definition = self._store.get(ProcessDefinition, definition_id)
            if definition is None:
                message = f"no deployed process definition found with id '{definition_id}'"
                raise NotFoundException(ensure_message(message, "processDefinition", "is null"))
            for resource in self._store.by_owner(Resource, definition.deployment_id):
                if resource.name == definition.resource:
                    return base64.b64decode(resource.data_base64)
            raise NotFoundException(f"no resource found with name '{definition.resource}'")

    def latest_definition(self, key: str) -> ProcessDefinition | None:
        with self._store.transaction():
            return self._latest_definition(key)

    def delete_definitions(self, key: str, cascade: bool) -> None:
        with self._write(notify=False):
            definitions = self._store.by_owner(ProcessDefinition, key)
            if not definitions:
                raise NotFoundException(
                    ensure_message(f"No process definition found with key '{key}'", "processDefinitions", "is empty")
                )
            for definition in definitions:
                instances = self._store.by_owner(ProcessInstance, definition.id)
                if instances and not cascade:
                    raise ProcessEngineException(
                        "ENGINE-03076 Deletion of process definition without cascading failed. Process definition "
                        f"with id: {definition.id} can't be deleted, because there are {len(instances)} dependent "
                        "process instances."
                    )
                for instance in instances:
                    self._end_instance(instance.id, "EXTERNALLY_TERMINATED")
                for history in self._store.by_owner(HistoricProcessInstance, definition.id):
                    self._delete_history(history.id)
                self._store.delete(ProcessDefinition, definition.id)

    # Runtime -------------------------------------------------------------------------------------

    def start(
        self,
        definition_id: str,
        business_key: str | None,
        variables: dict[str, TypedValue] | None,
        tags: Sequence[str] = (),
    ) -> StartResult:
        with self._write():
            definition = self._store.get(ProcessDefinition, definition_id)
            if definition is None:
                message = f"No process definition found for id '{definition_id}'"
                raise NotFoundException(ensure_message(message, "processDefinition", "is null"))
            return self._start(definition, business_key, dict(variables or {}), None, tags)

    def _start(
        self,
        definition: ProcessDefinition,
        business_key: str | None,
        values: dict[str, TypedValue],
        message_name: str | None,
        tags: Sequence[str] = (),
    ) -> StartResult:
        runtime = self._runtime(definition)
        instance = ProcessInstance(_new_id(), definition.id, definition.key, business_key, "")
        start_activity = (
            runtime.model.start_activity_id if message_name is None else runtime.model.message_starts[message_name]
        )
        self._store.put(
            HistoricProcessInstance(
                id=instance.id,
                business_key=business_key,
                definition_id=definition.id,
                definition_key=definition.key,
                definition_name=definition.name,
                definition_version=definition.version,
                start_time=self.clock.now_ms(),
                start_activity_id=start_activity,
                tags=list(tags),
            )
        )
        workflow = runtime.start(_context(values, instance), message_name)
        ended = self._save(instance, runtime, workflow, values)
        return StartResult(instance.id, definition, business_key, ended, values)

    # Messages and timers -------------------------------------------------------------------------

    def correlate(self, message: MessageCorrelation) -> list[CorrelationResult]:
        """Camunda's message correlation: waiting executions first, then message start events."""
        with self._write():
            executions = [
                (subscription, instance)
                for subscription in self._store.all(EventSubscription)
                if subscription.event_type == "message" and subscription.event_name == message.name
                for instance in [self._store.get(ProcessInstance, subscription.process_instance_id)]
                if instance is not None and self._correlates(message, instance)
            ]
            starts = self._message_start_definitions(message)
            if not message.all:
                if len(executions) > 1:
                    raise MismatchingMessageCorrelationException(
                        f"ENGINE-13009 Cannot correlate a message with name '{message.name}' to a single execution. "
                        f"{len(executions)} executions match the correlation keys: {message.correlation_set()}"
                    )
                if executions:
                    starts = []
                elif len(starts) > 1:
                    raise MismatchingMessageCorrelationException(
                        f"ENGINE-13010 Cannot correlate a message with name '{message.name}' to a single process "
                        f"definition. {len(starts)} process definitions match the correlation keys: "
                        f"{message.correlation_set()}"
                    )
                elif not starts:
                    raise MismatchingMessageCorrelationException(
                        f"Cannot correlate message '{message.name}': No process definition or execution matches "
                        "the parameters"
                    )
            results = [self._trigger(subscription, message.variables) for subscription, _instance in executions]
            for definition in starts:
                started = self._start(definition, message.business_key, dict(message.variables), message.name)
                results.append(
                    CorrelationResult("ProcessDefinition", started.instance_id, started.instance_id, started)
                )
            return results

    def advance_clock(self, milliseconds: int) -> int:
        """Move the engine's clock forward and fire the timers now due; returns how many fired."""
        self.clock.advance(milliseconds)
        return self.fire_due_timers()

    def fire_due_timers(self) -> int:
        """What Camunda's job executor does for timer jobs: trigger each due timer in its own command."""
        fired = 0
        while True:
            # Looking is a read: an idle engine neither writes nor wakes the long polls.
            with self._store.transaction():
                due = self._next_due_timer()
            if due is None:
                return fired
            with self._write():
                timer = self._store.get(EventSubscription, due.id)
                if timer is None or timer.due_time is None or timer.due_time > self.clock.now_ms():
                    continue
                try:
                    with self._store.savepoint():
                        self._trigger(timer, {})
                except ProcessEngineException as error:
                    self._timer_failed(timer, error)
                fired += 1

    def _next_due_timer(self) -> EventSubscription | None:
        now = self.clock.now_ms()
        due = [
            timer
            for timer in self._store.all(EventSubscription)
            if timer.event_type == "timer" and timer.due_time is not None and timer.due_time <= now
        ]
        return min(due, key=lambda timer: (timer.due_time or 0, timer.created)) if due else None

    def _timer_failed(self, timer: EventSubscription, error: ProcessEngineException) -> None:
        # Camunda retries a failed job, then raises a failedJob incident; the retries are left out here.
        _LOG.error("Timer %s of process instance %s failed: %s", timer.activity_id, timer.process_instance_id, error)
        timer.due_time = None
        self._store.put(timer)
        instance = self._store.get(ProcessInstance, timer.process_instance_id)
        if instance is None:
            return
        self._store.put(
            Incident(
                id=_new_id(),
                incident_type="failedJob",
                incident_timestamp=self.clock.now_ms(),
                incident_message=error.message,
                process_instance_id=instance.id,
                process_definition_id=instance.definition_id,
                process_definition_key=instance.definition_key,
                execution_id=instance.id,
                activity_id=timer.activity_id,
                configuration=timer.id,
            )
        )
        history = self._store.get(HistoricProcessInstance, instance.id)
        if history is not None:
            history.had_incident = True
            self._store.put(history)

    def _correlates(self, message: MessageCorrelation, instance: ProcessInstance) -> bool:
        if message.tenant_id is not None:
            return False  # no instance belongs to a tenant
        if message.process_instance_id is not None and instance.id != message.process_instance_id:
            return False
        if message.business_key is not None and instance.business_key != message.business_key:
            return False
        if not message.correlation_keys:
            return True
        conditions = [
            VariableCondition(name, "eq", value.value, is_date=value.type == "Date")
            for name, value in message.correlation_keys.items()
        ]
        return variables_match(_load_variables(instance.variables), conditions, QueryContext(0, {}))

    def _message_start_definitions(self, message: MessageCorrelation) -> list[ProcessDefinition]:
        if message.process_instance_id is not None or message.tenant_id is not None:
            return []
        latest: dict[str, ProcessDefinition] = {}
        for definition in self._store.all(ProcessDefinition):
            if definition.key not in latest or definition.version > latest[definition.key].version:
                latest[definition.key] = definition
        return [
            definition
            for definition in latest.values()
            if message.name in self._runtime(definition).model.message_starts
        ]

    def _trigger(self, subscription: EventSubscription, variables: dict[str, TypedValue]) -> CorrelationResult:
        instance, runtime, workflow, values = self._open(subscription.process_instance_id)
        values.update(variables)
        runtime.complete(workflow, subscription.spiff_task_id, _context(values, instance))
        ended = self._save(instance, runtime, workflow, values)
        definition = self._store.get(ProcessDefinition, instance.definition_id)
        started = StartResult(instance.id, definition, instance.business_key, ended, values) if definition else None
        # A wait state without a scope of its own waits in the process instance's execution.
        return CorrelationResult("Execution", instance.id, instance.id, started)

    def instance(self, instance_id: str) -> ProcessInstance | None:
        with self._store.transaction():
            return self._store.get(ProcessInstance, instance_id)

    def instance_rows(self) -> list[InstanceRow]:
        """Every running instance with what the process instance query filters on."""
        with self._store.transaction():
            deployments = {definition.id: definition.deployment_id for definition in self._store.all(ProcessDefinition)}
            incidents: dict[str, list[Incident]] = {}
            for incident in self._store.all(Incident):
                incidents.setdefault(incident.process_instance_id, []).append(incident)
            return [
                InstanceRow(
                    instance,
                    deployments.get(instance.definition_id),
                    tuple(incidents.get(instance.id, ())),
                    _load_variables(instance.variables),
                )
                for instance in self._store.all(ProcessInstance)
            ]

    def delete_instance(self, instance_id: str, fail_if_not_exists: bool) -> None:
        with self._write(notify=False):
            if self._store.get(ProcessInstance, instance_id) is None:
                if not fail_if_not_exists:
                    return
                raise NotFoundException(
                    ensure_message(f"No process instance found for id '{instance_id}'", "processInstance", "is null")
                )
            self._end_instance(instance_id, "EXTERNALLY_TERMINATED")

    def variables(self, instance_id: str) -> dict[str, TypedValue]:
        with self._store.transaction():
            return _load_variables(self._existing_execution(instance_id).variables)

    def modify_variables(
        self, instance_id: str, modifications: dict[str, TypedValue] | None, deletions: Sequence[str] | None
    ) -> None:
        with self._write():
            instance = self._existing_execution(instance_id)
            values = _load_variables(instance.variables)
            values.update(modifications or {})
            for name in deletions or []:
                values.pop(name, None)
            _ensure_storable(values)
            instance.variables = _dump_variables(values)
            self._store.put(instance)
            self._record_variables(instance)

    # History -------------------------------------------------------------------------------------

    def historic_instance(self, instance_id: str) -> HistoricProcessInstance | None:
        with self._store.transaction():
            return self._store.get(HistoricProcessInstance, instance_id)

    def historic_instances(self) -> list[HistoricProcessInstance]:
        with self._store.transaction():
            return self._store.all(HistoricProcessInstance)

    def historic_activity_instances(self) -> list[HistoricActivityInstance]:
        with self._store.transaction():
            return self._store.all(HistoricActivityInstance)

    def historic_variable_instances(self) -> list[HistoricVariableInstance]:
        with self._store.transaction():
            return self._store.all(HistoricVariableInstance)

    def delete_historic_instance(self, instance_id: str, fail_if_not_exists: bool) -> None:
        with self._write(notify=False):
            if self._store.get(ProcessInstance, instance_id) is not None:
                raise ProcessEngineException(
                    f"Process instance is still running, cannot delete historic process instance: {instance_id}"
                )
            if self._store.get(HistoricProcessInstance, instance_id) is None:
                if not fail_if_not_exists:
                    return
                raise NotFoundException(f"No historic process instance found with id: {instance_id}")
            self._delete_history(instance_id)

    def _delete_history(self, instance_id: str) -> None:
        self._store.delete(HistoricProcessInstance, instance_id)
        for activity in self._store.by_owner(HistoricActivityInstance, instance_id):
            self._store.delete(HistoricActivityInstance, activity.id)
        for variable in self._store.by_owner(HistoricVariableInstance, instance_id):
            self._store.delete(HistoricVariableInstance, variable.id)

    # External tasks ------------------------------------------------------------------------------

    def fetch_and_lock(self, request: FetchRequest) -> list[LockedTask]:
        """Lock tasks for the worker, long-polling up to ``async_response_timeout`` when none is free."""
        validate(request)
        timeout = request.async_response_timeout
        deadline = self.clock.now_ms() + (timeout or 0)
        while True:
            seen = self._notifier.version
            locked, unlock_at = self._try_fetch(request)
            now = self.clock.now_ms()
            if locked or timeout is None or now >= deadline:
                return locked
            wake_at = deadline if unlock_at is None else min(deadline, unlock_at)
            if not self._notifier.wait(seen, (wake_at - now) / 1000):
                raise RestException(500, "Request rejected due to shutdown of application server.")

    def external_task(self, task_id: str) -> ExternalTask | None:
        with self._store.transaction():
            return self._store.get(ExternalTask, task_id)

    def external_task_rows(self) -> list[ExternalTaskRow]:
        """Every external task with what the external task query filters on."""
        with self._store.transaction():
            names = {definition.id: definition.name for definition in self._store.all(ProcessDefinition)}
            variables = {
                instance.id: _load_variables(instance.variables) for instance in self._store.all(ProcessInstance)
            }
            return [
                ExternalTaskRow(task, names.get(task.definition_id), variables.get(task.process_instance_id, {}))
                for task in self._store.all(ExternalTask)
            ]

    def complete(
        self,
        task_id: str,
        worker_id: str | None,
        variables: dict[str, TypedValue] | None,
        local_variables: dict[str, TypedValue] | None,
    ) -> None:
        worker = _require(worker_id, "workerId")
        with self._write():
            message = f"External Task {task_id} cannot be completed by worker '{worker}"
            task = self._task_locked_by(task_id, worker, message)
            instance, runtime, workflow, values = self._open(task.process_instance_id)
            activity = runtime.model.activities[task.activity_id]
            local = _load_variables(task.local_variables)
            _set_variables(activity, values, local, variables, local_variables)
            self._map_outputs(activity, instance, values, local)
            runtime.complete(workflow, task.spiff_task_id, _context(values, instance))
            self._save(instance, runtime, workflow, values)

    def handle_failure(
        self,
        task_id: str,
        worker_id: str | None,
        *,
        error_message: str | None,
        error_details: str | None,
        retries: int,
        retry_timeout: int,
        variables: dict[str, TypedValue] | None,
        local_variables: dict[str, TypedValue] | None,
    ) -> None:
        worker = _require(worker_id, "workerId")
        if retries < 0:
            raise ProcessEngineException(ensure_message("", "retries", "is not greater than or equal to 0"))
        if retry_timeout < 0:
            raise ProcessEngineException(ensure_message("", "retryDuration", "is not greater than or equal to 0"))
        with self._write():
            task = self._task_locked_by(
                task_id, worker, f"Failure of External Task {task_id} cannot be reported by worker '{worker}"
            )
            self._set_task_variables(task, variables, local_variables)
            task.error_message = error_message[:MAX_ERROR_MESSAGE_LENGTH] if error_message is not None else None
            if error_details is not None:
                task.error_details = error_details
            task.lock_expiration_time = self.clock.now_ms() + retry_timeout
            if task.has_retries_left and retries <= 0:
                self._store.put(_incident(task, self.clock.now_ms()))
                history = self._store.get(HistoricProcessInstance, task.process_instance_id)
                if history is not None:
                    history.had_incident = True
                    self._store.put(history)
            elif not task.has_retries_left and retries > 0:
                self._delete_incidents(task)
            task.retries = retries
            self._store.put(task)

    def handle_bpmn_error(
        self,
        task_id: str,
        worker_id: str | None,
        error_code: str | None,
        error_message: str | None,
        variables: dict[str, TypedValue] | None,
    ) -> None:
        worker = _require(worker_id, "workerId")
        code = _require(error_code, "errorCode")
        with self._write():
            task = self._task_locked_by(
                task_id, worker, f"Bpmn error of External Task {task_id} cannot be reported by worker '{worker}"
            )
            instance, runtime, workflow, values = self._open(task.process_instance_id)
            activity = runtime.model.activities[task.activity_id]
            _set_variables(activity, values, _load_variables(task.local_variables), variables, None)
            uncaught = runtime.throw_error(
                workflow, task.spiff_task_id, code, error_message, _context(values, instance)
            )
            if uncaught is not None:
                self._record_completions(instance, [uncaught], execution_id=task.execution_id, started=task.create_time)
            self._save(instance, runtime, workflow, values)

    def extend_lock(self, task_id: str, worker_id: str | None, new_duration: int) -> None:
        if new_duration <= 0:
            raise BadUserRequestException(ensure_message("", "lockTime", "is not greater than 0"))
        worker = _require(worker_id, "workerId")
        with self._write(notify=False):
            # Camunda's message really has the doubled quote: "... by worker 'w''. It is locked by ...".
            task = self._task_locked_by(
                task_id, worker, f"The lock of the External Task {task_id} cannot be extended by worker '{worker}'"
            )
            now = self.clock.now_ms()
            if task.lock_expiration_time is None or task.lock_expiration_time < now:
                description = f"is not greater than or equal to {now}"
                message = ensure_message("Cannot extend a lock that expired", "lockExpirationTime", description)
                raise BadUserRequestException(message)
            task.lock_expiration_time = now + new_duration
            self._store.put(task)

    def unlock(self, task_id: str) -> None:
        with self._write():
            task = self._existing_task(task_id)
            task.worker_id = None
            task.lock_expiration_time = None
            self._store.put(task)

    # User tasks ----------------------------------------------------------------------------------

    def user_tasks(self) -> list[UserTask]:
        with self._store.transaction():
            return self._store.all(UserTask)

    def user_task(self, task_id: str) -> UserTask | None:
        with self._store.transaction():
            return self._store.get(UserTask, task_id)

    def complete_user_task(self, task_id: str, variables: dict[str, TypedValue] | None) -> dict[str, TypedValue]:
        """Camunda's TaskService.complete; returns the process variables after it."""
        with self._write():
            task = self._store.get(UserTask, task_id)
            if task is None:
                raise NotFoundException(ensure_message(f"Cannot find task with id {task_id}", "task", "is null"))
            instance, runtime, workflow, values = self._open(task.process_instance_id)
            activity = runtime.model.activities[task.activity_id]
            local = _load_variables(task.local_variables)
            _set_variables(activity, values, local, variables, None)
            self._map_outputs(activity, instance, values, local)
            runtime.complete(workflow, task.spiff_task_id, _context(values, instance))
            self._save(instance, runtime, workflow, values)
            return values

    def incidents(self) -> list[Incident]:
        with self._store.transaction():
            return self._store.all(Incident)

    # Camunda 8 jobs ------------------------------------------------------------------------------
    # A job is the external task of a zeebe:taskDefinition task; these are Zeebe's job commands,
    # which (unlike Camunda 7's) do not check which worker holds the job.

    def complete_job(self, task_id: str, variables: dict[str, TypedValue] | None) -> None:
        """Zeebe's job completion: without output mappings the variables are set where they exist
        (else on the process instance); with output mappings they stay local, and only the outputs
        reach the process."""
        with self._write():
            task = self._job(task_id, "COMPLETE", "complete")
            instance, runtime, workflow, values = self._open(task.process_instance_id)
            activity = runtime.model.activities[task.activity_id]
            local = _load_variables(task.local_variables)
            if activity.outputs:
                local.update(variables or {})
            else:
                _set_variables(activity, values, local, variables, None)
            self._map_outputs(activity, instance, values, local)
            runtime.complete(workflow, task.spiff_task_id, _context(values, instance))
            self._save(instance, runtime, workflow, values)

    def fail_job(
        self,
        task_id: str,
        *,
        retries: int,
        error_message: str | None,
        retry_back_off: int,
        variables: dict[str, TypedValue] | None,
    ) -> None:
        """Zeebe's job failure: activatable again after the back-off while retries are left, an
        incident (JOB_NO_RETRIES) at zero retries; the variables land in the task's local scope."""
        with self._write():
            task = self._job(task_id, "FAIL", "fail")
            local = _load_variables(task.local_variables)
            local.update(variables or {})
            _ensure_storable(local)
            task.local_variables = _dump_variables(local)
            task.error_message = error_message[:MAX_ERROR_MESSAGE_LENGTH] if error_message else None
            task.worker_id = None
            task.lock_expiration_time = self.clock.now_ms() + retry_back_off if retry_back_off > 0 else None
            task.retries = retries
            if retries <= 0:
                self._raise_incident(task, INCIDENT_TYPE)
            self._store.put(task)

    def throw_job_error(
        self, task_id: str, error_code: str, error_message: str | None, variables: dict[str, TypedValue] | None
    ) -> None:
        """Zeebe's throw error: the catching boundary event takes the error (its variables land on
        the process instance); an error nothing catches raises an UNHANDLED_ERROR_EVENT incident."""
        with self._write():
            task = self._job(task_id, "THROW_ERROR", "throw an error for")
            instance, runtime, workflow, values = self._open(task.process_instance_id)
            if runtime.model.catching(task.activity_id, error_code, from_itself=True) is None:
                message = "" if error_message is None else f" with message '{error_message}'"
                task.error_message = (
                    f"Expected to throw an error event with the code '{error_code}'{message}, but it was not caught. "
                    "No error events are available in the scope."
                )[:MAX_ERROR_MESSAGE_LENGTH]
                task.retries = 0
                self._raise_incident(task, UNHANDLED_ERROR_INCIDENT_TYPE)
                self._store.put(task)
                return
            values.update(variables or {})
            runtime.throw_error(workflow, task.spiff_task_id, error_code, error_message, _context(values, instance))
            self._save(instance, runtime, workflow, values)

    def update_job_timeout(self, task_id: str, timeout: int) -> None:
        """Zeebe's job timeout update: an activated job's deadline becomes now plus ``timeout``."""
        with self._write(notify=False):
            task = self._job(task_id, "UPDATE", "update")
            now = self.clock.now_ms()
            if task.worker_id is None or task.lock_expiration_time is None or task.lock_expiration_time <= now:
                raise CommandRejection(
                    "UPDATE",
                    "INVALID_STATE",
                    f"Expected to update job with key '{{key}}', but it is in state '{job_state(task, now)}'",
                )
            task.lock_expiration_time = now + timeout
            self._store.put(task)

    def activate_jobs(
        self,
        *,
        job_type: str,
        worker: str,
        timeout: int,
        max_jobs: int,
        variables: tuple[str, ...] | None,
        request_timeout: int | None,
    ) -> list[tuple[ExternalTask, dict[str, TypedValue]]]:
        """Zeebe's job activation: up to ``max_jobs`` jobs of the type, locked for ``timeout`` ms,
        long-polling up to ``request_timeout`` ms (None: not at all) when none is activatable."""
        topic = TopicRequest(job_type, timeout, variables=variables)
        request = FetchRequest(worker, max_jobs, (topic,), async_response_timeout=request_timeout, jobs=True)
        return [(locked.task, locked.variables) for locked in self.fetch_and_lock(request)]

    def definitions(self, key: str | None = None) -> list[ProcessDefinition]:
        """The definitions of the process ``key`` (every deployed one when None)."""
        with self._store.transaction():
            if key is None:
                return self._store.all(ProcessDefinition)
            return self._store.by_owner(ProcessDefinition, key)

    def activity(self, definition_id: str, activity_id: str) -> Activity:
        with self._store.transaction():
            return self._runtime_for(definition_id).model.activities[activity_id]

    def jobs(self) -> list[ExternalTask]:
        with self._store.transaction():
            return [task for task in self._store.all(ExternalTask) if task.job]

    def _job(self, task_id: str, intent: str, verb: str) -> ExternalTask:
        task = self._store.get(ExternalTask, task_id)
        if task is None or not task.job:
            raise CommandRejection(
                intent, "NOT_FOUND", f"Expected to {verb} job with key '{{key}}', but no such job was found"
            )
        if not task.has_retries_left:
            thrown = any(
                incident.configuration == task.id and incident.incident_type == UNHANDLED_ERROR_INCIDENT_TYPE
                for incident in self._store.by_owner(Incident, task.process_instance_id)
            )
            state = "ERROR_THROWN" if thrown else job_state(task, self.clock.now_ms())
            raise CommandRejection(
                intent, "INVALID_STATE", f"Expected to {verb} job with key '{{key}}', but it is in state '{state}'"
            )
        return task

    def _raise_incident(self, task: ExternalTask, incident_type: str) -> None:
        incident = _incident(task, self.clock.now_ms())
        incident.incident_type = incident_type
        self._store.put(incident)
        history = self._store.get(HistoricProcessInstance, task.process_instance_id)
        if history is not None:
            history.had_incident = True
            self._store.put(history)

    # Internals -----------------------------------------------------------------------------------

    @contextmanager
    def _write(self, notify: bool = True) -> Iterator[None]:
        with self._store.transaction():
            yield
        if notify:
            # Anything that may have made a task fetchable wakes the long polls to look again.
            self._notifier.notify()

    def _try_fetch(self, request: FetchRequest) -> tuple[list[LockedTask], int | None]:
        with self._store.transaction():
            now = self.clock.now_ms()
            instructions = request.instructions()
            candidates = [
                task
                for task in self._store.all(ExternalTask)
                if task.topic_name in instructions and task.job == request.jobs
            ]
            instance_variables: dict[str, dict[str, TypedValue]] = {}

            def variables_of(task: ExternalTask) -> dict[str, TypedValue]:
                if task.process_instance_id not in instance_variables:
                    instance = self._store.get(ProcessInstance, task.process_instance_id)
                    records = instance.variables if instance is not None else {}
                    instance_variables[task.process_instance_id] = _load_variables(records)
                return instance_variables[task.process_instance_id]

            available = [
                task
                for task in candidates
                if task.is_fetchable(now) and matches(task, instructions[task.topic_name], variables_of(task))
            ]
            locked = []
            for task in order(available, request)[: request.max_tasks]:
                topic = instructions[task.topic_name]
                task.worker_id = request.worker_id
                task.lock_expiration_time = now + topic.lock_duration
                self._store.put(task)
                locked.append(self._locked(task, topic, variables_of(task)))
            return locked, next_unlock(candidates, now)

    def _locked(self, task: ExternalTask, topic: TopicRequest, variables: dict[str, TypedValue]) -> LockedTask:
        activity = self._runtime_for(task.definition_id).model.activities[task.activity_id]
        local = _load_variables(task.local_variables)
        visible = local if activity.is_scope and topic.local_variables else {**variables, **local}
        if topic.variables is not None:
            visible = {name: value for name, value in visible.items() if name in topic.variables}
        properties = activity.extension_properties if topic.include_extension_properties else {}
        return LockedTask(task, visible, topic.deserialize_values, properties)

    def _set_task_variables(
        self,
        task: ExternalTask,
        variables: dict[str, TypedValue] | None,
        local_variables: dict[str, TypedValue] | None,
    ) -> None:
        instance = self._store.get(ProcessInstance, task.process_instance_id)
        if instance is None or not (variables or local_variables):
            return
        values = _load_variables(instance.variables)
        local = _load_variables(task.local_variables)
        _set_variables(
            self._runtime_for(task.definition_id).model.activities[task.activity_id],
            values,
            local,
            variables,
            local_variables,
        )
        _ensure_storable(local)
        task.local_variables = _dump_variables(local)
        _ensure_storable(values)
        instance.variables = _dump_variables(values)
        self._store.put(instance)
        self._record_variables(instance)

    def _save(
        self, instance: ProcessInstance, runtime: ProcessRuntime, workflow: object, values: dict[str, TypedValue]
    ) -> bool:
        """Persist the instance after Spiff moved it; returns whether it has ended."""
        # Camunda detects these when flushing to its tables, so the whole command fails.
        _ensure_storable(values)
        if instance.business_key is not None and len(instance.business_key) > MAX_BUSINESS_KEY_LENGTH:
            raise ProcessEngineException(
                "ENGINE-03083 Unexpected exception while executing database operations with message "
                f"'ERROR: value too long for type character varying({MAX_BUSINESS_KEY_LENGTH})'. "
                f"The business key has {len(instance.business_key)} characters."
            )
        instance.variables = _dump_variables(values)
        self._record_variables(instance)
        self._record_completions(instance, runtime.end_events_reached(workflow))
        if runtime.has_ended(workflow):
            self._end_instance(instance.id, "COMPLETED")
            return True
        instance.workflow = runtime.dump(workflow)
        self._store.put(instance)
        self._sync_tasks(instance, runtime, workflow, values)
        self._sync_subscriptions(instance, runtime, workflow)
        return False

    def _record_variables(self, instance: ProcessInstance) -> None:
        """Keep the history of the instance's own variables as Camunda's history level ``audit`` does:
        one row per variable, updated in place, DELETED when the variable goes."""
        history = {variable.name: variable for variable in self._store.by_owner(HistoricVariableInstance, instance.id)}
        now = self.clock.now_ms()
        for name, value in instance.variables.items():
            found = history.get(name)
            if found is None or found.state == "DELETED":
                self._store.put(
                    HistoricVariableInstance(
                        _new_id(), name, instance.id, instance.definition_id, instance.definition_key, now, value
                    )
                )
            elif found.value != value:
                found.value = value
                self._store.put(found)
        for name, found in history.items():
            if name not in instance.variables and found.state != "DELETED":
                found.state = "DELETED"
                self._store.put(found)

    def _record_completions(
        self,
        instance: ProcessInstance,
        completions: list[ScopeCompletion],
        *,
        execution_id: str | None = None,
        started: int | None = None,
    ) -> None:
        """Record, once each, the activity instances that completed a scope (Camunda's history level
        ``activity`` keeps them: HistoricActivityInstance with completeScope)."""
        known = {record.spiff_task_id for record in self._store.by_owner(HistoricActivityInstance, instance.id)}
        now = self.clock.now_ms()
        for completion in completions:
            if completion.spiff_task_id in known:
                continue
            parent = instance.id
            if completion.sub_process is not None:
                parent = f"{completion.sub_process[0]}:{completion.sub_process[1]}"
            self._store.put(
                HistoricActivityInstance(
                    id=f"{completion.activity_id}:{_new_id()}",
                    spiff_task_id=completion.spiff_task_id,
                    activity_id=completion.activity_id,
                    activity_name=completion.activity_name,
                    activity_type=completion.activity_type,
                    parent_activity_instance_id=parent,
                    process_instance_id=instance.id,
                    process_definition_id=instance.definition_id,
                    process_definition_key=instance.definition_key,
                    execution_id=execution_id or instance.id,
                    start_time=now if started is None else started,
                    end_time=now,
                )
            )

    def _sync_subscriptions(self, instance: ProcessInstance, runtime: ProcessRuntime, workflow: object) -> None:
        """Make the instance's message subscriptions and timers exactly the wait states Spiff has."""
        waiting = {event.spiff_task_id: event for event in runtime.waiting_events(workflow)}
        existing = self._store.by_owner(EventSubscription, instance.id)
        for subscription in existing:
            if subscription.spiff_task_id not in waiting:
                self._store.delete(EventSubscription, subscription.id)
        known = {subscription.spiff_task_id for subscription in existing}
        now = self.clock.now_ms()
        for spiff_task_id, event in waiting.items():
            if spiff_task_id in known:
                continue
            due = parse_timer(event.detail, now) if event.kind == "timer" else None
            self._store.put(
                EventSubscription(
                    _new_id(), event.kind, event.detail, instance.id, event.activity_id, spiff_task_id, now, due
                )
            )

    def _sync_tasks(
        self, instance: ProcessInstance, runtime: ProcessRuntime, workflow: object, values: dict[str, TypedValue]
    ) -> None:
        """Make the instance's external and user tasks exactly the tasks Spiff has waiting."""
        ready = {task.spiff_task_id: task for task in runtime.ready_tasks(workflow)}
        external = self._store.by_owner(ExternalTask, instance.id)
        user = self._store.by_owner(UserTask, instance.id)
        for task in external:
            if task.spiff_task_id not in ready:
                self._delete_task(task)
        for user_task in user:
            if user_task.spiff_task_id not in ready:
                self._store.delete(UserTask, user_task.id)
        known = {task.spiff_task_id for task in external} | {task.spiff_task_id for task in user}
        definition = self._store.get(ProcessDefinition, instance.definition_id)
        now = self.clock.now_ms()
        for spiff_task_id, waiting in ready.items():
            if spiff_task_id in known:
                continue
            activity = runtime.model.activities[waiting.activity_id]
            # Camunda evaluates the input mapping when the activity starts, in the enclosing scope.
            local = mappings.inputs(activity.inputs, values, _identity(instance), activity.activity_id)
            _ensure_storable(local)
            # An activity with boundary events or a mapping is a scope and gets its own execution;
            # any other runs in its sub process's execution, or the instance's.
            execution_id = _new_id() if activity.is_scope else waiting.scope_execution_id or instance.id
            if activity.kind == "user":
                self._store.put(
                    UserTask(
                        id=_new_id(),
                        name=activity.name,
                        description=activity.description,
                        assignee=self._assignee(activity, instance, {**values, **local}),
                        priority=activity.priority,
                        form_key=activity.form_key,
                        created=now,
                        process_instance_id=instance.id,
                        execution_id=execution_id,
                        activity_id=activity.activity_id,
                        spiff_task_id=spiff_task_id,
                        definition_id=instance.definition_id,
                        definition_key=instance.definition_key,
                        business_key=instance.business_key,
                        local_variables=_dump_variables(local),
                    )
                )
                continue
            self._store.put(
                ExternalTask(
                    id=_new_id(),
                    topic_name=activity.topic,
                    process_instance_id=instance.id,
                    execution_id=execution_id,
                    activity_id=activity.activity_id,
                    activity_instance_id=f"{activity.activity_id}:{_new_id()}",
                    spiff_task_id=spiff_task_id,
                    definition_id=instance.definition_id,
                    definition_key=instance.definition_key,
                    version_tag=definition.version_tag if definition else None,
                    business_key=instance.business_key,
                    priority=activity.priority,
                    create_time=now,
                    local_variables=_dump_variables(local),
                    retries=activity.job_retries,
                    job=activity.job_retries is not None,
                )
            )

    @staticmethod
    def _assignee(activity: Activity, instance: ProcessInstance, values: dict[str, TypedValue]) -> str | None:
        if activity.assignee is None:
            return None
        scope = Scope({name: to_python(value) for name, value in values.items()}, _identity(instance))
        try:
            assignee = activity.assignee.evaluate_value(scope)
        except JuelError as error:
            raise ProcessEngineException(str(error)) from error
        return None if assignee is None else str(assignee)

    @staticmethod
    def _map_outputs(
        activity: Activity, instance: ProcessInstance, values: dict[str, TypedValue], local: dict[str, TypedValue]
    ) -> None:
        """Camunda's output mapping, run as the activity completes; its local variables end with it."""
        mappings.outputs(activity.outputs, local, values, _identity(instance), activity.activity_id)

    def _end_instance(self, instance_id: str, state: str) -> None:
        self._store.delete(ProcessInstance, instance_id)
        for subscription in self._store.by_owner(EventSubscription, instance_id):
            self._store.delete(EventSubscription, subscription.id)
        for task in self._store.by_owner(ExternalTask, instance_id):
            self._delete_task(task)
        for user_task in self._store.by_owner(UserTask, instance_id):
            self._store.delete(UserTask, user_task.id)
        history = self._store.get(HistoricProcessInstance, instance_id)
        if history is not None:
            history.state = state
            history.end_time = self.clock.now_ms()
            self._store.put(history)

    def _delete_task(self, task: ExternalTask) -> None:
        self._store.delete(ExternalTask, task.id)
        self._delete_incidents(task)

    def _delete_incidents(self, task: ExternalTask) -> None:
        for incident in self._store.by_owner(Incident, task.process_instance_id):
            if incident.configuration == task.id:
                self._store.delete(Incident, incident.id)

    def _open(self, instance_id: str) -> tuple[ProcessInstance, ProcessRuntime, object, dict[str, TypedValue]]:
        instance = self._store.get(ProcessInstance, instance_id)
        if instance is None:
            raise ProcessEngineException(f"Cannot find process instance with id {instance_id}")
        runtime = self._runtime_for(instance.definition_id)
        workflow = runtime.load(instance.workflow, _identity(instance))
        return instance, runtime, workflow, _load_variables(instance.variables)

    def _existing_execution(self, instance_id: str) -> ProcessInstance:
        instance = self._store.get(ProcessInstance, instance_id)
        if instance is None:
            raise NullValueException(ensure_message(f"execution {instance_id} doesn't exist", "execution", "is null"))
        return instance

    def _existing_task(self, task_id: str) -> ExternalTask:
        task = self._store.get(ExternalTask, task_id)
        if task is None:
            message = f"Cannot find external task with id {task_id}"
            raise NotFoundException(ensure_message(message, "externalTask", "is null"))
        return task

    def _task_locked_by(self, task_id: str, worker_id: str, message: str) -> ExternalTask:
        # Like Camunda, only the worker id is compared: an expired lock still lets its holder finish,
        # unless another worker has locked the task since.
        task = self._existing_task(task_id)
        if task.worker_id != worker_id:
            holder = task.worker_id if task.worker_id is not None else "null"
            raise BadUserRequestException(f"{message}'. It is locked by worker '{holder}'.")
        return task

    def _latest_definition(self, key: str) -> ProcessDefinition | None:
        definitions = self._store.by_owner(ProcessDefinition, key)
        return max(definitions, key=lambda definition: definition.version) if definitions else None

    def _runtime_for(self, definition_id: str) -> ProcessRuntime:
        definition = self._store.get(ProcessDefinition, definition_id)
        if definition is None:
            raise ProcessEngineException(f"No process definition found for id '{definition_id}'")
        return self._runtime(definition)

    def _runtime(self, definition: ProcessDefinition) -> ProcessRuntime:
        if definition.id not in self._runtimes:
            # After a restart, definitions are parsed again from their stored resource.
            resources = self._store.by_owner(Resource, definition.deployment_id)
            data = [base64.b64decode(r.data_base64) for r in resources if r.name == definition.resource]
            processes = parse_resource(definition.resource, data[0]) if data else []
            parsed = [process for process in processes if process.model.key == definition.key]
            if not parsed:
                raise ProcessEngineException(f"The resource of process definition {definition.id} is missing")
            self._runtimes[definition.id] = ProcessRuntime(parsed[0])
        return self._runtimes[definition.id]

    def _resources_to_deploy(
        self,
        name: str | None,
        source: str | None,
        resources: dict[str, bytes],
        duplicate_filtering: bool,
        changed_only: bool,
    ) -> dict[str, bytes]:
        """Camunda's duplicate filtering: compare with the latest resources of same-named deployments."""
        if not (duplicate_filtering or changed_only):
            return resources
        wanted_source = source or DEFAULT_DEPLOYMENT_SOURCE
        previous: dict[str, bytes] = {}
        for deployment in self._store.by_owner(Deployment, name):
            if (deployment.source or DEFAULT_DEPLOYMENT_SOURCE) == wanted_source:
                for resource in self._store.by_owner(Resource, deployment.id):
                    previous[resource.name] = base64.b64decode(resource.data_base64)
        changed = {resource: data for resource, data in resources.items() if previous.get(resource) != data}
        if changed_only:
            return changed
        return resources if changed else {}


def job_state(task: ExternalTask, now: int) -> str:
    """A job's state as Zeebe names it."""
    if not task.has_retries_left:
        return "FAILED"
    locked = task.worker_id is not None and task.lock_expiration_time is not None and task.lock_expiration_time > now
    return "ACTIVATED" if locked else "ACTIVATABLE"


def _new_id() -> str:
    return str(uuid.uuid4())


def _definition_id(key: str, version: int) -> str:
    # Camunda uses key:version:uuid, falling back to the bare uuid when that exceeds 64 characters.
    candidate = f"{key}:{version}:{_new_id()}"
    return candidate if len(candidate) <= 64 else _new_id()


def _require(value: str | None, name: str) -> str:
    if value is None:
        raise NullValueException(ensure_message("", name, "is null"))
    return value


def _identity(instance: ProcessInstance) -> ExecutionIdentity:
    return ExecutionIdentity(instance.id, instance.definition_id, instance.business_key)


def _context(values: dict[str, TypedValue], instance: ProcessInstance) -> Context:
    return Context(values, _identity(instance))


def _set_variables(
    activity: Activity,
    values: dict[str, TypedValue],
    local: dict[str, TypedValue],
    variables: dict[str, TypedValue] | None,
    local_variables: dict[str, TypedValue] | None,
) -> None:
    """Camunda's setVariables and setVariablesLocal on the activity's execution.

    A variable the activity has locally (from its input mapping) is set there, any other in the
    process instance (no sub process here holds variables of its own). Without a scope of its
    own the activity runs in the instance's execution, so "local" variables land there too.
    """
    for name, value in (variables or {}).items():
        if name in local:
            local[name] = value
        else:
            values[name] = value
    if activity.is_scope:
        local.update(local_variables or {})
    else:
        values.update(local_variables or {})


def _load_variables(records: VariableRecords) -> dict[str, TypedValue]:
    return {name: from_record(record) for name, record in records.items()}


def _dump_variables(values: dict[str, TypedValue]) -> VariableRecords:
    # Transient variables live for one command only, as in Camunda.
    return {name: to_record(value) for name, value in values.items() if not value.transient}


def _ensure_storable(values: dict[str, TypedValue]) -> None:
    for name, value in values.items():
        if not value.transient:
            ensure_storable(name, value)


def _incident(task: ExternalTask, now: int) -> Incident:
    return Incident(
        id=_new_id(),
        incident_type=INCIDENT_TYPE,
        incident_timestamp=now,
        incident_message=task.error_message,
        process_instance_id=task.process_instance_id,
        process_definition_id=task.definition_id,
        process_definition_key=task.definition_key,
        execution_id=task.execution_id,
        activity_id=task.activity_id,
        configuration=task.id,
    )
