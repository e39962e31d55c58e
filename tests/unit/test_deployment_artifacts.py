"""What ships beside the code stays true to it: the dashboard and alarms watch metrics the code
emits, samconfig.toml sets every parameter the template needs, and the documentation's examples
are requests the API accepts."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.template import ROOT, _CloudFormationLoader
from scripts.generate_openapi import generated_document
from waitroom.entrypoints.http.docs import as_configured
from waitroom.entrypoints.http.schemas import ApiModel, CancelRequest, CompleteRequest, StartRequest
from waitroom.settings import Settings

TEMPLATE: dict[str, Any] = __import__("yaml").load(
    (ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CloudFormationLoader
)
RESOURCES = TEMPLATE["Resources"]


def emitted_metric_names() -> set[str]:
    """Every metric name the package emits (``emit("Name", ...)``, and the answer table)."""
    names = set()
    for path in (ROOT / "shared" / "waitroom").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        names.update(re.findall(r'\bemit\(\s*"([A-Za-z]+)"', source))
        names.update(re.findall(r'ProcessStatus\.\w+: "([A-Za-z]+)"', source))
    return names


FUNCTION_ENVIRONMENT = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
#: The namespace and service (a dimension) the functions' metrics are written with, as the template sets them.
NAMESPACE = FUNCTION_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = FUNCTION_ENVIRONMENT["POWERTOOLS_SERVICE_NAME"]
#: How the dashboard's body (one Fn::Sub) names them.
DASHBOARD_NAMESPACE, DASHBOARD_SERVICE = "${Namespace}", "${AWS::StackName}"


def our_metrics() -> Iterator[dict[str, Any]]:
    """Every metric of the functions' namespace an alarm reads: namespace, name and dimensions."""
    for resource in RESOURCES.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            if "MetricName" in properties and not str(properties.get("Namespace")).startswith("AWS/"):
                yield properties
            for query in properties.get("Metrics", []):
                metric = query.get("MetricStat", {}).get("Metric", {})
                if metric and not str(metric.get("Namespace")).startswith("AWS/"):
                    yield metric


def dashboard_lines() -> Iterator[tuple[str, list[Any]]]:
    """Each metric line of the dashboard with its namespace, spelt out (``.`` repeats the line above)."""
    for resource in RESOURCES.values():
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            text, variables = resource["Properties"]["DashboardBody"]["Sub"]
            assert variables == {"Namespace": NAMESPACE}
            body = json.loads(text)
            for widget in body["widgets"]:
                previous: list[Any] = []
                for line in widget["properties"]["metrics"]:
                    if line[0] == "...":
                        yield previous[0], previous
                        continue
                    previous = [previous[index] if value == "." else value for index, value in enumerate(line)]
                    yield previous[0], previous


def watched_metric_names() -> set[str]:
    """The Waitroom metrics the alarms and the dashboard read."""
    watched = {metric["MetricName"] for metric in our_metrics()}
    watched.update(line[1] for namespace, line in dashboard_lines() if namespace == DASHBOARD_NAMESPACE)
    return watched


