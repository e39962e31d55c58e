"""Cold start: how long each function's ``app.py`` takes to import, and how big the layer is.

Lambda imports the handler module in a fresh interpreter with the function's directory, the layer
(``/opt/python``) and the runtime's own packages (boto3, botocore) on ``sys.path``; that import
(Powertools, pydantic, the tracer that X-Ray patches in) is the bulk of an init. So the layer is
built with ``sam build`` and imported from there, with nothing else on the path (``-S``: no
virtualenv) and no bytecode written (``-B``: ``/opt`` is read-only). ``POWERTOOLS_TRACE_DISABLED``
is removed and ``LAMBDA_TASK_ROOT`` set, so that the tracer is as active as in Lambda. The import
from ``shared/`` with the virtualenv (as the local stack does it) is measured beside it.
"""

from __future__ import annotations

import compileall
import functools
import os
import py_compile
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import rounded
from devstack.functions import LAYER_DIR
from devstack.template import ROOT, Function, load

MIB = 1024 * 1024
#: What the python3.13 runtime provides beside the layer (the layer leaves them out).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer")
#: Printed by the measuring interpreter; everything else it prints (log lines) is ignored.
MARKER = "BENCH_IMPORT_MS="
MEASURE = f"""
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
sys.path.extend(sys.argv[3:])
began = time.perf_counter()
import app
print("{MARKER}%.3f" % ((time.perf_counter() - began) * 1000))
"""


@dataclass(frozen=True)
class Config:
    runs: int = 11
    """Imports per function from the built layer; the median is reported."""
    dev_runs: int = 3
    """Imports per function from ``shared/`` and the virtualenv."""
    split_runs: int = 3
    """Runs of the split (imports, settings, first connection, first secret) per function."""


@dataclass(frozen=True)
class Layout:
    """Where an import finds the layer, and how the interpreter runs."""

    layer: Path
    runtime: Path | None = None
    """The runtime's packages, after the layer; None: the virtualenv's site-packages serve."""

    @property
    def isolated(self) -> bool:
        return self.runtime is not None


def http_functions() -> set[str]:
    """The functions behind a route of the HTTP API (the cold-start target is theirs)."""
    application = load()
    return {application.functions[route.function].code_dir.name for route in application.routes}


@functools.cache
def _function_ids() -> frozenset[str]:
    return frozenset(load().functions)


def function_environment(function: Function) -> dict[str, str]:
    """The environment Lambda gives the function: the template's literal variables (intrinsics are
    AWS's to resolve), what the runtime sets, and the tracer as active as in Lambda."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"POWERTOOLS_TRACE_DISABLED", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
    }
    environment.update(
        {name: str(value) for name, value in function.environment.items() if not isinstance(value, dict)}
    )
    # A reference to another function or its alias (the dispatcher's WORKER_FUNCTION_NAME: !Ref
    # WorkerFunction.Alias) is its name or ARN in AWS; the logical id stands in: the import needs one set.
    environment.update(
        {
            name: str(value["Ref"]).split(".")[0]
            for name, value in function.environment.items()
            if isinstance(value, dict)
            and str(value.get("Ref")).split(".")[0] in _function_ids()
            and name not in environment
        }
    )
    environment.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "LAMBDA_TASK_ROOT": str(function.code_dir),
        }
    )
    # The status function reads its cursor key from Secrets Manager at cold start (CURSOR_KEY_SECRET_ARN,
    # an intrinsic here); the bench has no Secrets Manager, so a key stands in: the secret's round trip
    # is measured apart (bench/cold_split.py).
    if isinstance(function.environment.get("CURSOR_KEY_SECRET_ARN"), dict):
        environment.setdefault("CURSOR_KEY", "bench-cursor-key-not-a-secret-0123456789")
    # In Lambda a database setting is required at cold start (the template always gives one); the
    # import never connects, so any URL does.
    if not {"DATABASE_URL", "DB_HOST", "DB_SECRET_ARN"} & environment.keys():
        environment["DATABASE_URL"] = "sqlite:///:memory:"
    return environment


def run_python(
    function: Function,
    layout: Layout,
    script: str,
    *,
    extra_env: dict[str, str] | None = None,
    flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter laid out as Lambda's, with argv: the function's directory,
    the layer, then the runtime's packages."""
    isolated = ["-S", "-B"] if layout.isolated else []
    extra = [str(layout.runtime)] if layout.runtime is not None else []
    command = [sys.executable, *isolated, *flags, "-c", script, str(function.code_dir), str(layout.layer), *extra]
    # The command is this interpreter and a fixed script; no input reaches it.
    return subprocess.run(  # noqa: S603
        command,
        cwd=function.code_dir,
        env={**function_environment(function), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def import_ms(function: Function, layout: Layout, extra_env: dict[str, str] | None = None) -> float:
    """One import of the function's module in a fresh interpreter, in milliseconds."""
    finished = run_python(function, layout, MEASURE, extra_env=extra_env)
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith(MARKER):
            return float(line.removeprefix(MARKER))
    raise RuntimeError(f"{function.name} did not import: {finished.stderr.strip()[-2000:]}")


#: The yardsticks measured in every round beside the functions (``bench/cold_split.py``).
PASS, PYDANTIC = "(python -c pass)", "(import pydantic)"


def import_times(layout: Layout, *, runs: int, yardsticks: dict[str, float] | None = None) -> dict[str, float]:
    """The median import of each function; with ``yardsticks``, also fills it with the medians of
    ``python -c pass`` and ``import pydantic`` measured in the same rounds, so that the ratio holds
    whatever the machine's load did meanwhile."""
    from bench import cold_split  # noqa: PLC0415 -- it builds on this module

    functions = sorted(load().functions.values(), key=lambda function: function.code_dir.name)
    samples: dict[str, list[float]] = {function.code_dir.name: [] for function in functions}
    measured: dict[str, list[float]] = {PASS: [], PYDANTIC: []}
    # Round after round over every function, so that a burst of load elsewhere on the machine
    # costs one sample of each rather than every sample of one.
    for _ in range(runs):
        if yardsticks is not None:
            measured[PASS].append(cold_split.python_pass_ms())
            measured[PYDANTIC].append(cold_split.pydantic_ms(functions[0], layout))
        for function in functions:
            samples[function.code_dir.name].append(import_ms(function, layout))
    if yardsticks is not None:
        yardsticks.update({name: rounded(statistics.median(times)) for name, times in measured.items()})
    return {name: rounded(statistics.median(times)) for name, times in samples.items()}


def start_by_wait_mode(layout: Layout, *, runs: int) -> dict[str, float]:
    """The start function's median import in each wait mode (``WAIT_MODE=durable`` loads the durable
    execution SDK), measured in alternating rounds so that the machine's load meets both alike."""
    start = next(function for function in load().functions.values() if function.code_dir.name == "start")
    samples: dict[str, list[float]] = {"classic": [], "durable": []}
    for _ in range(runs):
        for mode, times in samples.items():
            times.append(import_ms(start, layout, {"WAIT_MODE": mode}))
    return {mode: rounded(statistics.median(times)) for mode, times in samples.items()}


def runtime_packages(directory: Path) -> Path:
    """A directory holding only what Lambda's runtime adds to the path: copies of the virtualenv's
    packages, compiled to bytecode as the layer is (``shared/Makefile``). The virtualenv's own copies
    hold bytecode only if something imported them without ``-B`` before (uv installs none), and
    compiling botocore at each import would triple its cost and make the figure depend on that."""
    directory.mkdir()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_PACKAGES:
        if (site_packages / name).is_dir():
            shutil.copytree(site_packages / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    if not compileall.compile_dir(
        directory, quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    ):
        raise RuntimeError(f"the runtime's packages did not compile in {directory}")
    return directory


def build_layer(build_dir: Path) -> Path:
    """``sam build`` into ``build_dir`` (its cache too: nothing lands in the repository); returns the layer."""
    environment = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        # The layer's build (shared/Makefile) finds python3.13 on the PATH, the virtualenv's, and uv.
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), str(ROOT / ".venv-uv" / "bin"), os.environ.get("PATH", "")]
        ),
    }
    command = [
        # SAM CLI's own environment (tools/sam), which make creates.
        str(ROOT / ".venv-sam" / "bin" / "sam"),
        "build",
        "--build-dir",
        str(build_dir / "build"),
        "--cache-dir",
        str(build_dir / "cache"),
        "--region",
        "us-east-1",
    ]
    # The project's own sam with fixed arguments.
    finished = subprocess.run(  # noqa: S603
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"sam build failed: {(finished.stdout + finished.stderr).strip()[-2000:]}")
    return build_dir / "build" / "WaitroomLayer"


