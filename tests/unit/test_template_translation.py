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


def translate(
    parameters: Mapping[str, str] | None = None, artifacts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The translated template's resources for these parameters (beside the required ones)."""
    given = {**REQUIRED, **(parameters or {})}
    resources: dict[str, Any] = json.loads(
        _translated(tuple(sorted(given.items())), tuple(sorted((artifacts or {}).items())))
    )["Resources"]
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
