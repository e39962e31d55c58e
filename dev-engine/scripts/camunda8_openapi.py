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

``--release 8.9`` cuts, from branch ``stable/9`` (the SDK's major 9 is Camunda 8.9; its ``npm run build``
bundles camunda/camunda ``stable/8.9``'s multi-file document into ``external-spec/bundled/rest-api.bundle.json``),
only what the adapters send differently to 8.9 (:data:`ROUTES_8_9`) into
``camunda8.9-orchestration-cluster-api.openapi.json`` beside it::

    python dev-engine/scripts/camunda8_openapi.py --release 8.9 --git /path/to/orchestration-cluster-api-js.git \
        --commit 118e222db83ef0806336088bf7b53ec655b2e38d

``--check`` compares instead of writing: exit 1 when the file differs from the cut (its provenance aside).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
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
#: What the adapters send differently to Camunda 8.9: the create instruction's businessId, on the
#: gateway's version.
ROUTES_8_9: dict[str, list[str]] = {"/topology": ["get"], "/process-instances": ["post"]}


@dataclass(frozen=True)
class Release:
    target: Path
    spec: str
    branch: str
    routes: dict[str, list[str]]
    origin: str
    note: str


RELEASES = {
    "8.8": Release(
        TARGET,
        SPEC,
        "stable/8.8",
        ROUTES,
        "github.com/camunda/camunda branch stable/8.8, zeebe/gateway-protocol/src/main/proto/rest-api.yaml "
        "(Orchestration Cluster API, REST v2, Camunda 8.8",
        "vendored unchanged by Camunda's own SDK github.com/camunda/orchestration-cluster-api-js at",
    ),
    "8.9": Release(
        TARGET.with_name("camunda8.9-orchestration-cluster-api.openapi.json"),
        "external-spec/bundled/rest-api.bundle.json",
        "stable/9",
        ROUTES_8_9,
        "github.com/camunda/camunda branch stable/8.9, zeebe/gateway-protocol/src/main/proto/v2/rest-api.yaml "
        "and the files it references (Orchestration Cluster API, REST v2, Camunda 8.9",
        "bundled into one document (camunda-schema-bundler, its package.json's build: SPEC_REF=stable/8.9) "
        "by Camunda's own SDK github.com/camunda/orchestration-cluster-api-js at",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--git", type=Path, required=True, help="a clone (bare is fine) of orchestration-cluster-api-js"
    )
    parser.add_argument("--release", choices=sorted(RELEASES), default="8.8", help="the Camunda release to cut")
    parser.add_argument("--commit", required=True, help="the commit of the release's branch to read")
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args()
    release = RELEASES[args.release]
    text = subprocess.run(
        ["git", "-C", str(args.git), "show", f"{args.commit}:{release.spec}"], check=True, capture_output=True
    ).stdout
    changed = subprocess.run(
        ["git", "-C", str(args.git), "log", "-1", "--format=%H, %cs", args.commit, "--", release.spec],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    full = yaml.safe_load(text)  # YAML, or JSON (a subset of YAML)
    document = subset(full, release.routes, whole_sections=("securitySchemes",), dropped_keys=("security", "tags"))
    listed = ", ".join(f"{method.upper()} {path}" for path, methods in release.routes.items() for method in methods)
    if args.release == "8.8":
        fetched = "its scripts/fetch-spec.ts clones that branch and path of camunda/camunda"
        kept = f"the path items and methods served by dev-engine under /v2 ({listed}; listed in dev-engine/README.md)"
        after = (
            "Camunda 8.9's document (same SDK, branch stable/9) adds businessId to process instance creation; "
            "8.8's has none (camunda8.9-orchestration-cluster-api.openapi.json)."
        )
    else:
        fetched = "its scripts/spec-location.ts names that directory"
        kept = (
            f"the path items and methods whose 8.9 form the adapters send ({listed}; "
            "shared/waitroom/adapters/camunda8/engine.py) and the responses of other operations they "
            "reference (kept at their place)"
        )
        after = "The rest of what the adapters send is checked against 8.8's document."
    document["info"]["x-provenance"] = (
        f"Copied from {release.origin}; info.version {full['info']['version']}), as {release.note} "
        f"{release.spec} (branch {release.branch}, commit {args.commit}; the file last changed in {changed}; "
        f"{fetched}), sha256 of the file {hashlib.sha256(text).hexdigest()}. Upstream license: "
        f"{full['info']['license']['name']} (info.license). SUBSET: {kept} with every component they "
        "reference and the security schemes, copied unchanged and written as JSON by "
        f"dev-engine/scripts/camunda8_openapi.py on {datetime.now(UTC).date().isoformat()}. {after}"
    )
    rendered = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if args.check:
        current = json.loads(release.target.read_text(encoding="utf-8"))
        current["info"].pop("x-provenance", None)
        document["info"].pop("x-provenance")
        if current != document:
            print(
                f"{release.target.relative_to(ROOT)} differs from the cut of {release.spec} at {args.commit}",
                file=sys.stderr,
            )
            sys.exit(1)
        return
    release.target.write_text(rendered, encoding="utf-8")
    counts = ", ".join(f"{len(items)} {section}" for section, items in document["components"].items())
    print(f"{release.target.relative_to(ROOT)}: {len(document['paths'])} paths; {counts}")


if __name__ == "__main__":
    main()
