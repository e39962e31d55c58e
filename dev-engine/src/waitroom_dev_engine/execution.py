"""Executing one process definition's instances with SpiffWorkflow.

The engine owns the process variables (typed, in its store); Spiff owns the token positions. Before
Spiff runs any task, the task's data is set to the current variables so that gateway conditions see
them; afterwards all task data is cleared, so the serialized workflow holds positions only.

All methods are called with the engine's store lock held: Spiff's serializer is not thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.specs.event_definitions import TerminateEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from waitroom_dev_engine.errors import ProcessEngineException
from waitroom_dev_engine.juel import ExecutionIdentity, Expression, JuelError, Scope
from waitroom_dev_engine.parsing import (
    ExternalServiceTask,
    ExternalServiceTaskConverter,
    HumanTask,
    ParsedProcess,
    PassThroughTask,
    WaitTask,
    WaitTaskConverter,
    external_id,
    internal_id,
)
from waitroom_dev_engine.variables import TypedValue, string_value, to_python

_SERIALIZER = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure(
        {
            **CAMUNDA_CONFIG,
            ExternalServiceTask: ExternalServiceTaskConverter,
            PassThroughTask: BpmnTaskSpecConverter,
            HumanTask: BpmnTaskSpecConverter,
            WaitTask: WaitTaskConverter,
        }
    )
)
_ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


@dataclass(frozen=True)
class ReadyTask:
    """A Spiff task waiting for an external worker or a person (see parsing.Activity)."""

    spiff_task_id: str
    activity_id: str
    # The execution of the innermost enclosing sub process (a scope in Camunda); None at the top.
    scope_execution_id: str | None = None


@dataclass(frozen=True)
class WaitingEvent:
    """A Spiff task waiting for a message or a timer (see parsing.WaitTask)."""

    spiff_task_id: str
    activity_id: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Context:
    """A command's process variables and execution: expressions read them, caught errors write them."""

    values: dict[str, TypedValue]
    execution: ExecutionIdentity

    @property
    def variables(self) -> Mapping[str, Any]:
        """The variables as expressions see them."""
        return {name: to_python(value) for name, value in self.values.items()}


class _JuelScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """Evaluates Camunda's JUEL conditions instead of Python."""

    def __init__(self, execution: ExecutionIdentity) -> None:
        super().__init__()
        self.execution = execution

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> bool:
        # Spiff evaluates a flow's condition on the task of the element the flow leaves.
        scope = Scope(task.data, self.execution, external_id(task.task_spec.name))
        return _compile(expression).evaluate_condition(scope)


@lru_cache(maxsize=256)
def _compile(text: str) -> Expression:
    return Expression(text.strip())


@dataclass(frozen=True)
class ScopeCompletion:
    """An activity that completed a scope, as Camunda's history records it (completeScope): an end
    event reached, or a task whose uncaught BPMN error ended its path (BpmnExceptionHandler ends it
    with ``execution.end(true)``)."""

    spiff_task_id: str
    activity_id: str
    activity_name: str | None
    #: Camunda's activity type (org.camunda.bpm.engine.ActivityTypes).
    activity_type: str
    #: The embedded sub process whose scope it completed (its activity id and Spiff task id); None for
    #: the instance's top level.
    sub_process: tuple[str, str] | None


