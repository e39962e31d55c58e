"""``template.yaml`` as SAM's translator turns it into CloudFormation, checked offline.

The translator (aws-sam-translator, what CloudFormation's ``AWS::Serverless`` transform runs) lives
in SAM's own environment, not the project's: ``scripts/sam_translate.py`` runs under that
environment's interpreter and prints the translation, which these tests read. What only an AWS
account can confirm (that Lambda then publishes, that the alias moves) is listed in
docs/DEPLOYING.md.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from devstack.template import ROOT
from scripts.deploy import configured_overrides, deployment_id
from tests.conftest import server_missing

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
REQUIRED = {
    "CamundaUrl": "https://camunda.internal/engine-rest",
    "JwtIssuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
    "JwtAudience": "client-id",
    "AllowedProcessKeys": "onboard-user",
    "DatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:waitroom-db",
}
FUNCTIONS = {
    "StartFunction",
    "StatusFunction",
    "CompleteFunction",
    "CancelFunction",
    "DocsFunction",
    "WorkerFunction",
    "DispatcherFunction",
    "ReconcilerFunction",
    "RetentionFunction",
}
#: The resources through which something invokes a function.
INVOKERS = {"AWS::Events::Rule", "AWS::Lambda::Permission", "AWS::Lambda::Url", "AWS::ApiGatewayV2::Api"}


@functools.cache
def sam_python() -> str:
    """SAM's interpreter: ``.venv-sam``'s, else this one if it has the translator (a checkout
    without the separate environment). Missing, the tests fail under ``CI=true`` and skip elsewhere."""
    for candidate in (SAM_PYTHON, Path(sys.executable)):
        if candidate.exists():
            probe = subprocess.run([candidate, "-c", "import samtranslator"], capture_output=True, check=False)
            if probe.returncode == 0:
                return str(candidate)
    server_missing("SAM's environment (.venv-sam)", f"no {SAM_PYTHON} that imports samtranslator; run make venv")
    raise AssertionError("unreachable")  # server_missing fails or skips


@functools.cache
def _translated(parameters: tuple[tuple[str, str], ...], artifacts: tuple[tuple[str, str], ...]) -> str:
    command = [sam_python(), str(ROOT / "scripts" / "sam_translate.py")]
    command += [f"--parameter={name}={value}" for name, value in parameters]
    command += [f"--artifact={name}={key}" for name, key in artifacts]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def translated_template(
    parameters: Mapping[str, str] | None = None, artifacts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The whole translated template for these parameters (beside the required ones)."""
    given = {**REQUIRED, **(parameters or {})}
    document: dict[str, Any] = json.loads(
        _translated(tuple(sorted(given.items())), tuple(sorted((artifacts or {}).items())))
    )
    return document


