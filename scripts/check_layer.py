"""Fail unless the layer that ``sam build`` made holds exactly the locked runtime set.

Usage: ``python scripts/check_layer.py .aws-sam/build/WaitroomLayer/python`` (``make template`` runs it
after ``sam build``). The locked set is ``uv export`` of the runtime dependencies in ``uv.lock``; the
layer's distributions are its ``*.dist-info`` folders. The only difference allowed is the libraries
that the python3.13 runtime provides and shared/Makefile leaves out.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parent.parent
# shared/Makefile's --no-emit-package list: Lambda's python3.13 runtime carries these.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")
# Lambda's python3.13 runtime, for the lock's environment markers (tzdata is for Windows only, say).
LAMBDA_ENVIRONMENT = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_runtime_set() -> dict[str, str]:
    exported = subprocess.run(
        [
            "uv",
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--no-emit-workspace",
            "--format",
            "requirements-txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return runtime_pins(exported)


def runtime_pins(exported: str) -> dict[str, str]:
    """The pins of ``uv export``'s requirements text that apply in Lambda's runtime."""
    pins = (_PIN.match(line) for line in exported.splitlines())
    return {
        normalized(pin[1]): pin[2]
        for pin in pins
        if pin and (pin[3] is None or Marker(pin[3]).evaluate(LAMBDA_ENVIRONMENT))
    }


def layer_set(site: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for dist_info in site.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
        found[normalized(name)] = version
    return found


def differences(locked: dict[str, str], layer: dict[str, str]) -> list[str]:
    expected = {name: version for name, version in locked.items() if name not in RUNTIME_PROVIDED}
    problems = [
        f"{name}=={version} is locked but not in the layer" for name, version in expected.items() if name not in layer
    ]
    problems += [
        f"{name}=={version} is in the layer but not locked" for name, version in layer.items() if name not in expected
    ]
    problems += [
        f"{name}: the layer has {layer[name]}, the lock {version}"
        for name, version in expected.items()
        if name in layer and layer[name] != version
    ]
    return sorted(problems)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    site = Path(argv[0])
    layer = layer_set(site)
    if not layer:
        print(f"no distributions in {site}: was sam build run?", file=sys.stderr)
        return 1
    problems = differences(locked_runtime_set(), layer)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"the layer holds the {len(layer)} locked runtime distributions, at their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