class ProcessRuntime:
    def __init__(self, parsed: ParsedProcess) -> None:
        self.model = parsed.model
        self._spec = parsed.spec
        self._message_specs = parsed.message_specs

    def start(self, context: Context, message_name: str | None = None) -> Any:
        """Start at the REST start event, or at the message start event of ``message_name``."""
        specs = self._spec if message_name is None else self._message_specs[message_name]
        if specs is None:
            raise ProcessEngineException(
                f"Cannot start process instance of '{self.model.key}': it has several start events and no none "
                "start event"
            )
        workflow = BpmnWorkflow(specs.process, specs.subprocesses, script_engine=_JuelScriptEngine(context.execution))
        self._advance(workflow, context)
        return workflow

    def load(self, serialized: str, execution: ExecutionIdentity) -> Any:
        workflow = _SERIALIZER.deserialize_json(serialized)
        workflow.script_engine = _JuelScriptEngine(execution)
        return workflow

    @staticmethod
    def dump(workflow: Any) -> str:
        serialized: str = _SERIALIZER.serialize_json(workflow)
        return serialized

    @staticmethod
    def ready_tasks(workflow: Any) -> list[ReadyTask]:
        return [
            ReadyTask(
                str(task.id),
                external_id(task.task_spec.name),
                None if task.workflow is workflow else str(task.workflow.parent_task_id),
            )
            for task in workflow.get_tasks(state=TaskState.READY)
            if isinstance(task.task_spec, ExternalServiceTask | HumanTask)
        ]

    @staticmethod
    def waiting_events(workflow: Any) -> list[WaitingEvent]:
        return [
            WaitingEvent(str(task.id), external_id(task.task_spec.name), task.task_spec.kind, task.task_spec.detail)
            for task in workflow.get_tasks(state=TaskState.READY)
            if isinstance(task.task_spec, WaitTask)
        ]

    @staticmethod
    def has_ended(workflow: Any) -> bool:
        """Ended normally, by a terminate end event, or because its last token was ended by an error."""
        return bool(workflow.is_completed() or not workflow.get_tasks(state=_ACTIVE))

    def end_events_reached(self, workflow: Any) -> list[ScopeCompletion]:
        """Every end event a token has reached so far, in the instance or its embedded sub processes."""
        return [
            self._completion(workflow, task, self._end_type(task))
            for task in workflow.get_tasks(state=TaskState.COMPLETED)
            if isinstance(task.task_spec, EndEvent)
        ]

    def _end_type(self, task: Any) -> str:
        if external_id(task.task_spec.name) in self.model.error_ends:
            return "errorEndEvent"
        if isinstance(task.task_spec.event_definition, TerminateEventDefinition):
            return "terminateEndEvent"
        return "noneEndEvent"

    @staticmethod
    def _completion(workflow: Any, task: Any, activity_type: str) -> ScopeCompletion:
        sub_process = None
        if task.workflow is not workflow:
            parent = workflow.get_task_from_id(task.workflow.parent_task_id)
            sub_process = (external_id(parent.task_spec.name), str(parent.id))
        return ScopeCompletion(
            str(task.id), external_id(task.task_spec.name), task.task_spec.bpmn_name, activity_type, sub_process
        )

    def complete(self, workflow: Any, spiff_task_id: str, context: Context) -> None:
        """Complete an external or user task, or trigger a message or timer wait state, and move on."""
        task = self._ready_task(workflow, spiff_task_id)
        _give_data(task, context)
        _run_guarded(task.run)
        self._advance(workflow, context)

    def throw_error(
        self, workflow: Any, spiff_task_id: str, error_code: str, error_message: str | None, context: Context
    ) -> ScopeCompletion | None:
        """A BPMN error thrown by a waiting task (an external task's handleBpmnError). Returns the task
        as a scope completion when no boundary event caught the error (it ended the task's path)."""
        task = self._ready_task(workflow, spiff_task_id)
        caught = self._propagate(workflow, task, error_code, error_message, context, from_itself=True)
        uncaught = None if caught else self._completion(workflow, task, "serviceTask")
        self._advance(workflow, context)
        return uncaught

    def _propagate(
        self,
        workflow: Any,
        task: Any,
        error_code: str,
        error_message: str | None,
        context: Context,
        *,
        from_itself: bool,
    ) -> bool:
        """Camunda's BpmnExceptionHandler: the innermost catching boundary event takes the error;
        without one, the token ends as at a none end event (enableExceptionsAfterUnhandledBpmnError
        is false by default). Returns whether a boundary event caught it."""
        activity_id = external_id(task.task_spec.name)
        catching = self.model.catching(activity_id, error_code, from_itself=from_itself)
        if catching is None:
            _end_token(workflow, task)
            return False
        scope_id, handler = catching
        if handler.code_variable:
            context.values[handler.code_variable] = string_value(error_code)
        if handler.message_variable:
            context.values[handler.message_variable] = (
                string_value(error_message) if error_message is not None else TypedValue("Null", None)
            )
        scope = task if from_itself else workflow.get_task_from_id(task.workflow.parent_task_id)
        while external_id(scope.task_spec.name) != scope_id:
            scope = workflow.get_task_from_id(scope.workflow.parent_task_id)
        waiting = [
            child
            for child in scope.parent.children
            if child.task_spec.name == internal_id(handler.boundary_id) and child.state == TaskState.WAITING
        ]
        if not waiting:
            raise ProcessEngineException(f"Boundary event {handler.boundary_id} is not waiting for an error")
        boundary = waiting[0]
        event = BpmnEvent(boundary.task_spec.event_definition, payload={})
        boundary.task_spec.catch(boundary, event)
        boundary.task_spec._update(boundary)
        return True

    def _advance(self, workflow: Any, context: Context) -> None:
        while True:
            _run_guarded(
                lambda: workflow.do_engine_steps(will_complete_task=lambda spiff_task: _give_data(spiff_task, context))
            )
            error_ends = [
                task
                for task in workflow.get_tasks(state=TaskState.READY)
                if external_id(task.task_spec.name) in self.model.error_ends and task.task_spec.manual
            ]
            if not error_ends:
                break
            task = error_ends[0]
            end = self.model.error_ends[external_id(task.task_spec.name)]
            message = None
            if end.message is not None:
                scope = Scope(context.variables, context.execution, end.activity_id)
                try:
                    evaluated = end.message.evaluate_value(scope)
                except JuelError as error:
                    raise ProcessEngineException(str(error)) from error
                message = None if evaluated is None else str(evaluated)
            if self.model.catching(end.activity_id, end.error_code, from_itself=False) is None:
                # Uncaught, an error end event is a none end event.
                _give_data(task, context)
                _run_guarded(task.run)
            else:
                self._propagate(workflow, task, end.error_code, message, context, from_itself=False)
        for task in workflow.get_tasks():
            task.data = {}

    @staticmethod
    def _ready_task(workflow: Any, spiff_task_id: str) -> Any:
        task = workflow.get_task_from_id(UUID(spiff_task_id))
        if (
            task is None
            or task.state != TaskState.READY
            or not isinstance(task.task_spec, ExternalServiceTask | HumanTask | WaitTask)
        ):
            raise ProcessEngineException(f"Execution of task {spiff_task_id} is not waiting")
        return task


