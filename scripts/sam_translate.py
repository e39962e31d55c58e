"""Print the CloudFormation that SAM's translator makes of ``template.yaml``, offline, as JSON.

Run it with the interpreter of SAM's own environment (``.venv-sam/bin/python``), which has the
translator (``samtranslator``, aws-sam-translator) that CloudFormation's ``AWS::Serverless`` transform
runs; the project's environment does not. It stands in for ``sam package`` + the transform:

* every ``CodeUri`` and the layer's ``ContentUri`` become an S3 location whose key is a digest of
  the directory's files (``sam package`` names the uploaded zip by its digest too), unless
  ``--artifact LOGICAL_ID=KEY`` names the key;
* ``--parameter NAME=VALUE`` gives a parameter's value (the rest take their defaults), as
  ``sam deploy --parameter-overrides`` does;
* no AWS call is made: managed policies named in ``Policies`` (none are) would resolve to nothing.

    .venv-sam/bin/python scripts/sam_translate.py --parameter CamundaUrl=https://c/engine-rest ...

tests/unit/test_template_translation.py reads its output.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "waitroom-artifacts"


def directory_digest(directory: Path) -> str:
    """A digest of every file under ``directory``: its names and contents."""
    digest = hashlib.sha256()
    for path in sorted(item for item in directory.rglob("*") if item.is_file() and "__pycache__" not in item.parts):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def packaged(template: dict[str, Any], artifacts: dict[str, str]) -> dict[str, Any]:
    """The template as ``sam package`` uploads it: local code directories become S3 locations."""
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                object_key = artifacts.get(name) or f"{name}-{directory_digest(ROOT / properties[key])}"
                properties[key] = f"s3://{BUCKET}/{object_key}"
    return template


def translate(template_path: Path, parameters: dict[str, str], artifacts: dict[str, str]) -> dict[str, Any]:
    # The translator fills AWS::Region from the environment's region; nothing is contacted.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # Imported by name: the translator exists only in SAM's environment, where this script runs.
    transform = importlib.import_module("samtranslator.translator.transform").transform
    yaml_parse = importlib.import_module("samtranslator.yaml_helper").yaml_parse

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = packaged(yaml_parse(template_path.read_text(encoding="utf-8")), artifacts)
    translated: dict[str, Any] = transform(template, dict(parameters), NoManagedPolicies())
    return translated


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, given = value.partition("=")
        if not sep:
            raise SystemExit(f"{what} {value!r}: expected NAME=VALUE")
        pairs[name] = given
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--artifact", action="append", default=[], metavar="LOGICAL_ID=KEY")
    args = parser.parse_args(argv)
    translated = translate(args.template, _pairs(args.parameter, "--parameter"), _pairs(args.artifact, "--artifact"))
    json.dump(translated, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
