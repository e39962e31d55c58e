"""Turning a deployed BPMN resource into SpiffWorkflow specs plus what the engine needs to know.

SpiffWorkflow's Camunda parser executes the process; this module adds what it lacks for a Camunda
REST engine:

* external service tasks (``camunda:type="external"``) keep their topic and wait for a worker, user
  tasks wait for a person (both are completed through the REST API);
* error end events wait for the engine, which finds the catching boundary event the way Camunda
  does (the innermost enclosing scope first, see ``ProcessModel.catching``);
* input/output mappings (``camunda:inputOutput``) are parsed for the engine to evaluate;
* Camunda 8 service tasks (``zeebe:taskDefinition``) wait for a job worker, with their job type,
  retries, headers and ``zeebe:ioMapping`` (the FEEL subset of ``feel.py``);
* element ids that collide with Spiff's own spec names (``Start``, ``End`` ...) are renamed before
  Spiff sees them and renamed back whenever an id is reported;
* exclusive gateways try their flows in document order and treat a flow without condition as
  always true, as Camunda does, instead of Spiff's diagram-position order and rejection;
* elements whose Camunda semantics this engine cannot honour are rejected at deployment with a
  ``ParseException``, rather than executed differently than in production.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lxml import etree  # type: ignore[import-untyped]
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import EndEvent, ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import CamundaEndEventParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser

from waitroom_dev_engine.errors import ParseException
from waitroom_dev_engine.feel import FeelError, FeelExpression, is_plain_name
from waitroom_dev_engine.juel import Expression, JuelError
from waitroom_dev_engine.timers import TimerError, parse_timer

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
_NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS, "zeebe": ZEEBE_NS}
# Zeebe's default for a task definition without retries (zeebe:taskDefinition retries="3").
DEFAULT_JOB_RETRIES = 3
# The Zeebe extensions a job task may carry; any other zeebe:* element is refused.
_JOB_EXTENSIONS = frozenset({"taskDefinition", "ioMapping", "taskHeaders"})

# Spiff names its internal task specs like these; a BPMN element with such an id would collide.
_RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
_RENAMED_PREFIX = "devstack-renamed-"
_ID_REFERENCE_ATTRIBUTES = (
    "sourceRef", "targetRef", "attachedToRef", "default", "bpmnElement", "sourceElement", "targetElement",
)  # fmt: skip
_ID_REFERENCE_ELEMENTS = {full_tag("incoming"), full_tag("outgoing"), full_tag("flowNodeRef")}

# Camunda deploys only resources with these suffixes as BPMN; others are stored untouched.
BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")

_PASSIVE_ELEMENTS = frozenset(
    {"laneSet", "textAnnotation", "association", "documentation", "extensionElements", "dataObject",
     "dataObjectReference", "dataStoreReference", "group", "category", "sequenceFlow"}
)  # fmt: skip
_PLAIN_ELEMENTS = frozenset({"task", "manualTask", "exclusiveGateway", "parallelGateway"})
# Flow elements that hold flow elements of their own.
_CONTAINERS = ("process", "subProcess")
# parse_resource marks each wait state with what it waits for, for _WaitTaskParser to read.
_WAIT_KIND = "{urn:devstack:engine}wait-kind"
_WAIT_DETAIL = "{urn:devstack:engine}wait-detail"
_TIMER_KINDS = ("timeDuration", "timeDate")
_LOOP_CHARACTERISTICS = frozenset({"multiInstanceLoopCharacteristics", "standardLoopCharacteristics"})
_UNSUPPORTED_EXTENSIONS = (
    "inputOutput", "executionListener", "taskListener", "connector", "errorEventDefinition", "formData",
    "formProperty",
)  # fmt: skip
# User task attributes Camunda evaluates and the engine does not: due and follow-up dates, Camunda Forms.
_UNSUPPORTED_USER_TASK_ATTRIBUTES = ("dueDate", "followUpDate", "formRef", "formRefBinding", "formRefVersion")


def internal_id(bpmn_id: str) -> str:
    return _RENAMED_PREFIX + bpmn_id if bpmn_id in _RESERVED_IDS else bpmn_id


def external_id(spec_name: str) -> str:
    return spec_name.removeprefix(_RENAMED_PREFIX)


@dataclass(frozen=True)
class ErrorHandler:
    """An error boundary event on an external task, with Camunda's error variables."""

    boundary_id: str
    error_code: str | None
    code_variable: str | None
    message_variable: str | None


# A mapping's value, as camunda:inputParameter and camunda:outputParameter hold it: a text or
# ``${expression}`` (an Expression), a camunda:list, a camunda:map, or nothing (null); or a
# zeebe:input/zeebe:output source (a FeelExpression).
type MappingValue = Expression | FeelExpression | list[MappingValue] | dict[str, MappingValue] | None


@dataclass(frozen=True)
class Parameter:
    name: str
    value: MappingValue