def _end_token(workflow: Any, task: Any) -> None:
    """End the task's token without continuing, as Camunda does for an uncaught BPMN error."""
    # Cancelling the boundary split also cancels the boundary events waiting beside the task.
    scope = task.parent if isinstance(task.parent.task_spec, BoundaryEventSplit) else task
    scope.cancel()
    subprocess = task.workflow
    if subprocess is not workflow and not subprocess.get_tasks(state=_ACTIVE):
        # Like a none end event, ending the last token of a sub process completes the sub process.
        subprocess._mark_complete(task)
        subprocess.completed_event(subprocess)
    workflow.update_waiting_tasks()


def _give_data(task: Any, context: Context) -> None:
    task.data = dict(context.variables)


def _run_guarded(action: Callable[[], Any]) -> None:
    """Run Spiff, reporting failures as the ProcessEngineExceptions Camunda would raise."""
    try:
        action()
    except JuelError as error:
        raise ProcessEngineException(str(error)) from error
    except WorkflowException as error:
        spec = getattr(error, "task_spec", None)
        if isinstance(spec, ExclusiveGateway):
            raise ProcessEngineException(
                f"ENGINE-02004 No outgoing sequence flow for the element with id '{external_id(spec.name)}' "
                "could be selected for continuing the process."
            ) from error
        raise ProcessEngineException(f"Process execution failed: {error}") from error
