"""Cut the part of Camunda 8's Orchestration Cluster API document that the development engine serves.

Camunda's own SDK for JavaScript vendors the 8.8 document unchanged at
``external-spec/rest-api.upstream.yaml`` (branch ``stable/8.8`` of
github.com/camunda/orchestration-cluster-api-js). This keeps the path items and methods of
:data:`ROUTES` with every component they reference (schemas, responses, parameters, transitively)
and the security schemes, copied unchanged and converted from YAML to JSON, into
``src/waitroom_dev_engine/reference/camunda8-orchestration-cluster-api.openapi.json``, whose
``info.x-provenance`` records where it came from::

    python dev-engine/scripts/camunda8_openapi.py --git /path/to/orchestration-cluster-api-js.git \
        --commit f41efb4faa37980d11331e3287f9bbb289b5b83c

``--check`` compares instead of writing: exit 1 when the file differs from the cut (its provenance aside).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml
from openapi_subset import subset

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "src" / "waitroom_dev_engine" / "reference" / "camunda8-orchestration-cluster-api.openapi.json"
SPEC = "external-spec/rest-api.upstream.yaml"
#: The path items and methods the development engine serves below /v2 (dev-engine/README.md).
ROUTES: dict[str, list[str]] = {
    "/topology": ["get"],
    "/deployments": ["post"],
    "/process-instances": ["post"],
    "/process-instances/{processInstanceKey}": ["get"],
    "/process-instances/{processInstanceKey}/cancellation": ["post"],
    "/process-instances/search": ["post"],
    "/process-definitions/{processDefinitionKey}/xml": ["get"],
    "/element-instances/search": ["post"],
    "/variables/search": ["post"],
    "/variables/{variableKey}": ["get"],
    "/jobs/activation": ["post"],
    "/jobs/search": ["post"],
    "/jobs/{jobKey}": ["patch"],
    "/jobs/{jobKey}/completion": ["post"],
    "/jobs/{jobKey}/failure": ["post"],
    "/jobs/{jobKey}/error": ["post"],
    "/incidents/search": ["post"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--git", type=Path, required=True, help="a clone (bare is fine) of orchestration-cluster-api-js"
    )
    parser.add_argument("--commit", required=True, help="the commit of branch stable/8.8 to read")
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args()
    text = subprocess.run(
        ["git", "-C", str(args.git), "show", f"{args.commit}:{SPEC}"], check=True, capture_output=True
    ).stdout
    changed = subprocess.run(
        ["git", "-C", str(args.git), "log", "-1", "--format=%H, %cs", args.commit, "--", SPEC],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    full = yaml.safe_load(text)
    document = subset(full, ROUTES, whole_sections=("securitySchemes",), dropped_keys=("security", "tags"))
    listed = ", ".join(f"{method.upper()} {path}" for path, methods in ROUTES.items() for method in methods)
    document["info"]["x-provenance"] = (
        "Copied from github.com/camunda/camunda branch stable/8.8, zeebe/gateway-protocol/src/main/proto/rest-api.yaml "
        f"(Orchestration Cluster API, REST v2, Camunda 8.8; info.version {full['info']['version']}), as vendored "
        "unchanged by Camunda's own SDK github.com/camunda/orchestration-cluster-api-js at "
        f"{SPEC} (branch stable/8.8, commit {args.commit}; the file last changed in {changed}; "
        "its scripts/fetch-spec.ts clones that branch and path of "
        f"camunda/camunda), sha256 of the YAML {hashlib.sha256(text).hexdigest()}. Upstream license: "
        f"{full['info']['license']['name']} (info.license). SUBSET: the path items and methods served by "
        f"dev-engine under /v2 ({listed}; listed in dev-engine/README.md) with every component they "
        "reference and the security schemes, copied unchanged and converted from YAML to JSON by "
        f"dev-engine/scripts/camunda8_openapi.py on {datetime.now(UTC).date().isoformat()}. "
        "Camunda 8.9's document (same SDK, branch stable/9) adds businessId to process instance creation; "
        "8.8's has none."
    )
    rendered = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if args.check:
        current = json.loads(TARGET.read_text(encoding="utf-8"))
        current["info"].pop("x-provenance", None)
        document["info"].pop("x-provenance")
        if current != document:
            print(f"{TARGET.relative_to(ROOT)} differs from the cut of {SPEC} at {args.commit}", file=sys.stderr)
            sys.exit(1)
        return
    TARGET.write_text(rendered, encoding="utf-8")
    counts = ", ".join(f"{len(items)} {section}" for section, items in document["components"].items())
    print(f"{TARGET.relative_to(ROOT)}: {len(document['paths'])} paths; {counts}")


if __name__ == "__main__":
    main()