def test_the_alarms_and_the_dashboard_read_the_stacks_own_namespace_and_service() -> None:
    assert "${AWS::StackName}" in NAMESPACE["Sub"] and SERVICE == {"Ref": "AWS::StackName"}, "one per stack"
    metrics = list(our_metrics())
    assert len(metrics) >= 4
    for metric in metrics:
        assert metric["Namespace"] == NAMESPACE
        assert {"Name": "service", "Value": SERVICE} in metric["Dimensions"]
    ours = [line for namespace, line in dashboard_lines() if namespace == DASHBOARD_NAMESPACE]
    assert len(ours) >= 10
    assert all(line[2:4] == ["service", DASHBOARD_SERVICE] for line in ours)
    assert not [line for namespace, line in dashboard_lines() if "Waitroom" in namespace], "no fixed namespace"
    (dashboard,) = [r for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert dashboard["Properties"]["DashboardName"] == {"Ref": "AWS::StackName"}
    assert "${AWS::StackName}" in TEMPLATE["Outputs"]["DashboardUrl"]["Value"]["Sub"]


def test_the_functions_write_their_metrics_in_the_namespace_and_service_they_are_given() -> None:
    environment = {**os.environ, "POWERTOOLS_METRICS_NAMESPACE": "Waitroom/waitroom-prod"}
    environment["POWERTOOLS_SERVICE_NAME"] = "waitroom-prod"
    code = (
        "from waitroom import observability as o; print(o.NAMESPACE, o.SERVICE, o.metrics.namespace, o.metrics.service)"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    ).stdout.split()
    assert printed == ["Waitroom/waitroom-prod", "waitroom-prod", "Waitroom/waitroom-prod", "waitroom-prod"]


def test_the_dashboard_and_alarms_watch_metrics_the_code_emits() -> None:
    watched, emitted = watched_metric_names(), emitted_metric_names()
    assert {"TaskFailures", "StuckProcesses", "ServerErrors", "AnsweredInTime"} <= watched
    assert watched <= emitted, f"watched but never emitted: {sorted(watched - emitted)}"


def test_every_alarm_can_notify_the_topic() -> None:
    alarms = [resource for resource in RESOURCES.values() if resource["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 5
    assert all("AlarmActions" in alarm["Properties"] for alarm in alarms)


SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
REQUIRED = {name for name, parameter in TEMPLATE["Parameters"].items() if "Default" not in parameter}


def overrides(section: dict[str, Any]) -> dict[str, str]:
    return dict(override.split("=", 1) for override in section["parameters"]["parameter_overrides"])


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_samconfig_deploys_with_no_example_value_a_first_deploy_would_fail_on(environment: str) -> None:
    given = overrides(SAMCONFIG[environment]["deploy"])
    assert set(given) <= set(TEMPLATE["Parameters"]), "only parameters the template has"
    assert not REQUIRED & set(given), "the values a user must give are asked by sam deploy --guided, not invented"
    assert given["Stage"] == ("prod" if environment == "prod" else "dev")


def test_sam_local_invoke_resolves_every_parameter_without_a_default() -> None:
    given = overrides(SAMCONFIG["default"]["local_invoke"])
    assert set(given) >= REQUIRED, f"sam local invoke lacks {sorted(REQUIRED - set(given))}"
    assert set(given) <= set(TEMPLATE["Parameters"])


PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]


def takes(parameter: dict[str, Any], value: str) -> bool:
    """Whether CloudFormation accepts ``value`` for ``parameter``: its type and constraints (an
    ``AllowedPattern`` must match the whole value, as CloudFormation matches it)."""
    allowed = [str(option) for option in parameter.get("AllowedValues", [])]
    if parameter["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            return False
        within = parameter.get("MinValue", -math.inf) <= number <= parameter.get("MaxValue", math.inf)
        return within and (not allowed or value in allowed)
    if not parameter.get("MinLength", 0) <= len(value) <= parameter.get("MaxLength", math.inf):
        return False
    items = value.split(",") if parameter["Type"] == "CommaDelimitedList" else [value]
    pattern = parameter.get("AllowedPattern")
    return all(
        (not allowed or item in allowed) and (pattern is None or re.fullmatch(pattern, item) is not None)
        for item in items
    )


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_every_parameter_says_what_it_is_and_ends_with_an_example_it_takes(name: str) -> None:
    """The descriptions are what the CloudFormation console and a refused deploy show."""
    description = str(PARAMETERS[name].get("Description") or "")
    what, _, example = description.rpartition("Example: ")
    assert what.strip(), f"{name} has no description ending in 'Example: VALUE'"
    assert example and " " not in example, f"{name}: the example is one value, last: {example!r}"
    assert takes(PARAMETERS[name], example), f"{name}: the example {example!r} is one CloudFormation refuses"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_a_parameter_without_a_default_refuses_an_empty_value_and_says_what_it_needs(name: str) -> None:
    """`sam deploy --guided` takes an empty answer: CloudFormation must refuse it, with the reason."""
    parameter = PARAMETERS[name]
    assert not takes(parameter, ""), f"{name} takes an empty value"
    assert not takes(parameter, " "), f"{name} takes a blank value"
    assert "is required" in parameter.get("ConstraintDescription", ""), f"{name} does not say why it refuses"


def test_every_pattern_says_what_it_wants() -> None:
    unexplained = [name for name, p in PARAMETERS.items() if "AllowedPattern" in p and "ConstraintDescription" not in p]
    assert unexplained == [], "a refused value would be answered with the bare regular expression"


def test_the_guided_deploy_asks_the_values_without_a_default_first() -> None:
    """`sam deploy --guided` asks every parameter by name, in the template's order."""
    order = list(PARAMETERS)
    assert order[0] == "Stage"
    assert set(order[1 : 1 + len(REQUIRED)]) == REQUIRED


def test_the_console_shows_every_parameter_in_one_group() -> None:
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(PARAMETERS), "every parameter once, and no other"


def test_there_is_an_event_for_every_function_and_env_vars_for_them() -> None:
    events = {path.stem for path in (ROOT / "events").glob("*.json")} - {"env"}
    functions = {name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function"}
    for function in functions:
        code = RESOURCES[function]["Properties"]["CodeUri"].strip("/").rsplit("/", 1)[1]
        assert code in events, f"no events/{code}.json for {function}"
        assert f"sam local invoke {function}" in DOCUMENTATION or f"events/{code}.json" in DOCUMENTATION
    environment = json.loads((ROOT / "events" / "env.json").read_text(encoding="utf-8"))["Parameters"]
    declared = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for function in functions:
        declared |= set((RESOURCES[function]["Properties"].get("Environment") or {}).get("Variables", {}))
    # sam local invoke sets only variables the template declares: env.json may set no other.
    assert set(environment) <= declared
    assert {"DATABASE_URL", "CAMUNDA_URL"} <= set(environment)


README = (ROOT / "README.md").read_text(encoding="utf-8")
#: The README and every page of docs/: the user documentation, whose examples and reference are checked.
DOCUMENTATION = "\n".join(
    [README, *(path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md")))]
)
MODELS: dict[str, type[ApiModel]] = {"start": StartRequest, "complete": CompleteRequest, "cancel": CancelRequest}


def documented_requests() -> list[tuple[str, str, str]]:
    """(method, path, JSON body) of every example request in the documentation."""
    found = []
    for command in re.findall(r"curl [^\n]*", DOCUMENTATION.replace("\\\n", " ")):
        method = "POST" if "-X POST" in command else "GET"
        path = re.search(r"(/api/process/[\w/{}.-]+)", command)
        body = re.search(r"-d '(\{.*?\})'", command, re.DOTALL)
        if path:
            found.append((method, path.group(1), body.group(1) if body else ""))
    for route, body in re.findall(r"#+ `POST (/api/process/\w+)`\n\n[^`]*`(\{[^`]*\})`", DOCUMENTATION):
        found.append(("POST", route, body))
    return found


SERVED_DOCUMENT = ROOT / "functions" / "docs" / "openapi.json"


def test_the_docs_function_serves_the_document_the_routes_generate() -> None:
    generated = generated_document()
    assert SERVED_DOCUMENT.read_text(encoding="utf-8") == generated, (
        "functions/docs/openapi.json differs from what the routes generate: run make openapi"
    )


def test_the_served_document_gives_the_deployments_largest_list_limit() -> None:
    served = json.loads(as_configured(SERVED_DOCUMENT.read_text(encoding="utf-8"), Settings(list_max_limit=40)))
    (limit,) = [p for p in served["paths"]["/api/process/status/all"]["get"]["parameters"] if p["name"] == "limit"]
    assert limit["schema"]["maximum"] == 40


def test_the_documentations_example_requests_are_ones_the_api_accepts() -> None:
    document = json.loads(SERVED_DOCUMENT.read_text(encoding="utf-8"))
    examples = documented_requests()
    assert len(examples) >= 3
    for method, path, body in examples:
        template_path = re.sub(r"/status/(?!all)[\w.:-]+$", "/status/{correlationId}", path)
        assert template_path in document["paths"], f"{path} is not a route of the API"
        assert method.lower() in document["paths"][template_path], f"{method} {path}"
        if body:
            model = MODELS[template_path.rsplit("/", 1)[1]]
            model.model_validate(json.loads(body))


def test_the_documentation_names_every_route_of_the_api() -> None:
    document = json.loads(SERVED_DOCUMENT.read_text(encoding="utf-8"))
    for path in document["paths"]:
        assert path in DOCUMENTATION, f"{path} is not documented"


def test_the_documentation_lists_every_setting() -> None:
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in DOCUMENTATION]
    assert missing == [], f"settings the documentation does not describe: {missing}"


def test_docs_directory_is_linked_from_the_readme() -> None:
    for document in sorted((ROOT / "docs").glob("*.md")) if (ROOT / "docs").is_dir() else []:
        assert f"docs/{document.name}" in README, f"docs/{document.name} is not linked"


def test_the_test_plan_names_tests_that_exist() -> None:
    plan = (ROOT / "docs" / "TEST_PLAN.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", plan))
    assert len(named) >= 40, "the plan maps the scenarios to tests by file::name"
    defined: dict[str, set[str]] = {}
    for path, _ in named:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        defined[path] = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    missing = sorted(f"{path}::{name}" for path, name in named if name not in defined[path])
    assert missing == [], f"the test plan names tests that do not exist: {missing}"


def test_the_functions_behind_routes_outlast_their_own_timeouts_within_the_apis_30_s() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    database_s = defaults["db_connect_timeout_s"] + defaults["db_query_timeout_s"]
    camunda_s = defaults["camunda_connect_timeout_s"] + defaults["camunda_read_timeout_s"]
    for function in ("CompleteFunction", "CancelFunction"):
        timeout = RESOURCES[function]["Properties"].get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])
        assert max(database_s, camunda_s) < timeout < 30, function


def test_a_start_cannot_wait_into_the_cold_start_share_of_api_gateways_30_s() -> None:
    assert TEMPLATE["Parameters"]["SyncTimeoutMs"]["MaxValue"] <= 25_000


def test_without_nat_the_functions_reach_every_aws_api_they_call_through_endpoints() -> None:
    endpoints = {
        resource["Properties"]["ServiceName"]["Sub"].rsplit(".", 1)[1]: resource
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
    }
    # Secrets Manager (every function's secrets) and Lambda (the dispatcher starting workers).
    assert set(endpoints) == {"secretsmanager", "lambda"}
    assert {endpoint["Condition"] for endpoint in endpoints.values()} == {"CreateSecretsManagerEndpoint"}
    assert all(endpoint["Properties"]["PrivateDnsEnabled"] for endpoint in endpoints.values())
    assertions = TEMPLATE["Rules"]["SecretsManagerEndpointNeedsTheVpc"]["Assertions"]
    checked = {str(assertion["Assert"]) for assertion in assertions}
    assert any("SecurityGroupIds" in text for text in checked), "the endpoints' group comes from SecurityGroupIds"