def size_bytes(directory: Path) -> int:
    """The unzipped size: the sum of the files' sizes (as Lambda's 250 MB limit counts)."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def largest(layer: Path, count: int = 4) -> dict[str, float]:
    """The layer's biggest top-level entries, in MiB: where its size comes from."""
    python = layer / "python"
    sizes = {entry.name: size_bytes(entry) if entry.is_dir() else entry.stat().st_size for entry in python.iterdir()}
    # Distribution metadata directories are noise beside the packages.
    ranked = sorted(
        ((name, size) for name, size in sizes.items() if not re.search(r"\.(dist|egg)-info$", name)),
        key=lambda item: -item[1],
    )
    return {name: rounded(size / MIB) for name, size in ranked[:count]}


def run(config: Config, *, progress: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {"http_functions": sorted(http_functions())}
    with tempfile.TemporaryDirectory(prefix="waitroom-bench-sam-") as directory:
        try:
            layer = build_layer(Path(directory))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            progress(f"cold start: {exc}; import times from shared/ only")
            results["layer_mb"] = None
            results["import_ms"] = import_times(Layout(LAYER_DIR), runs=config.runs)
            return results
        results["layer_mb"] = rounded(size_bytes(layer) / MIB)
        results["layer_largest_mb"] = largest(layer)
        progress(f"cold start: layer {results['layer_mb']} MiB")
        built = Layout(layer / "python", runtime_packages(Path(directory) / "runtime"))
        results["start_import_ms_by_wait_mode"] = start_by_wait_mode(built, runs=config.runs)
        progress(f"cold start: the start function's import by wait mode {results['start_import_ms_by_wait_mode']}")
        yardsticks: dict[str, float] = {}
        try:
            results["import_ms"] = import_times(built, runs=config.runs, yardsticks=yardsticks)
        except RuntimeError as exc:
            # A function the import environment here cannot satisfy: said, and the other cells still run.
            progress(f"cold start: {str(exc)[-400:]}")
            results["import_error"] = str(exc)[-2000:]
            return results
        results["import_yardsticks_ms"] = yardsticks
        from bench import cold_split  # noqa: PLC0415 -- it builds on this module

        results["split"] = cold_split.run(built, runs=config.split_runs, progress=progress)
    progress(f"cold start: import times from the built layer {results['import_ms']}")
    results["import_ms_shared_venv"] = import_times(Layout(LAYER_DIR), runs=config.dev_runs)
    progress(f"cold start: import times from shared/ and the virtualenv {results['import_ms_shared_venv']}")
    return results