def translate(
    parameters: Mapping[str, str] | None = None, artifacts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The translated template's resources for these parameters (beside the required ones)."""
    resources: dict[str, Any] = translated_template(parameters, artifacts)["Resources"]
    return resources


def versions(resources: Mapping[str, Any]) -> dict[str, str]:
    """Each function's published version: its logical id (a new one is a new version)."""
    found = {}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Version":
            found[resource["Properties"]["FunctionName"]["Ref"]] = name
    return found


def republished(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    old, new = versions(before), versions(after)
    assert set(old) == set(new) == FUNCTIONS
    return {function for function in new if new[function] != old[function]}


def deployed_through_script(tmp_path: Path, overrides: list[str]) -> dict[str, Any]:
    """The translation of a deploy by scripts/deploy.py from samconfig's ``overrides`` (one build)."""
    build = tmp_path / "build"
    if not build.exists():
        build.mkdir()
        (build / "template.yaml").write_text((ROOT / "template.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text(
        f"version = 0.1\n[prod.deploy.parameters]\nparameter_overrides = {json.dumps(overrides)}\n", encoding="utf-8"
    )
    given = configured_overrides(samconfig, "prod")
    parameters = dict(item.split("=", 1) for item in given)
    return translate({**parameters, "DeploymentId": deployment_id(build, given)})


def test_a_new_layer_publishes_a_new_version_of_every_function() -> None:
    before = translate()
    after = translate(artifacts={"WaitroomLayer": "WaitroomLayer-rebuilt"})
    assert republished(before, after) == FUNCTIONS


def test_a_function_whose_own_code_changed_publishes_alone() -> None:
    before = translate()
    after = translate(artifacts={"CancelFunction": "CancelFunction-rebuilt"})
    assert republished(before, after) == {"CancelFunction"}


@pytest.mark.parametrize(
    ("parameter", "value"), [("CamundaUrl", "https://camunda-2.internal/engine-rest"), ("SyncTimeoutMs", "20000")]
)
def test_a_deploy_that_changes_only_a_parameter_publishes_every_function(
    tmp_path: Path, parameter: str, value: str
) -> None:
    before = deployed_through_script(tmp_path, ["Stage=prod", f"CamundaUrl={REQUIRED['CamundaUrl']}"])
    after = deployed_through_script(
        tmp_path, ["Stage=prod", f"CamundaUrl={REQUIRED['CamundaUrl']}", f"{parameter}={value}"]
    )
    assert republished(before, after) == FUNCTIONS


def test_a_deploy_that_changes_nothing_publishes_nothing(tmp_path: Path) -> None:
    overrides = ["Stage=prod", "SyncTimeoutMs=20000"]
    assert (
        republished(deployed_through_script(tmp_path, overrides), deployed_through_script(tmp_path, overrides)) == set()
    )


def test_the_deployment_id_is_one_sam_can_name_a_version_after(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("x", encoding="utf-8")
    identifier = deployment_id(tmp_path, ["Stage=prod"])
    assert re.fullmatch(r"[A-Za-z0-9]{10,}", identifier)
    assert identifier[:10] != deployment_id(tmp_path, ["Stage=dev"])[:10]


def references(value: Any) -> Iterator[str]:
    """The logical ids ``value`` refers to (``Ref``, ``Fn::GetAtt``, ``${…}`` in ``Fn::Sub``)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                yield inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                yield from (name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(inner, list):
                    yield from references(inner[1])
            else:
                yield from references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from references(inner)


def test_every_route_schedule_function_url_and_the_dispatcher_invoke_the_alias() -> None:
    resources = translate({"LongWaits": "true"})
    invoked: dict[str, set[str]] = {}
    for name, resource in resources.items():
        if resource["Type"] in INVOKERS:
            invoked[name] = set(references(resource["Properties"])) & (FUNCTIONS | {f"{f}Aliaslive" for f in FUNCTIONS})
    assert {f for targets in invoked.values() for f in targets} >= {
        f"{f}Aliaslive" for f in FUNCTIONS - {"DispatcherFunction"}
    }
    unqualified = {name: targets & FUNCTIONS for name, targets in invoked.items() if targets & FUNCTIONS}
    assert unqualified == {}, f"these invoke $LATEST: {unqualified}"
    assert resources["StartFunctionUrl"]["Properties"]["TargetFunctionArn"] == {"Ref": "StartFunctionAliaslive"}
    assert resources["StatusFunctionUrl"]["Properties"]["TargetFunctionArn"] == {"Ref": "StatusFunctionAliaslive"}
    worker = resources["DispatcherFunction"]["Properties"]["Environment"]["Variables"]["WORKER_FUNCTION_NAME"]
    assert worker == {"Ref": "WorkerFunctionAliaslive"}
    # The worker's no-retry, one-minute event settings are the alias's, and the dispatcher invokes the alias.
    assert resources["WorkerFunctionEventInvokeConfig"]["Properties"]["Qualifier"] == "live"


def test_a_replaced_version_is_deleted_not_kept() -> None:
    resources = translate({"SnapStart": "Enabled"})
    policies = {resources[name].get("DeletionPolicy") for name in versions(resources).values()}
    assert policies == {"Delete"}


def test_the_durable_wait_mode_makes_the_start_function_durable_and_lets_every_finisher_send_to_it() -> None:
    resources = translate({"WaitMode": "durable"})
    start = resources["StartFunction"]["Properties"]
    assert start["DurableConfig"] == {
        "Fn::If": [
            "IsDurable",
            {"ExecutionTimeout": {"Fn::If": ["HasLongWaits", 900, 60]}, "RetentionPeriodInDays": 1},
            {"Ref": "AWS::NoValue"},
        ]
    }
    role = resources["StartFunctionRole"]["Properties"]["ManagedPolicyArns"]
    assert any("AWSLambdaBasicDurableExecutionRolePolicy" in json.dumps(arn) for arn in role)
    sending = {"Fn::If": ["IsDurable", {"Ref": "SendCallbacksPolicy"}, {"Ref": "AWS::NoValue"}]}
    finishers = {
        name.removesuffix("Role")
        for name, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role" and sending in resource["Properties"].get("ManagedPolicyArns", [])
    }
    assert finishers == {"CompleteFunction", "CancelFunction", "WorkerFunction", "ReconcilerFunction"}
    statement = resources["SendCallbacksPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement[0]["Action"] == [
        "lambda:SendDurableExecutionCallbackSuccess",
        "lambda:SendDurableExecutionCallbackFailure",
    ]
    assert statement[0]["Resource"][0] == {"Fn::GetAtt": ["StartFunction", "Arn"]}


# --- The engine: what a stack on each engine creates, as CloudFormation would decide it ---------------
#: What CloudFormation leaves out where ``AWS::NoValue`` is given.
NO_VALUE = object()
#: A Camunda 8 SaaS cluster, its token endpoint and its credentials' secret.
CAMUNDA8 = {
    "Engine": "camunda8",
    "CamundaUrl": "",
    "Camunda8Url": "https://bru-2.zeebe.camunda.io/0123abcd-4567-89ef-0123-456789abcdef/v2",
    "Camunda8OAuthUrl": "https://login.cloud.camunda.io/oauth/token",
    "Camunda8SecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:waitroom-camunda8",
    "Camunda8Audience": "zeebe.camunda.io",
}
#: The functions that talk to the engine or the database (the docs function serves a file).
ENGINE_FUNCTIONS = FUNCTIONS - {"DocsFunction"}


class Stack:
    """The translated template's parameters, conditions and intrinsic functions evaluated for the
    values given, as CloudFormation evaluates them on a deploy (the functions the template uses)."""

    def __init__(self, given: Mapping[str, str]) -> None:
        self.given = {**REQUIRED, **given}
        self.document = translated_template(given)
        defaults = {name: str(p.get("Default", "")) for name, p in self.document["Parameters"].items()}
        self.parameters = {**defaults, **self.given}

    def holds(self, condition: str) -> bool:
        return bool(self.value(self.document["Conditions"][condition]))

    def created(self, name: str) -> bool:
        condition = self.document["Resources"][name].get("Condition")
        return condition is None or self.holds(condition)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.value(inner) for inner in node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else self.parameters.get(argument, {"Ref": argument})
            if function == "Condition":
                return self.holds(argument)
            if function == "Fn::If":
                return self.value(argument[1] if self.holds(argument[0]) else argument[2])
            if function == "Fn::Equals":
                left, right = (self.value(inner) for inner in argument)
                return left == right
            if function == "Fn::Not":
                return not self.value(argument[0])
            if function == "Fn::And":
                return all(self.value(inner) for inner in argument)
            if function == "Fn::Or":
                return any(self.value(inner) for inner in argument)
        return {key: inner for key, inner in ((k, self.value(v)) for k, v in node.items()) if inner is not NO_VALUE}

    def environment(self, function: str) -> dict[str, Any]:
        environment: dict[str, dict[str, Any]] = self.value(
            self.document["Resources"][function]["Properties"]["Environment"]
        )
        return environment["Variables"]

    def refused(self) -> list[str]:
        """The AssertDescription of every rule assertion this deploy fails, as CloudFormation refuses it."""
        failed = []
        for rule in self.document["Rules"].values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            failed += [a["AssertDescription"] for a in rule["Assertions"] if not self.value(a["Assert"])]
        return failed

    def secrets_read_by(self, function: str) -> set[str]:
        """The secrets the function's role lets it read (through ReadSecretsPolicy)."""
        policies = self.value(self.document["Resources"][f"{function}Role"]["Properties"].get("ManagedPolicyArns", []))
        if {"Ref": "ReadSecretsPolicy"} not in policies:
            return set()
        assert self.created("ReadSecretsPolicy")
        statements = self.value(self.document["Resources"]["ReadSecretsPolicy"]["Properties"]["PolicyDocument"])
        return {
            secret
            for statement in statements["Statement"]
            if statement["Action"] == "secretsmanager:GetSecretValue"
            for secret in statement["Resource"]
        }


def test_a_camunda8_stack_gives_every_function_camunda8s_settings_and_the_secrets_read() -> None:
    stack = Stack(CAMUNDA8)
    assert stack.refused() == []
    for function in FUNCTIONS - {"DispatcherFunction"}:
        environment = stack.environment(function)
        assert environment["ENGINE"] == "camunda8"
        assert environment["CAMUNDA8_URL"] == CAMUNDA8["Camunda8Url"]
        assert environment["CAMUNDA8_OAUTH_URL"] == CAMUNDA8["Camunda8OAuthUrl"]
        assert environment["CAMUNDA8_SECRET_ARN"] == CAMUNDA8["Camunda8SecretArn"]
        assert environment["CAMUNDA8_AUDIENCE"] == CAMUNDA8["Camunda8Audience"]
        # Not set: no scope given, no Camunda 7, and never a client id or secret in the environment.
        assert not {"CAMUNDA8_SCOPE", "CAMUNDA_URL", "CAMUNDA8_CLIENT_ID", "CAMUNDA8_CLIENT_SECRET"} & set(environment)
    for function in ENGINE_FUNCTIONS - {"DispatcherFunction"}:
        assert stack.secrets_read_by(function) == {REQUIRED["DatabaseSecretArn"], CAMUNDA8["Camunda8SecretArn"]}


def test_the_settings_take_the_environment_a_camunda8_stack_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    from waitroom.settings import Settings  # noqa: PLC0415 -- the project's package, beside SAM's environment

    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in Stack(CAMUNDA8).environment("WorkerFunction").items():
        if isinstance(value, str | int):
            monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.engine == "camunda8"
    assert str(settings.camunda8_url) == CAMUNDA8["Camunda8Url"]
    assert settings.camunda8_secret_arn == CAMUNDA8["Camunda8SecretArn"]
    assert settings.camunda8_client_id is None


def test_a_camunda8_stack_creates_no_dispatcher_nor_anything_of_it() -> None:
    stack = Stack(CAMUNDA8)
    resources = stack.document["Resources"]
    of_the_dispatcher = {
        name
        for name, resource in resources.items()
        if name.startswith("DispatcherFunction") or "DispatcherFunction" in set(references(resource))
    }
    assert {"DispatcherFunction", "DispatcherFunctionRole", "DispatcherFunctionEveryMinute"} <= of_the_dispatcher
    assert {name for name in of_the_dispatcher if stack.created(name)} == set()
    assert not stack.created("WorkerBacklogGrowingAlarm"), "the backlog it watches is the dispatcher's metric"
    assert all(stack.created(f) for f in FUNCTIONS - {"DispatcherFunction"})
    assert all(stack.created(name) for name in resources if name.startswith("WorkerFunction"))


def test_a_camunda7_stack_is_what_it_was() -> None:
    stack = Stack({})
    assert stack.refused() == []
    for function in FUNCTIONS:
        environment = stack.environment(function)
        assert environment["ENGINE"] == "camunda7"
        assert environment["CAMUNDA_URL"] == REQUIRED["CamundaUrl"]
        assert not [name for name in environment if name.startswith("CAMUNDA8_")]
    for function in ENGINE_FUNCTIONS:
        assert stack.secrets_read_by(function) == {REQUIRED["DatabaseSecretArn"]}
    of_camunda7 = {name for name, r in stack.document["Resources"].items() if r.get("Condition") == "IsCamunda7"}
    assert {"DispatcherFunction", "DispatcherFunctionEveryMinute", "WorkerBacklogGrowingAlarm"} <= of_camunda7
    assert all(stack.created(name) for name in of_camunda7)
    # Camunda 8's parameters left over from an earlier stack set nothing and grant nothing.
    leftover = Stack({key: value for key, value in CAMUNDA8.items() if key not in {"Engine", "CamundaUrl"}})
    assert leftover.refused() == []
    assert not [name for name in leftover.environment("StartFunction") if name.startswith("CAMUNDA8_")]
    assert leftover.secrets_read_by("StartFunction") == {REQUIRED["DatabaseSecretArn"]}


@pytest.mark.parametrize(
    ("given", "refusal"),
    [
        ({"Engine": "camunda7", "CamundaUrl": ""}, "Engine camunda7 needs CamundaUrl"),
        ({**CAMUNDA8, "Camunda8Url": ""}, "Engine camunda8 needs Camunda8Url"),
        ({**CAMUNDA8, "Camunda8SecretArn": ""}, "Camunda8OAuthUrl needs Camunda8SecretArn"),
        ({**CAMUNDA8, "Camunda8OAuthUrl": "", "Camunda8Audience": ""}, "Camunda8SecretArn needs Camunda8OAuthUrl"),
        (
            {**CAMUNDA8, "Camunda8OAuthUrl": "", "Camunda8SecretArn": "", "Camunda8Scope": "camunda-api"},
            "Camunda8Audience and Camunda8Scope go into the token request",
        ),
    ],
)
def test_the_stack_refuses_an_engine_it_could_not_talk_to(given: dict[str, str], refusal: str) -> None:
    refused = Stack(given).refused()
    assert len(refused) == 1
    assert refused[0].startswith(refusal)


def test_a_camunda8_stack_without_authentication_is_accepted() -> None:
    """Self-managed Camunda 8 without Identity: no token endpoint, no secret."""
    stack = Stack({**CAMUNDA8, "Camunda8OAuthUrl": "", "Camunda8SecretArn": "", "Camunda8Audience": ""})
    assert stack.refused() == []
    assert not {"CAMUNDA8_OAUTH_URL", "CAMUNDA8_SECRET_ARN"} & set(stack.environment("StartFunction"))
    assert stack.secrets_read_by("StartFunction") == {REQUIRED["DatabaseSecretArn"]}


def test_no_parameter_takes_camunda8s_client_secret_itself() -> None:
    """The client credentials come from Camunda8SecretArn's secret: a parameter's value would sit in
    the stack's parameters and the functions' environment in clear."""
    parameters = translated_template()["Parameters"]
    camunda8 = {name for name in parameters if name.startswith("Camunda8")}
    assert camunda8 == {"Camunda8Url", "Camunda8OAuthUrl", "Camunda8SecretArn", "Camunda8Audience", "Camunda8Scope"}
