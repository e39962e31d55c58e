"""Render a Camunda 7 fork's REST OpenAPI document from its templates and keep the routes the engine serves.

Operaton and CIB seven publish their ``/engine-rest`` OpenAPI document only inside a Maven artifact,
generated at build time from the FreeMarker templates in ``engine-rest/engine-rest-openapi``. This
renders those templates as their build does (engine_openapi/Render.java beside this, with Debian's
``libfreemarker-java`` 2.3.31 and ``libgoogle-gson-java``), then keeps the path items and methods of
``src/waitroom_dev_engine/reference/camunda7-engine-rest.openapi.json`` with every component they reference,
copied unchanged, so that the three documents cover the same routes::

    python dev-engine/scripts/fork_openapi.py --git /path/to/operaton.git --ref v2.1.4 --name operaton \
        --version-key operatonbpmVersion --repository github.com/operaton/operaton
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openapi_subset import subset

# dev-engine/, the distribution's directory.
ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "src" / "waitroom_dev_engine" / "reference"
CAMUNDA7 = REFERENCE / "camunda7-engine-rest.openapi.json"
TEMPLATES = "engine-rest/engine-rest-openapi/src/main/templates"
CLASSPATH = "/usr/share/java/freemarker.jar:/usr/share/java/gson.jar"


def render(git_dir: Path, ref: str, version_key: str, version: str, work: Path) -> dict[str, Any]:
    archive = subprocess.run(
        ["git", "-C", str(git_dir), "archive", ref, TEMPLATES], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    renderer = Path(__file__).parent / "engine_openapi" / "Render.java"
    subprocess.run(["javac", "-d", str(work), "-cp", CLASSPATH, str(renderer)], check=True)
    out = work / "openapi.json"
    subprocess.run(
        ["java", "-cp", f"{CLASSPATH}:{work}", "Render", str(work / TEMPLATES), str(out), version_key, version],
        check=True,
    )
    rendered: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return rendered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--git", type=Path, required=True, help="a clone (bare is fine) of the fork's repository")
    parser.add_argument("--ref", required=True, help="the release tag")
    parser.add_argument("--name", required=True, help="the file's prefix: operaton, cibseven")
    parser.add_argument("--version-key", required=True, help="the templates' version variable")
    parser.add_argument("--repository", required=True, help="where the repository is published")
    parser.add_argument(
        "--extra-path",
        action="append",
        default=[],
        help="a path item to keep beyond Camunda 7's file, every method (repeat); add it there too",
    )
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(args.git), "rev-list", "-n", "1", args.ref], check=True, capture_output=True, text=True
    ).stdout.strip()
    version = args.ref.removeprefix("v")
    camunda7 = json.loads(CAMUNDA7.read_text(encoding="utf-8"))
    routes = {path: sorted(item) for path, item in camunda7["paths"].items()}
    with tempfile.TemporaryDirectory() as work:
        full = render(args.git, args.ref, args.version_key, version, Path(work))
    for path in args.extra_path:
        routes[path] = sorted(method for method in full["paths"][path] if method != "parameters")
    document = subset(full, routes)
    document["info"]["x-provenance"] = (
        f"Rendered from the FreeMarker templates in {args.repository} {TEMPLATES} at tag {args.ref} "
        f"(commit {commit}, version {version}) by dev-engine/scripts/fork_openapi.py, which mirrors the fork's "
        "engine-rest-openapi-generator TemplateParser (FreeMarker 2.3.31, Gson). Upstream license: "
        f"{full['info']['license']['name']}. SUBSET: the path items and methods of "
        f"{CAMUNDA7.name} with every component they reference, copied unchanged, on "
        f"{datetime.now(UTC).date().isoformat()}."
    )
    target = REFERENCE / f"{args.name}-engine-rest.openapi.json"
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"{target.relative_to(ROOT)}: {len(document['paths'])} paths, {len(document['components']['schemas'])} schemas"
    )


if __name__ == "__main__":
    main()
