"""``sam deploy`` with a ``DeploymentId`` that changes whenever what is deployed changes.

Every route, schedule and Function URL calls each function's alias ``live``, which moves only when
SAM's translator publishes a new version. It hashes a function's own properties (and, with
``PublishLambdaVersion``, the layer), but never a template parameter's value: a new ``CamundaUrl``
alone would reach ``$LATEST`` and not the alias. ``DeploymentId`` is the one parameter the
translator does see (``AutoPublishCodeSha256``), so this script gives it a digest of the built
artifacts (``.aws-sam/build``) and of the parameter overrides: a deploy that changes anything
publishes every function anew, one that changes nothing publishes nothing.

    sam build
    python scripts/deploy.py --config-env prod          # further arguments go to sam deploy

It passes samconfig.toml's ``parameter_overrides`` of that environment along with ``DeploymentId``
(``--parameter-overrides`` on the command line replaces samconfig's list, it does not add to it).
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".aws-sam" / "build"
PARAMETER = "DeploymentId"
#: SAM names each version after the id's first 10 characters.
DIGEST_CHARS = 20


def configured_overrides(samconfig: Path, config_env: str) -> list[str]:
    """``NAME=VALUE`` items of ``[<config_env>.deploy.parameters].parameter_overrides``."""
    config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    given = config.get(config_env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    items = shlex.split(given) if isinstance(given, str) else [str(item) for item in given]
    return [item for item in items if item.partition("=")[0] != PARAMETER]


def deployment_id(build_dir: Path, overrides: Sequence[str]) -> str:
    """A digest of every built file and of the overrides: letters and digits, as a logical id needs."""
    digest = hashlib.sha256()
    for path in sorted(item for item in build_dir.rglob("*") if item.is_file()):
        digest.update(str(path.relative_to(build_dir)).encode())
        digest.update(path.read_bytes())
    for item in sorted(overrides):
        digest.update(item.encode())
    return digest.hexdigest()[:DIGEST_CHARS]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sam deploy with a DeploymentId that follows what changed")
    parser.add_argument("--config-env", default="default")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--dry-run", action="store_true", help="print the sam deploy command instead of running it")
    args, rest = parser.parse_known_args(argv)
    if not (args.build_dir / "template.yaml").is_file():
        print(f"{args.build_dir} holds no build: run sam build first", file=sys.stderr)
        return 2
    overrides = configured_overrides(args.samconfig, args.config_env)
    identifier = deployment_id(args.build_dir, overrides)
    command = [
        "sam",
        "deploy",
        "--config-env",
        args.config_env,
        "--parameter-overrides",
        *overrides,
        f"{PARAMETER}={identifier}",
        *rest,
    ]
    if args.dry_run:
        print(shlex.join(command))
        return 0
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
