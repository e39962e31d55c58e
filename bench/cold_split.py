"""Where a function's cold start goes: its import split by package, then the settings, the first
database connection and the first secret, each timed in the same fresh interpreter, laid out as
Lambda lays it out (:mod:`bench.cold_start`). Beside them, in the same run, the floor and a yardstick
a loaded machine moves just as much: an interpreter that does nothing (``python -c pass``) and
``import pydantic`` alone.

The secret comes from Secrets Manager as moto serves it in-process (no network): the time is
boto3's import, the client's creation and Powertools' parameters, which is what a first secret
costs in Lambda before the network round trip.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench import services
from bench.cold_start import Layout, run_python
from bench.stats import rounded
from devstack.template import Function, load

MARKER = "BENCH_SPLIT="
#: Imports, then each first use, timed one after the other in one interpreter.
SPLIT = f"""
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
sys.path.extend(sys.argv[3:])
clock = time.perf_counter
parts = {{}}
began = clock()
import app
parts["import"] = clock() - began
began = clock()
from waitroom.settings import load_settings
settings = load_settings()
parts["settings"] = clock() - began
began = clock()
from waitroom import bootstrap
bootstrap.repository(settings).connect()
parts["first_connection"] = clock() - began
began = clock()
import boto3
parts["boto3_import"] = clock() - began
# moto stands in for Secrets Manager; it is no part of Lambda's path, so it comes last.
import os
sys.path.append(os.environ["BENCH_SITE_PACKAGES"])
import moto
with moto.mock_aws():
    boto3.client("secretsmanager").create_secret(Name="bench", SecretString='{{"token": "t"}}')
    began = clock()
    from aws_lambda_powertools.utilities import parameters
    parameters.get_secret("bench", transform="json")
    parts["first_secret"] = clock() - began
print("{MARKER}" + json.dumps({{name: value * 1000 for name, value in parts.items()}}))
"""
PYDANTIC = f"""
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
sys.path.extend(sys.argv[3:])
began = time.perf_counter()
import pydantic
print("{MARKER}%.3f" % ((time.perf_counter() - began) * 1000))
"""
#: ``-X importtime`` lines: self and cumulative microseconds, then the indented module name.
IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")


def _marked(finished: subprocess.CompletedProcess[str], what: str) -> str:
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith(MARKER):
            return line.removeprefix(MARKER)
    raise RuntimeError(f"{what} failed: {finished.stderr.strip()[-2000:]}")


def split_once(function: Function, layout: Layout, *, database_url: str) -> dict[str, float]:
    finished = run_python(
        function,
        layout,
        SPLIT,
        extra_env={"DATABASE_URL": database_url, "BENCH_SITE_PACKAGES": sysconfig.get_paths()["purelib"]},
    )
    parts: dict[str, float] = json.loads(_marked(finished, f"{function.name}'s split"))
    return parts


def imports_by_package(function: Function, layout: Layout, *, top: int = 8) -> dict[str, float]:
    """The import's own time per top-level package (``-X importtime``'s self times), the largest."""
    finished = run_python(
        function,
        layout,
        "import sys; sys.path[:0] = sys.argv[1:3]; sys.path.extend(sys.argv[3:]); import app",
        flags=("-X", "importtime"),
    )
    totals: Counter[str] = Counter()
    for line in finished.stderr.splitlines():
        if (match := IMPORTTIME.match(line)) is not None:
            totals[match.group(3).split(".")[0]] += int(match.group(1))
    ranked = totals.most_common()
    shown = {name: rounded(micros / 1000) for name, micros in ranked[:top]}
    shown["(the rest)"] = rounded(sum(micros for _, micros in ranked[top:]) / 1000)
    return shown


def python_pass_ms() -> float:
    """``python -S -B -c pass``, the whole process, wall clock: the floor of any start."""
    began = time.perf_counter()
    # This interpreter, doing nothing.
    subprocess.run([sys.executable, "-S", "-B", "-c", "pass"], check=True, timeout=60)
    return (time.perf_counter() - began) * 1000


def pydantic_ms(function: Function, layout: Layout) -> float:
    """``import pydantic`` alone, from the layer, in-process."""
    return float(_marked(run_python(function, layout, PYDANTIC), "import pydantic"))


def baselines(function: Function, layout: Layout, *, runs: int) -> dict[str, float]:
    """``python -c pass`` and ``import pydantic``, beside the split."""
    empty = [python_pass_ms() for _ in range(runs)]
    pydantic = [pydantic_ms(function, layout) for _ in range(runs)]
    return {
        "python_c_pass_ms": rounded(statistics.median(empty)),
        "import_pydantic_ms": rounded(statistics.median(pydantic)),
    }


def run(layout: Layout, *, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    functions = sorted(load().functions.values(), key=lambda function: function.code_dir.name)
    results: dict[str, Any] = {"baselines": baselines(functions[0], layout, runs=runs), "functions": {}}
    with services.postgres_schema() as database_url:
        for function in functions:
            samples = [split_once(function, layout, database_url=database_url) for _ in range(runs)]
            parts: dict[str, Any] = {
                name: rounded(statistics.median(sample[name] for sample in samples)) for name in samples[0]
            }
            parts["imports_by_package_ms"] = imports_by_package(function, layout)
            results["functions"][function.code_dir.name] = parts
    progress(f"cold start split: {json.dumps(results['baselines'])}")
    return results
