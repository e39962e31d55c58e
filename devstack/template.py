"""The functions, routes and schedules of ``template.yaml``, read for the local stack.

The local gateway routes exactly as the template does because it reads the template: a route
added, removed or secured there changes the local stack too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from devstack.throttle import Throttle

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
DEFAULT_TIMEOUT_S = 3  # Lambda's own default
#: The template's conditions the local stack takes as true: it serves the Lambda Function URLs
#: (``LongWaits``), so their functions get the timeout the template gives them then.
LOCAL_CONDITIONS = frozenset({"HasLongWaits"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """As the template spells it, e.g. ``/api/process/status/{correlationId}``."""
    auth: str | None
    """``AWS_IAM`` (a SigV4 signature), ``JWT`` (a bearer token) or None (open), as API Gateway checks."""
    function: str
    scopes: tuple[str, ...] = ()
    """The route's ``AuthorizationScopes``: a token needs one of them (API Gateway then passes them on)."""
    throttle: Throttle | None = None
    """The API's ``RouteSettings`` for this route, if it throttles it."""

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_static(self) -> bool:
        return "{" not in self.path

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if ``method path`` is this route, else None."""
        if method.upper() != self.method and self.method != "ANY":
            return None
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        matched = re.fullmatch(pattern, path)
        # API Gateway hands the function decoded path parameters.
        return None if matched is None else {name: unquote(value) for name, value in matched.groupdict().items()}


@dataclass(frozen=True)
class Function:
    name: str
    code_dir: Path
    handler: str
    timeout_s: float
    schedule: str | None
    environment: dict[str, Any]
    """Globals' and the function's own variables, as written (intrinsics such as ``!Ref`` stay dicts)."""
    reserved_concurrency: int | None = None
    """``ReservedConcurrentExecutions``: most invocations at once (then Lambda throttles), if set."""

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def entry_point(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class FunctionUrl:
    """An ``AWS::Lambda::Url``: every method and path goes to ``function``, checked by ``auth``."""

    function: str
    auth: str
    """``AWS_IAM`` (a SigV4 signature for the service ``lambda``) or ``NONE``."""


@dataclass(frozen=True)
class Application:
    functions: dict[str, Function]
    routes: list[Route]
    function_urls: dict[str, FunctionUrl] = field(default_factory=dict)
    """By the logical id of the function they invoke."""

    def route_for(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route API Gateway would pick: a static path wins over one with parameters."""
        for route in sorted(self.routes, key=lambda route: not route.is_static):
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref``, ``!If`` …) read as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _any_tag)


def _authorizers(resources: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, str]]]:
    """Each HTTP API's default authorizer and the kind of each of its authorizers (``JWT``)."""
    apis = {}
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            auth = resource.get("Properties", {}).get("Auth") or {}
            kinds = {
                authorizer: "JWT" if "JwtConfiguration" in config else "LAMBDA"
                for authorizer, config in (auth.get("Authorizers") or {}).items()
            }
            apis[name] = (auth.get("DefaultAuthorizer"), kinds)
    return apis


def _parameter_value(value: Any, parameters: dict[str, Any], overrides: Mapping[str, str]) -> Any:
    """A literal, or a ``!Ref`` to a parameter: its override, else its default."""
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        return overrides[name] if name in overrides else parameters[name]["Default"]
    return value


def _reserved_concurrency(value: Any, parameters: dict[str, Any], overrides: Mapping[str, str]) -> int | None:
    return None if value is None else int(_parameter_value(value, parameters, overrides))


def _route_throttles(
    resources: dict[str, Any], parameters: dict[str, Any], overrides: Mapping[str, str]
) -> dict[tuple[str, str], Throttle]:
    """Each HTTP API's ``RouteSettings`` that throttle a route, by (API, route key)."""
    throttles = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        for route_key, settings in (resource.get("Properties", {}).get("RouteSettings") or {}).items():
            if "ThrottlingBurstLimit" in settings or "ThrottlingRateLimit" in settings:
                throttles[name, route_key] = Throttle(
                    rate=float(_parameter_value(settings.get("ThrottlingRateLimit", 10_000), parameters, overrides)),
                    burst=int(_parameter_value(settings.get("ThrottlingBurstLimit", 5_000), parameters, overrides)),
                )
    return throttles


def local_value(value: Any) -> Any:
    """A property's value as the local stack sees it: ``!If`` decided by :data:`LOCAL_CONDITIONS`."""
    if isinstance(value, dict) and set(value) == {"If"}:
        condition, when_true, when_false = value["If"]
        return local_value(when_true if condition in LOCAL_CONDITIONS else when_false)
    return value


def _function_urls(resources: dict[str, Any]) -> dict[str, FunctionUrl]:
    urls = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::Lambda::Url":
            continue
        if "Condition" in resource and resource["Condition"] not in LOCAL_CONDITIONS:
            continue
        properties = resource["Properties"]
        target = properties["TargetFunctionArn"]
        # !GetAtt StartFunction.Arn (or !Ref StartFunction): the function's logical id comes first.
        reference = next(iter(target.values())) if isinstance(target, dict) else str(target)
        name = str(reference[0] if isinstance(reference, list) else reference.split(".")[0])
        urls[name] = FunctionUrl(function=name, auth=properties["AuthType"])
    return urls


def load(template: Path = TEMPLATE, parameter_overrides: Mapping[str, str] | None = None) -> Application:
    """The template's functions and routes; ``parameter_overrides`` stand for ``--parameter-overrides``."""
    document = yaml.load(template.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506 -- a SafeLoader
    parameters, overrides = document.get("Parameters", {}), parameter_overrides or {}
    globals_ = document.get("Globals", {}).get("Function", {})
    authorizers = _authorizers(document["Resources"])
    throttles = _route_throttles(document["Resources"], parameters, overrides)
    functions: dict[str, Function] = {}
    routes: list[Route] = []
    for name, resource in document["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        schedule = None
        for event in (properties.get("Events") or {}).values():
            event_properties = event.get("Properties", {})
            if event["Type"] == "HttpApi":
                api = event_properties.get("ApiId", {}).get("Ref")
                default, kinds = authorizers.get(api, (None, {}))
                chosen = (event_properties.get("Auth") or {}).get("Authorizer", default)
                auth = None if chosen in (None, "NONE") else "AWS_IAM" if chosen == "AWS_IAM" else kinds[chosen]
                scopes = tuple((event_properties.get("Auth") or {}).get("AuthorizationScopes") or ())
                method, path = event_properties["Method"].upper(), event_properties["Path"]
                throttle = throttles.get((api, f"{method} {path}"))
                routes.append(Route(method, path, auth, name, scopes, throttle))
            elif event["Type"] in {"Schedule", "ScheduleV2"}:
                schedule = event_properties.get("Schedule") or event_properties.get("ScheduleExpression")
        functions[name] = Function(
            name=name,
            code_dir=ROOT / properties["CodeUri"],
            handler=properties.get("Handler", globals_.get("Handler")),
            timeout_s=float(local_value(properties.get("Timeout", globals_.get("Timeout", DEFAULT_TIMEOUT_S)))),
            schedule=schedule,
            environment={
                **(globals_.get("Environment") or {}).get("Variables", {}),
                **(properties.get("Environment") or {}).get("Variables", {}),
            },
            reserved_concurrency=_reserved_concurrency(
                properties.get("ReservedConcurrentExecutions"), parameters, overrides
            ),
        )
    return Application(functions, routes, _function_urls(document["Resources"]))