@dataclass(frozen=True)
class Activity:
    """A wait state completed through the REST API: an external service task or a user task."""

    activity_id: str
    kind: str  # "external" or "user"
    topic: str = ""  # the job type of a Camunda 8 job task
    # A Camunda 8 job task (zeebe:taskDefinition): the retries its jobs start with; None otherwise.
    job_retries: int | None = None
    priority: int = 0
    extension_properties: dict[str, str] = field(default_factory=dict)
    error_handlers: tuple[ErrorHandler, ...] = ()
    inputs: tuple[Parameter, ...] = ()
    outputs: tuple[Parameter, ...] = ()
    has_io_mapping: bool = False
    name: str | None = None
    description: str | None = None
    assignee: Expression | None = None
    form_key: str | None = None

    @property
    def is_scope(self) -> bool:
        """Camunda gives activities with boundary events or input/output mappings their own execution."""
        return bool(self.error_handlers) or self.has_io_mapping


@dataclass(frozen=True)
class ErrorEnd:
    """An error end event: the error it throws when a token reaches it."""

    activity_id: str
    error_code: str
    message: Expression | None


def _handler(handlers: tuple[ErrorHandler, ...], error_code: str) -> ErrorHandler | None:
    """The boundary event catching ``error_code``: a matching code wins over a catch-all."""
    for handler in handlers:
        if handler.error_code == error_code:
            return handler
    return next((handler for handler in handlers if handler.error_code is None), None)


@dataclass(frozen=True)
class ProcessModel:
    key: str
    name: str | None
    category: str | None
    version_tag: str | None
    history_time_to_live: int | None
    startable_in_tasklist: bool
    start_activity_id: str  # the start event a REST start uses; "" when the process has none
    activities: dict[str, Activity]
    # Message start events: message name -> start event id.
    message_starts: dict[str, str] = field(default_factory=dict)
    # Error boundary events by the activity (task or sub process) they are attached to.
    error_handlers: dict[str, tuple[ErrorHandler, ...]] = field(default_factory=dict)
    # Each element inside an embedded sub process -> that sub process's id.
    parents: dict[str, str] = field(default_factory=dict)
    error_ends: dict[str, ErrorEnd] = field(default_factory=dict)

    def catching(self, activity_id: str, error_code: str, *, from_itself: bool) -> tuple[str, ErrorHandler] | None:
        """The activity and boundary event catching an error thrown at ``activity_id``, as Camunda
        looks for them: on the activity itself (when it is a task), then on each enclosing sub process
        outwards; None when nothing catches it."""
        scope: str | None = activity_id if from_itself else self.parents.get(activity_id)
        while scope is not None:
            handler = _handler(self.error_handlers.get(scope, ()), error_code)
            if handler is not None:
                return scope, handler
            scope = self.parents.get(scope)
        return None


@dataclass(frozen=True)
class Specs:
    """What SpiffWorkflow runs: the process's spec and one spec per embedded sub process."""

    process: Any  # a BpmnProcessSpec
    subprocesses: dict[str, Any]


@dataclass(frozen=True)
class ParsedProcess:
    model: ProcessModel
    spec: Specs | None  # started by REST; None when no start event serves that
    # One spec per message start event, in which that event is the only (plain) start event.
    message_specs: dict[str, Specs] = field(default_factory=dict)


class ExternalServiceTask(BpmnSpecMixin):  # type: ignore[misc]
    """A ``camunda:type="external"`` service task: it waits until a worker completes it."""

    def __init__(self, wf_spec: Any, bpmn_id: str, topic: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.topic = topic
        # Spiff's do_engine_steps runs every ready non-manual task; this one must wait for a worker.
        self.manual = True


class WaitTask(BpmnSpecMixin):  # type: ignore[misc]
    """A receive task or an intermediate message or timer catch event: the engine triggers it.

    ``kind`` is "message" (``detail`` the message name) or "timer" (``detail`` "timeDuration:<ISO
    8601 duration>" or "timeDate:<ISO 8601 date>").
    """

    def __init__(self, wf_spec: Any, bpmn_id: str, kind: str, detail: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.kind = kind
        self.detail = detail
        # Like an external task, it stays READY until the engine runs it.
        self.manual = True


class WaitTaskConverter(BpmnTaskSpecConverter):  # type: ignore[misc]
    def to_dict(self, spec: WaitTask) -> dict[str, Any]:
        dct: dict[str, Any] = self.get_default_attributes(spec)
        dct["kind"] = spec.kind
        dct["detail"] = spec.detail
        return dct


class HumanTask(BpmnSpecMixin):  # type: ignore[misc]
    """A ``userTask``: it waits until someone completes it through the REST API."""

    def __init__(self, wf_spec: Any, bpmn_id: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = True


class PassThroughTask(BpmnSpecMixin):  # type: ignore[misc]
    """A ``task`` or ``manualTask``: Camunda passes the token straight on (Spiff would wait)."""


class ExternalServiceTaskConverter(BpmnTaskSpecConverter):  # type: ignore[misc]
    def to_dict(self, spec: ExternalServiceTask) -> dict[str, Any]:
        dct: dict[str, Any] = self.get_default_attributes(spec)
        dct["topic"] = spec.topic
        return dct


class _ExternalServiceTaskParser(CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> ExternalServiceTask:
        definition = self.node.find("bpmn:extensionElements/zeebe:taskDefinition", _NS)
        topic = self.attribute("topic", "camunda") if definition is None else definition.get("type")
        return ExternalServiceTask(self.spec, self.bpmn_id, topic=topic, **self.bpmn_attributes)


class _WaitTaskParser(CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> WaitTask:
        kind, detail = self.node.get(_WAIT_KIND), self.node.get(_WAIT_DETAIL)
        return WaitTask(self.spec, self.bpmn_id, kind=kind, detail=detail, **self.bpmn_attributes)


class _HumanTaskParser(CamundaTaskParser):  # type: ignore[misc]
    def create_task(self) -> HumanTask:
        return HumanTask(self.spec, self.bpmn_id, **self.bpmn_attributes)


class _EndEventParser(CamundaEndEventParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        task = super().create_task()
        if self.node.get(_WAIT_KIND) == "error":
            # parse_resource took its error event definition away, so Spiff sees a none end event;
            # waiting READY, it lets the engine throw the error first (execution.ProcessRuntime).
            task.manual = True
        return task


class _DocumentOrderGatewayParser(ConditionalGatewayParser):  # type: ignore[misc]
    def get_position(self, node: Any = None) -> dict[str, float]:
        # Spiff orders outgoing flows by diagram position; Camunda evaluates them in document order.
        if node is not None:
            flows = self.process_parser.get_outgoing_sequence_flows(self.bpmn_id)
            for index, flow in enumerate(flows):
                if flow.get("targetRef") == node.get("id"):
                    return {"x": 0.0, "y": float(index)}
        position: dict[str, float] = super().get_position(node)
        return position

    def connect_outgoing(self, outgoing_task: Any, sequence_flow_node: Any, is_default: bool) -> None:
        if not is_default and self.parse_condition(sequence_flow_node) is None:
            # Camunda takes a flow without condition whenever it is reached in document order.
            self.task.connect_outgoing_if("${true}", outgoing_task)
            return
        super().connect_outgoing(outgoing_task, sequence_flow_node, is_default)


class _EngineParser(CamundaParser):  # type: ignore[misc]
    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, tuple[type, type]]] = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (_ExternalServiceTaskParser, ExternalServiceTask),
        full_tag("exclusiveGateway"): (_DocumentOrderGatewayParser, ExclusiveGateway),
        full_tag("task"): (CamundaTaskParser, PassThroughTask),
        full_tag("manualTask"): (CamundaTaskParser, PassThroughTask),
        full_tag("receiveTask"): (_WaitTaskParser, WaitTask),
        full_tag("userTask"): (_HumanTaskParser, HumanTask),
        full_tag("endEvent"): (_EndEventParser, EndEvent),
        full_tag("intermediateCatchEvent"): (_WaitTaskParser, WaitTask),
    }


class _Problems:
    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.errors: list[dict[str, Any]] = []

    def add(self, message: str, element: Any = None) -> None:
        element_id = element.get("id") if element is not None else None
        self.errors.append(
            {
                "message": message,
                "line": element.sourceline if element is not None and element.sourceline else 0,
                "column": 0,
                "mainElementId": element_id,
                "elementIds": [element_id] if element_id else [],
            }
        )

    def raise_if_any(self) -> None:
        if self.errors:
            raise self.exception()

    def exception(self) -> ParseException:
        summary = "".join(
            f"\n* {error['message']} | resource {self.resource} | line {error['line']} | column 0"
            for error in self.errors
        )
        return ParseException(
            f"ENGINE-09005 Could not parse BPMN process. Errors: {summary}",
            {self.resource: {"errors": self.errors, "warnings": []}},
        )


def is_bpmn_resource(name: str) -> bool:
    return name.endswith(BPMN_SUFFIXES)


def parse_resource(resource: str, data: bytes) -> list[ParsedProcess]:
    """Parse every executable process of a BPMN resource; ParseException lists what is wrong."""
    problems = _Problems(resource)
    try:
        xml_parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
        root = etree.fromstring(data, parser=xml_parser)
    except etree.XMLSyntaxError as error:
        problems.add(f"The BPMN resource is not well-formed XML: {error}")
        raise problems.exception() from error
    processes = [
        process for process in root.iterfind("bpmn:process", _NS) if process.get("isExecutable", "true") == "true"
    ]
    errors = {error.get("id"): error for error in root.iterfind("bpmn:error", _NS)}
    messages = {message.get("id"): message.get("name") for message in root.iterfind("bpmn:message", _NS)}
    category = root.get("targetNamespace")
    models = [_model(process, category, errors, messages, problems) for process in processes]
    problems.raise_if_any()
    _rename_reserved_ids(root)
    for process in processes:
        _mark_wait_states(process, messages)
    try:
        parsed = []
        for model, process in zip(models, processes, strict=True):
            rest_start = _spec(root, process, model.key, model.start_activity_id, resource)
            message_specs = {
                name: specs
                for name, start_id in model.message_starts.items()
                if (specs := _spec(root, process, model.key, start_id, resource)) is not None
            }
            parsed.append(ParsedProcess(model, rest_start, message_specs))
    except ValidationException as error:
        problems.add(str(error).splitlines()[0] if str(error) else repr(error))
        raise problems.exception() from error
    return parsed


def _spec(root: Any, process: Any, key: str, start_id: str, resource: str) -> Specs | None:
    """Spiff's spec of ``process`` started at ``start_id``: the other start events are left out.

    Spiff would start every start event at once; Camunda starts one, the none start event for a
    REST start and a message start event for its message.
    """
    if not start_id:
        return None
    starts = process.findall("bpmn:startEvent", _NS)
    if len(starts) == 1 and starts[0].find("bpmn:messageEventDefinition", _NS) is None:
        variant = root
    else:
        variant = copy.deepcopy(root)
        variant_process = next(
            candidate for candidate in variant.iterfind("bpmn:process", _NS) if candidate.get("id") == process.get("id")
        )
        for start in variant_process.findall("bpmn:startEvent", _NS):
            if start.get("id") == internal_id(start_id):
                for definition in start.findall("bpmn:messageEventDefinition", _NS):
                    start.remove(definition)
                continue
            for flow in variant_process.findall("bpmn:sequenceFlow", _NS):
                if flow.get("sourceRef") == start.get("id"):
                    variant_process.remove(flow)
            variant_process.remove(start)
    spiff_parser = _EngineParser()
    spiff_parser.add_bpmn_xml(variant, filename=resource)
    return Specs(spiff_parser.get_spec(internal_id(key)), spiff_parser.get_subprocess_specs(internal_id(key)))


def _mark_wait_states(process: Any, messages: dict[str, str | None]) -> None:
    for element in process:
        if not isinstance(element.tag, str):
            continue
        kind = etree.QName(element).localname
        if kind == "subProcess":
            _mark_wait_states(element, messages)
        elif kind == "endEvent" and element.find("bpmn:errorEventDefinition", _NS) is not None:
            element.set(_WAIT_KIND, "error")
            element.remove(element.find("bpmn:errorEventDefinition", _NS))
        elif kind == "receiveTask":
            element.set(_WAIT_KIND, "message")
            element.set(_WAIT_DETAIL, messages.get(element.get("messageRef")) or "")
        elif kind == "intermediateCatchEvent":
            message = element.find("bpmn:messageEventDefinition", _NS)
            if message is not None:
                element.set(_WAIT_KIND, "message")
                element.set(_WAIT_DETAIL, messages.get(message.get("messageRef")) or "")
            timer = element.find("bpmn:timerEventDefinition", _NS)
            if timer is not None:
                element.set(_WAIT_KIND, "timer")
                element.set(_WAIT_DETAIL, _timer_detail(timer))


def _timer_detail(timer: Any) -> str:
    for kind in _TIMER_KINDS:
        found = timer.find(f"bpmn:{kind}", _NS)
        if found is not None:
            return f"{kind}:{(found.text or '').strip()}"
    return ""


def _model(
    process: Any,
    category: str | None,
    errors: dict[str, Any],
    messages: dict[str, str | None],
    problems: _Problems,
) -> ProcessModel:
    _check_supported(process, errors, messages, problems)
    parents = {
        child.get("id"): subprocess.get("id")
        for subprocess in process.iter(full_tag("subProcess"))
        for child in subprocess
        if isinstance(child.tag, str) and child.get("id")
    }
    boundaries: dict[str, list[ErrorHandler]] = {}
    for boundary in process.iter(full_tag("boundaryEvent")):
        definition = boundary.find("bpmn:errorEventDefinition", _NS)
        if definition is None:
            continue
        error_ref = definition.get("errorRef")
        boundaries.setdefault(boundary.get("attachedToRef"), []).append(
            ErrorHandler(
                boundary_id=boundary.get("id"),
                error_code=_error_code(errors, error_ref),
                code_variable=definition.get(f"{{{CAMUNDA_NS}}}errorCodeVariable"),
                message_variable=definition.get(f"{{{CAMUNDA_NS}}}errorMessageVariable"),
            )
        )
    # Camunda prefers a boundary event with the thrown code over a catch-all one.
    handlers = {
        activity_id: tuple(sorted(found, key=lambda handler: handler.error_code is None))
        for activity_id, found in boundaries.items()
    }
    process_priority = _priority(process, 0, problems)
    activities = {}
    for task in process.iter(full_tag("serviceTask"), full_tag("userTask")):
        activity_id = task.get("id")
        job = _job_definition(task)
        has_io_mapping, inputs, outputs = _io_mapping(task, problems) if job is None else _zeebe_io_mapping(task)
        properties = (
            task.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", _NS)
            if job is None
            else task.iterfind("bpmn:extensionElements/zeebe:taskHeaders/zeebe:header", _NS)
        )
        common: dict[str, Any] = {
            "activity_id": activity_id,
            "extension_properties": {
                prop.get("name" if job is None else "key"): prop.get("value") for prop in properties
            },
            "error_handlers": handlers.get(activity_id, ()),
            "inputs": inputs,
            "outputs": outputs,
            "has_io_mapping": has_io_mapping,
            "name": task.get("name"),
        }
        if job is not None:
            activities[activity_id] = Activity(
                kind="external", topic=job.get("type") or "", job_retries=_job_retries(job), **common
            )
        elif etree.QName(task).localname == "serviceTask":
            activities[activity_id] = Activity(
                kind="external",
                topic=task.get(f"{{{CAMUNDA_NS}}}topic") or "",
                priority=_priority(task, process_priority, problems),
                **common,
            )
        else:
            activities[activity_id] = Activity(
                kind="user",
                # Camunda's default task priority (Task.PRIORITY_NORMAL).
                priority=_user_task_priority(task, problems),
                description=_documentation(task),
                assignee=_optional_expression(task, "assignee", problems),
                form_key=task.get(f"{{{CAMUNDA_NS}}}formKey"),
                **common,
            )
    error_ends = {}
    for end in process.iter(full_tag("endEvent")):
        definition = end.find("bpmn:errorEventDefinition", _NS)
        code = _error_code(errors, definition.get("errorRef")) if definition is not None else None
        if code is not None:
            error = errors[definition.get("errorRef")]
            error_ends[end.get("id")] = ErrorEnd(
                end.get("id"), code, _optional_expression(error, "errorMessage", problems)
            )
    start_events = process.findall("bpmn:startEvent", _NS)
    message_starts = {}
    for start in start_events:
        definition = start.find("bpmn:messageEventDefinition", _NS)
        if definition is not None:
            message_starts[messages.get(definition.get("messageRef")) or ""] = start.get("id")
    none_starts = [start for start in start_events if not any(_is_event_definition(child) for child in start)]
    # Camunda's initial activity: the none start event, or the only start event there is.
    rest_start = none_starts or (start_events if len(start_events) == 1 else [])
    return ProcessModel(
        key=process.get("id"),
        name=process.get("name"),
        category=category,
        version_tag=process.get(f"{{{CAMUNDA_NS}}}versionTag"),
        history_time_to_live=_history_time_to_live(process.get(f"{{{CAMUNDA_NS}}}historyTimeToLive")),
        startable_in_tasklist=process.get(f"{{{CAMUNDA_NS}}}isStartableInTasklist", "true") == "true",
        start_activity_id=rest_start[0].get("id") if rest_start else "",
        activities=activities,
        message_starts=message_starts,
        error_handlers=handlers,
        parents=parents,
        error_ends=error_ends,
    )


def _error_code(errors: dict[str, Any], error_ref: str | None) -> str | None:
    error = errors.get(error_ref) if error_ref else None
    code: str | None = error.get("errorCode") if error is not None else None
    return code


def _documentation(element: Any) -> str | None:
    documentation = element.find("bpmn:documentation", _NS)
    return None if documentation is None else (documentation.text or "").strip()


def _user_task_priority(task: Any, problems: _Problems) -> int:
    text = task.get(f"{{{CAMUNDA_NS}}}priority")
    if text is None:
        return 50
    try:
        return int(text)
    except ValueError:
        problems.add(f"camunda:priority '{text}' must be a number in the development engine", task)
        return 50


def _optional_expression(element: Any, attribute: str, problems: _Problems) -> Expression | None:
    text = element.get(f"{{{CAMUNDA_NS}}}{attribute}")
    if text is None:
        return None
    try:
        return Expression(text.strip())
    except JuelError as error:
        problems.add(f"Invalid camunda:{attribute} on '{element.get('id')}': {error}", element)
        return None


def _io_mapping(element: Any, problems: _Problems) -> tuple[bool, tuple[Parameter, ...], tuple[Parameter, ...]]:
    mapping = element.find("bpmn:extensionElements/camunda:inputOutput", _NS)
    if mapping is None:
        return False, (), ()
    inputs = tuple(_parameter(element, node, problems) for node in mapping.iterfind("camunda:inputParameter", _NS))
    outputs = tuple(_parameter(element, node, problems) for node in mapping.iterfind("camunda:outputParameter", _NS))
    return True, inputs, outputs


def _parameter(element: Any, node: Any, problems: _Problems) -> Parameter:
    name = node.get("name")
    if not name:
        problems.add(f"camunda:{etree.QName(node).localname} on '{element.get('id')}' has no name", element)
    return Parameter(name or "", _mapping_value(element, node, problems))


def _mapping_value(element: Any, node: Any, problems: _Problems) -> MappingValue:
    """A parameter's value as Camunda's BpmnParse reads it: the one child element, else the text."""
    children = [child for child in node if isinstance(child.tag, str)]
    if not children:
        text = (node.text or "").strip()
        if not text:
            return None
        try:
            return Expression(text)
        except JuelError as error:
            problems.add(f"Invalid expression in the input/output mapping of '{element.get('id')}': {error}", element)
            return None
    child = children[0]
    kind = etree.QName(child).localname
    if kind == "list":
        return [_mapping_value(element, item, problems) for item in child if isinstance(item.tag, str)]
    if kind == "map":
        return {
            entry.get("key") or "": _mapping_value(element, entry, problems)
            for entry in child.iterfind("camunda:entry", _NS)
        }
    if kind == "value":
        return _mapping_value(element, child, problems)
    problems.add(
        f"camunda:{kind} in the input/output mapping of '{element.get('id')}' is not supported by the development "
        "engine",
        element,
    )
    return None


def _check_supported(
    container: Any, errors: dict[str, Any], messages: dict[str, str | None], problems: _Problems
) -> None:
    process = container
    while etree.QName(process).localname != "process":
        process = process.getparent()
    waiting_activities = {
        task.get("id")
        for task in process.iter(full_tag("serviceTask"), full_tag("userTask"), full_tag("subProcess"))
        if etree.QName(task).localname != "serviceTask" or _waits_for_worker(task)
    }
    context = _CheckContext(errors, messages, waiting_activities, problems)
    if container is process:
        _check_start_events(process, messages, problems)
    else:
        _check_subprocess_start(container, problems)
    _check_extensions(container, problems)
    for element in container:
        if not isinstance(element.tag, str):
            continue
        kind = etree.QName(element).localname
        definitions = [etree.QName(child).localname for child in element if _is_event_definition(child)]
        loop = next((child for child in element if _is_loop(child)), None)
        if loop is not None:
            # Spiff's multi-instance differs from Camunda's (cardinality, element variables, sequential
            # data inputs), so an instance would start and then fail: refuse it here instead.
            problems.add(
                f"{etree.QName(loop).localname} on {kind} '{element.get('id')}' is not supported by the "
                "development engine",
                element,
            )
        elif kind in _PASSIVE_ELEMENTS:
            _check_flow(element, problems)
        elif _is_plain(kind, definitions):
            _check_extensions(element, problems)
        elif kind == "serviceTask" and _waits_for_worker(element):
            _check_service_task(element, problems)
        elif kind == "userTask":
            _check_user_task(element, problems)
        elif kind == "subProcess" and element.get("triggeredByEvent", "false") != "true":
            _check_supported(element, errors, messages, problems)
        elif not _check_event(element, kind, definitions, in_process=container is process, context=context):
            problems.add(_unsupported_message(kind, definitions, element), element)


@dataclass(frozen=True)
class _CheckContext:
    """What checking one element needs to know about the rest of the resource."""

    errors: dict[str, Any]
    messages: dict[str, str | None]
    waiting_activities: set[str]
    problems: _Problems


def _check_event(element: Any, kind: str, definitions: list[str], *, in_process: bool, context: _CheckContext) -> bool:
    """Check an event or receive task; False when it is none the engine supports."""
    problems = context.problems
    if kind == "endEvent" and definitions == ["errorEventDefinition"]:
        _check_error_reference(element, context.errors, problems, needs_code=True)
    elif kind == "boundaryEvent" and definitions == ["errorEventDefinition"]:
        _check_boundary(element, context.waiting_activities, context.errors, problems)
    elif kind == "receiveTask" and not definitions:
        _check_message(element, element.get("messageRef"), context.messages, problems)
    elif definitions == ["messageEventDefinition"] and (
        kind == "intermediateCatchEvent" or (kind == "startEvent" and in_process)
    ):
        reference = element.find("bpmn:messageEventDefinition", _NS).get("messageRef")
        _check_message(element, reference, context.messages, problems)
    elif kind == "intermediateCatchEvent" and definitions == ["timerEventDefinition"]:
        _check_timer(element, problems)
    else:
        return False
    _check_extensions(element, problems)
    return True


def _check_subprocess_start(subprocess: Any, problems: _Problems) -> None:
    starts = subprocess.findall("bpmn:startEvent", _NS)
    if len(starts) != 1 or any(_is_event_definition(child) for child in starts[0]):
        problems.add(f"subProcess '{subprocess.get('id')}' must have exactly one none start event", subprocess)


def _check_start_events(process: Any, messages: dict[str, str | None], problems: _Problems) -> None:
    starts = process.findall("bpmn:startEvent", _NS)
    none_starts = [start for start in starts if not any(_is_event_definition(child) for child in start)]
    if not starts:
        problems.add(f"Process '{process.get('id')}' has no start event", process)
    if len(none_starts) > 1:
        problems.add(f"Process '{process.get('id')}' has more than one none start event", process)
    if len(starts) > 1 and not none_starts:
        problems.add(
            f"Process '{process.get('id')}' has several start events but no none start event, which the "
            "development engine does not support",
            process,
        )
    names = [
        messages.get(definition.get("messageRef"))
        for start in starts
        for definition in start.findall("bpmn:messageEventDefinition", _NS)
    ]
    for name in sorted({name for name in names if name and names.count(name) > 1}):
        problems.add(
            f"Cannot have more than one message event subscription with name '{name}' for scope '{process.get('id')}'",
            process,
        )


def _check_message(element: Any, reference: str | None, messages: dict[str, str | None], problems: _Problems) -> None:
    if not reference or reference not in messages:
        problems.add(f"Invalid 'messageRef': no message with id '{reference}' is defined", element)
    elif not messages[reference]:
        problems.add(f"Message '{reference}' referenced by '{element.get('id')}' has no name", element)
    elif "${" in (messages[reference] or "") or "#{" in (messages[reference] or ""):
        problems.add(f"Message name expressions on '{element.get('id')}' are not supported", element)


def _check_timer(element: Any, problems: _Problems) -> None:
    detail = _timer_detail(element.find("bpmn:timerEventDefinition", _NS))
    if not detail:
        problems.add(
            f"Timer '{element.get('id')}' needs a timeDuration or a timeDate in the development engine "
            "(timeCycle is not supported)",
            element,
        )
        return
    try:
        parse_timer(detail, 0)
    except TimerError as error:
        problems.add(f"Invalid timer on '{element.get('id')}': {error}", element)


def _is_plain(kind: str, definitions: list[str]) -> bool:
    """Elements that just pass the token on (or end it), which Spiff executes like Camunda."""
    if kind in _PLAIN_ELEMENTS:
        return True
    if kind in ("startEvent", "intermediateThrowEvent"):
        return not definitions
    return kind == "endEvent" and definitions in ([], ["terminateEventDefinition"])


def _unsupported_message(kind: str, definitions: list[str], element: Any) -> str:
    detail = f" with {', '.join(definitions)}" if definitions else ""
    if kind == "serviceTask":
        detail = ' other than camunda:type="external"'
    return f"{kind}{detail} '{element.get('id')}' is not supported by the development engine"


def _is_loop(element: Any) -> bool:
    return isinstance(element.tag, str) and etree.QName(element).localname in _LOOP_CHARACTERISTICS


def _is_event_definition(element: Any) -> bool:
    return isinstance(element.tag, str) and element.tag.endswith("EventDefinition")


def _check_extensions(
    element: Any, problems: _Problems, allowed: tuple[str, ...] = (), zeebe_allowed: frozenset[str] = frozenset()
) -> None:
    for extension in element.iterfind("bpmn:extensionElements/zeebe:*", _NS):
        name = etree.QName(extension).localname
        if name not in zeebe_allowed:
            problems.add(f"zeebe:{name} on '{element.get('id')}' is not supported by the development engine", element)
    for name in _UNSUPPORTED_EXTENSIONS:
        if name in allowed:
            continue
        if element.find(f"bpmn:extensionElements/camunda:{name}", _NS) is not None:
            problems.add(f"camunda:{name} on '{element.get('id')}' is not supported by the development engine", element)


def _check_flow(element: Any, problems: _Problems) -> None:
    condition = element.find("bpmn:conditionExpression", _NS)
    if condition is None:
        return
    if condition.get("language"):
        problems.add(f"Script condition on sequence flow '{element.get('id')}' is not supported", element)
        return
    if (condition.text or "").strip().startswith("="):
        problems.add(
            f"FEEL condition on sequence flow '{element.get('id')}' is not supported by the development engine",
            element,
        )
        return
    try:
        Expression((condition.text or "").strip())
    except JuelError as error:
        problems.add(f"Invalid condition on sequence flow '{element.get('id')}': {error}", element)


def _check_external_task(element: Any, problems: _Problems) -> None:
    topic = element.get(f"{{{CAMUNDA_NS}}}topic")
    if not topic:
        problems.add("External tasks must specify a 'topic' attribute in the camunda namespace", element)
    elif "${" in topic or "#{" in topic:
        problems.add(f"Topic expressions on '{element.get('id')}' are not supported", element)
    _check_extensions(element, problems, allowed=("inputOutput",))


def _waits_for_worker(service_task: Any) -> bool:
    """An external task (Camunda 7) or a job task (Camunda 8)."""
    return service_task.get(f"{{{CAMUNDA_NS}}}type") == "external" or _job_definition(service_task) is not None


def _check_service_task(element: Any, problems: _Problems) -> None:
    if _job_definition(element) is not None:
        _check_job_task(element, problems)
    else:
        _check_external_task(element, problems)


def _job_definition(element: Any) -> Any:
    """A service task's zeebe:taskDefinition (a Camunda 8 job task), or None."""
    return element.find("bpmn:extensionElements/zeebe:taskDefinition", _NS)


def _job_retries(definition: Any) -> int:
    return int(definition.get("retries") or DEFAULT_JOB_RETRIES)


def _check_job_task(element: Any, problems: _Problems) -> None:
    element_id = element.get("id")
    definition = _job_definition(element)
    job_type = definition.get("type") or ""
    if not job_type:
        problems.add(f"zeebe:taskDefinition on '{element_id}' must have a 'type'", element)
    elif job_type.startswith("="):
        problems.add(f"Job type expressions on '{element_id}' are not supported by the development engine", element)
    retries = definition.get("retries")
    if retries is not None and not re.fullmatch(r"\d+", retries):
        problems.add(
            f"zeebe:taskDefinition retries '{retries}' on '{element_id}' must be a number in the development engine",
            element,
        )
    for mapping in element.iterfind("bpmn:extensionElements/zeebe:ioMapping/*", _NS):
        if not isinstance(mapping.tag, str):
            continue
        target, source = mapping.get("target") or "", mapping.get("source") or ""
        if not is_plain_name(target):
            problems.add(
                f"zeebe:{etree.QName(mapping).localname} target '{target}' on '{element_id}' is not supported by the "
                "development engine (a variable name is)",
                element,
            )
        try:
            FeelExpression.parse(source)
        except FeelError as error:
            problems.add(f"{error} (zeebe:ioMapping on '{element_id}')", element)
    _check_extensions(element, problems, zeebe_allowed=_JOB_EXTENSIONS)


def _zeebe_io_mapping(element: Any) -> tuple[bool, tuple[Parameter, ...], tuple[Parameter, ...]]:
    mapping = element.find("bpmn:extensionElements/zeebe:ioMapping", _NS)
    if mapping is None:
        return False, (), ()

    def parameters(kind: str) -> tuple[Parameter, ...]:
        found = []
        for node in mapping.iterfind(f"zeebe:{kind}", _NS):
            try:
                found.append(Parameter(node.get("target") or "", FeelExpression.parse(node.get("source") or "")))
            except FeelError:
                continue  # _check_job_task reported it
        return tuple(found)

    return True, parameters("input"), parameters("output")


def _check_user_task(element: Any, problems: _Problems) -> None:
    for attribute in _UNSUPPORTED_USER_TASK_ATTRIBUTES:
        if element.get(f"{{{CAMUNDA_NS}}}{attribute}") is not None:
            problems.add(
                f"camunda:{attribute} on userTask '{element.get('id')}' is not supported by the development engine",
                element,
            )
    form_key = element.get(f"{{{CAMUNDA_NS}}}formKey") or ""
    if "${" in form_key or "#{" in form_key:
        problems.add(f"camunda:formKey expressions on userTask '{element.get('id')}' are not supported", element)
    _check_extensions(element, problems, allowed=("inputOutput",))


def _check_boundary(element: Any, activities: set[str], errors: dict[str, Any], problems: _Problems) -> None:
    if element.get("attachedToRef") not in activities:
        problems.add(
            f"Error boundary event '{element.get('id')}' must be attached to an external task, a user task or a "
            "sub process in the development engine",
            element,
        )
    if element.get("cancelActivity", "true") != "true":
        problems.add(f"Error boundary event '{element.get('id')}' cannot be non-interrupting", element)
    _check_error_reference(element, errors, problems, needs_code=False)
    _check_extensions(element, problems)


def _check_error_reference(element: Any, errors: dict[str, Any], problems: _Problems, *, needs_code: bool) -> None:
    error_ref = element.find("bpmn:errorEventDefinition", _NS).get("errorRef")
    if error_ref and error_ref not in errors:
        problems.add(f"Error event '{element.get('id')}' references unknown error '{error_ref}'", element)
    elif needs_code and not _error_code(errors, error_ref):
        problems.add(
            f"Error end event '{element.get('id')}' needs an errorRef to an error with an errorCode in the development "
            "engine",
            element,
        )


def _priority(element: Any, default: int, problems: _Problems) -> int:
    text = element.get(f"{{{CAMUNDA_NS}}}taskPriority")
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        problems.add(f"camunda:taskPriority '{text}' must be a number in the development engine", element)
        return default


def _history_time_to_live(text: str | None) -> int | None:
    if text is None:
        return None
    match = re.fullmatch(r"P?(\d+)D?", text.strip())
    return int(match.group(1)) if match else None


def _rename_reserved_ids(root: Any) -> None:
    # Only flow elements become Spiff task specs, so only their ids (and references to them) change.
    container_tags = {full_tag(container) for container in _CONTAINERS}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        parent = element.getparent()
        if parent is not None and parent.tag in container_tags and element.get("id") in _RESERVED_IDS:
            element.set("id", internal_id(element.get("id")))
        for attribute in _ID_REFERENCE_ATTRIBUTES:
            value = element.get(attribute)
            if value in _RESERVED_IDS:
                element.set(attribute, internal_id(value))
        if element.tag in _ID_REFERENCE_ELEMENTS and (element.text or "").strip() in _RESERVED_IDS:
            element.text = internal_id(element.text.strip())
