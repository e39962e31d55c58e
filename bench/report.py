"""The printed report: every figure side by side, each one that has a target marked met or MISSED."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.clients import RAMP_S
from bench.targets import Verdict, fleet_schedules
from bench.workloads import LOGNORMAL_SIGMA

#: Columns of the wake table that carry a figure, in order.
WAKE_FIGURES = (
    ("p50", "wake_p50_ms"),
    ("p95", "wake_p95_ms"),
    ("p99", "wake_p99_ms"),
    ("reads/wait", "reads_per_wait"),
    ("procs", "waiter_processes"),
    ("harness p99", "harness_sleep_overshoot_p99_ms"),
)
E2E_ROWS: tuple[tuple[str, str], ...] = (
    ("start -> 200 p50 (ms), one at a time", "start_200_p50_ms"),
    ("start -> 200 p99 (ms), one at a time", "start_200_p99_ms"),
    ("  the process's own durationMs p50", "process_duration_p50_ms"),
    ("Waitroom overhead p50 (ms)", "e2e_overhead_p50_ms"),
    ("Waitroom overhead p99 (ms)", "e2e_overhead_p99_ms"),
    ("concurrent clients", "clients"),
    ("processes completed", "completed"),
    ("run time, with the last ones (s)", "load_seconds"),
    ("throughput (processes/s)", "throughput_per_s"),
    ("start answer under load p50 (ms)", "start_under_load_p50_ms"),
    ("start answer under load p99 (ms)", "start_under_load_p99_ms"),
    (f"  after the first {RAMP_S:.0f} s, p50 (ms)", "steady_start_under_load_p50_ms"),
    (f"  after the first {RAMP_S:.0f} s, p99 (ms)", "steady_start_under_load_p99_ms"),
    ("refused and sent again", "refused"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
)


class Marks:
    """The verdict, if any, of each figure, by its path in the results."""

    def __init__(self, verdicts: Sequence[Verdict]) -> None:
        self._by_path = {verdict.path: verdict for verdict in verdicts}

    def cell(self, value: Any, *path: str, unit: str = "") -> str:
        verdict = self._by_path.get(path)
        text = _text(value) + unit
        if verdict is None:
            return text
        return f"{text} {'met' if verdict.met else 'MISSED'}"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{name} x{count}" for name, count in value.items()) or "none"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines


def render(results: Mapping[str, Any], verdicts: Sequence[Verdict]) -> str:
    marks = Marks(verdicts)
    lines = [_machine(results.get("machine") or {}), ""]
    if results.get("wake"):
        lines += [*_wake(results, marks), ""]
    if results.get("fleet"):
        lines += [*_fleet(results, marks), ""]
    if results.get("e2e"):
        lines += [*_end_to_end(results["e2e"], marks), ""]
    if results.get("cold_start"):
        lines += [*_cold(results["cold_start"], marks), ""]
    if results.get("arrival"):
        lines += [*_arrival(results, marks), ""]
    if results.get("arrival_sweep"):
        lines += [*_arrival_sweep(results), ""]
    if results.get("durable"):
        lines += [*_durable(results["durable"]), ""]
    if results.get("cost"):
        lines += [*_cost(results["cost"]), ""]
    lines += _summary(verdicts)
    return "\n".join(lines)


def _machine(machine: Mapping[str, Any]) -> str:
    return (
        f"Machine: {machine.get('cores')} cores ({machine.get('cpu')}), {machine.get('memory_gb')} GB, "
        f"{machine.get('os')}, {machine.get('python')}; PostgreSQL {machine.get('postgresql')}, "
        f"Redis {machine.get('redis')}; load average {_loads(machine.get('load_average_at_start'))} at the start, "
        f"{_loads(machine.get('load_average_at_end'))} at the end"
    )


def _loads(values: Sequence[float] | None) -> str:
    return "/".join(f"{value:.1f}" for value in values) if values else "?"


def _wake(results: Mapping[str, Any], marks: Marks) -> list[str]:
    config = (results.get("config") or {}).get("wake") or {}
    rows = []
    for backend, workloads in results["wake"].items():
        for workload, cells in workloads.items():
            for strategy, cell in cells.items():
                figures = [
                    marks.cell(cell.get(key), "wake", backend, workload, strategy, key) for _, key in WAKE_FIGURES
                ]
                failed = str(cell.get("failed") or "")
                rows.append([backend, workload, strategy, *figures, failed])
    header = ["backend", "workload", "strategy", *(name for name, _ in WAKE_FIGURES), "failed"]
    return [
        "1. Wake latency (ms, from the finishing UPDATE's return to wait() returning) and reads per wait",
        f"   {config.get('waits')} waits per cell, {config.get('threads')} at once; uniform = 0-5 s, "
        f"lognormal = median 1 s, sigma {LOGNORMAL_SIGMA}",
        *_table(header, rows),
        "   harness p99 = how late a 1 ms sleep woke in the waiter processes (the harness's own delay)",
        *_breakdowns(results["wake"]),
        *_learnt(results["wake"]),
        *_schedule_model(results.get("schedule_model") or {}),
    ]


def _breakdowns(wake: Mapping[str, Any]) -> list[str]:
    """Where a woken wait's milliseconds went, per push cell: p50/p99 of each step."""
    lines = []
    for backend, workloads in wake.items():
        for workload, cells in workloads.items():
            for strategy, cell in cells.items():
                parts = cell.get("breakdown_ms")
                if parts:
                    steps = ", ".join(
                        f"{step} {parts[step]['p50']}/{parts[step]['p99']}"
                        for step in ("announce", "deliver", "read_and_return")
                    )
                    lines.append(f"   {backend}/{workload}/{strategy} woken waits, p50/p99 ms: {steps}")
    return lines


def _learnt(wake: Mapping[str, Any]) -> list[str]:
    lines = []
    for backend, workloads in wake.items():
        for workload, cells in workloads.items():
            schedule = (cells.get("adaptive") or {}).get("learnt_schedule_ms")
            if schedule:
                lines.append(f"   learnt schedule, {backend}/{workload}: pauses {', '.join(map(str, schedule))} ms")
    return lines


def _schedule_model(model: Mapping[str, Any]) -> list[str]:
    lines = []
    for workload, figures in model.items():
        p99, reads = figures["wake_p99_ms"], figures["reads_per_wait"]
        lines.append(
            f"   learnt from {figures['histories']} other {workload} histories (cost model): p99 median "
            f"{p99['median']} ms ({p99['min']}-{p99['max']}); "
            f"reads median {reads['median']} (max {reads['max']}) against the seed's "
            f"{figures['seed_reads_per_wait']}, over it in {figures['histories_over_the_seeds_reads']}"
        )
    return lines


def _fleet(results: Mapping[str, Any], marks: Marks) -> list[str]:
    config = (results.get("config") or {}).get("fleet") or {}
    rows, growth = [], []
    for backend, schedule, cells in fleet_schedules(results["fleet"]):
        for size, cell in cells.items():
            if not isinstance(cell, dict):
                continue
            model = cell.get("model") or {}
            path = ("fleet", backend, schedule, size, "model")
            rows.append(
                [
                    backend,
                    schedule,
                    size,
                    _text(cell.get("starts_per_s")),
                    _text(cell.get("statements_per_s")),
                    f"{_text(model.get('statements_per_s'))} "
                    f"({marks.cell(model.get('statements_off_pct'), *path, 'statements_off_pct', unit='%')})",
                    f"{_text(cell.get('waiter_connections'))} ({_text(cell.get('connections_per_environment'))})",
                    f"{_text(model.get('db_connections'))} "
                    f"({marks.cell(model.get('connections_off_pct'), *path, 'connections_off_pct', unit='%')})",
                    _text(cell.get("server_cpu_s")),
                    _text(cell.get("redis_cpu_s")),
                    _text(cell.get("wake_p50_ms")),
                    _text(cell.get("wake_p99_ms")),
                    _text(cell.get("harness_sleep_overshoot_p99_ms")),
                    _text(cell.get("errors") if "failed" not in cell else cell["failed"]),
                ]
            )
        growth.append(f"{backend}/{schedule}: {cells.get('grows_at') or 'not up to the largest fleet'}")
    header = [
        "backend", "schedule", "N", "starts/s", "stmts/s", "model (off)", "conns (per env)", "model (off)",
        "db CPU s", "redis CPU s", "p50", "p99", "harness p99", "errors",
    ]  # fmt: skip
    return [
        "4. Fleet: N start environments waiting at once (own connection, wait loop, wake channel each), "
        "log-normal workload",
        f"   {config.get('waiter_processes')} waiter processes, {config.get('finisher_threads')} finisher "
        f"connections; figures over a {config.get('window_s')} s window; wake latency in ms; harness p99 = how "
        "late a 1 ms sleep wakes in the waiter processes; db CPU = the PostgreSQL server's processes (/proc)",
        *_table(header, rows),
        "   latency or errors start to grow at N = " + "; ".join(growth),
        f"   load average after the fleet: {_loads(results['fleet'].get('load_average_after'))}",
        *_sizing(results["fleet"].get("sizing")),
    ]


def _sizing(sizing: Mapping[str, Any] | None) -> list[str]:
    if not sizing:
        return []
    rows = [
        [
            f"{row['arrival_per_s']:.0f}",
            f"{row['median_s']:.0f} s",
            name,
            str(figures["concurrency"]) + (" (over 1,000)" if figures["over_default_account_concurrency"] else ""),
            str(figures["db_connections"]),
            str(figures["redis_connections"]),
            str(figures["statements_per_s"]),
            str(figures["gb_s_per_million_starts"]),
            f"{figures['usd_per_million_starts']:.2f}",
        ]
        for row in sizing["rows"]
        for name, figures in row["strategies"].items()
    ]
    header = ["starts/s", "median", "strategy", "environments", "db conns", "redis conns", "stmts/s", "GB-s/M", "$/M"]
    return [
        f"   Sizing (capacity model; log-normal sigma {LOGNORMAL_SIGMA}; {sizing['base_overhead_ms']} ms per start "
        f"beyond its process, measured in {sizing['measured_in']}; 512 MB; $/M = Lambda duration and requests):",
        *_table(header, rows),
    ]


def _end_to_end(e2e: Mapping[str, Any], marks: Marks) -> list[str]:
    variants = list(e2e)
    rows = [[label, *(_e2e_cell(e2e, variant, key, marks) for variant in variants)] for label, key in E2E_ROWS]
    return [
        "2. End to end on the local stack (onboard-user; SQLite, worker on its schedule, development engine)",
        *_table(["", *variants], rows),
    ]


def _e2e_cell(e2e: Mapping[str, Any], variant: str, key: str, marks: Marks) -> str:
    return marks.cell(e2e[variant].get(key), "e2e", variant, key)


def _split(split: Mapping[str, Any] | None) -> list[str]:
    if not split:
        return []
    baselines = split["baselines"]
    rows = [
        [
            function,
            *(
                _text(parts.get(key))
                for key in ("import", "settings", "first_connection", "boto3_import", "first_secret")
            ),
            ", ".join(f"{name} {ms}" for name, ms in list(parts["imports_by_package_ms"].items())[:5]),
        ]
        for function, parts in split["functions"].items()
    ]
    header = [
        "function",
        "import",
        "settings",
        "1st connection",
        "boto3 import",
        "1st secret",
        "imports by package (self ms)",
    ]
    return [
        f"   Split (median, ms; same run: python -c pass {baselines['python_c_pass_ms']} ms, "
        f"import pydantic {baselines['import_pydantic_ms']} ms):",
        *_table(header, rows),
    ]


def _cold(cold: Mapping[str, Any], marks: Marks) -> list[str]:
    http = set(cold.get("http_functions") or [])
    dev = cold.get("import_ms_shared_venv") or {}
    rows = [
        [
            f"{function}{'' if function in http else ' (scheduled)'}",
            marks.cell(value, "cold_start", "import_ms", function),
            _text(dev.get(function)),
        ]
        for function, value in (cold.get("import_ms") or {}).items()
    ]
    largest = ", ".join(f"{name} {size}" for name, size in (cold.get("layer_largest_mb") or {}).items())
    return [
        "3. Cold start: import of functions/<name>/app.py in a fresh interpreter, tracer active (median, ms)",
        *_table(["function", "sam-built layer (as Lambda)", "shared/ + virtualenv"], rows),
        f"   layer after sam build, unzipped: {marks.cell(cold.get('layer_mb'), 'cold_start', 'layer_mb', unit=' MiB')}"
        + (f" (largest: {largest} MiB)" if largest else ""),
        *_yardsticks(cold.get("import_yardsticks_ms")),
        *_by_wait_mode(cold.get("start_import_ms_by_wait_mode"), marks),
        *_split(cold.get("split")),
    ]


def _by_wait_mode(imports: Mapping[str, float] | None, marks: Marks) -> list[str]:
    if not imports:
        return []
    return [
        "   the start function from the built layer by wait mode, alternating rounds: "
        + ", ".join(
            f"{mode} {marks.cell(value, 'cold_start', 'start_import_ms_by_wait_mode', mode, unit=' ms')}"
            for mode, value in imports.items()
        )
    ]


def _durable(durable: Mapping[str, Any]) -> list[str]:
    """The durable wait mode beside the classic one, over HTTP through the local stack (bench.durable)."""
    wake = durable.get("wake") or {}
    rows = [
        [workload, mode, *(_text(cell.get(key)) for key in ("wake_p50_ms", "wake_p90_ms", "wake_p99_ms")),
         f"{cell.get('answered_200')}/{cell.get('waits')}", _text(cell.get("cpu_ms_per_start")),
         _loads(cell.get("load_average"))]
        for workload, cells in (wake.get("cells") or {}).items()
        for mode, cell in cells.items()
    ]  # fmt: skip
    lines = [
        "D. Durable wait mode, over HTTP through the local stack (finish committed -> HTTP answer), load average "
        f"{_loads(durable.get('load_average_at_start'))} at the start, {_loads(durable.get('load_average_at_end'))} "
        "at the end",
        *_table(["workload", "mode", "p50 ms", "p90 ms", "p99 ms", "200", "CPU ms per start", "load after"], rows),
    ]
    for mode, figures in (wake.get("invocations") or {}).items():
        lines.append(
            f"   {mode}: start function invocations, first (to the suspension) p50 "
            f"{_text(figures.get('first_invocation_p50_ms'))} ms p90 "
            f"{_text(figures.get('first_invocation_p90_ms'))} ms; "
            f"resumed p50 {_text(figures.get('resume_invocation_p50_ms'))} ms p90 "
            f"{_text(figures.get('resume_invocation_p90_ms'))} ms; checkpoint bytes sent per start "
            f"{_text(figures.get('checkpoint_bytes_per_start'))}"
        )
    for mode, figures in (durable.get("throughput") or {}).items():
        lines.append(
            f"   throughput, {mode}: {figures.get('starts')} starts ({_parameters(figures.get('parameters'))}), "
            f"answers {_text(figures.get('answers'))}, "
            f"{_text(figures.get('share_200'))} answered 200, start environments at most "
            f"{figures.get('start_environments_peak')}, {_text(figures.get('cpu_ms_per_start'))} ms of CPU per start, "
            f"load {_loads(figures.get('load_average_before'))} -> "
            f"{_loads(figures.get('load_average_after'))}"
        )
    for size, figures in (durable.get("fleet") or {}).items():
        held, arrival = figures.get("while_waiting") or {}, figures.get("arrival") or {}
        lines.append(
            f"   fleet of {size} durable waiters, {'all' if figures.get('all_suspended') else 'NOT all'} "
            f"suspended ({_text(arrival.get('suspended'))}), over {_text(held.get('seconds'))} s: "
            f"{_text(held.get('running_start_invocations'))} running start invocations, "
            f"{_text(held.get('running_start_connections'))} database connections serving a start, "
            f"{_text(held.get('statements_per_wait'))} statements per wait; "
            f"{_text(held.get('start_environments'))} idle start environments holding "
            f"{_text(held.get('start_environment_connections'))} of the {_text(held.get('database_connections'))} "
            f"Waitroom connections (load {_loads(held.get('load_average'))})"
        )
        lines.append(
            f"      arrival over {_text(arrival.get('seconds'))} s: at most "
            f"{_text(arrival.get('peak_running_start_invocations'))} running start invocations and "
            f"{_text(arrival.get('peak_running_start_connections'))} connections serving them, "
            f"{_text(arrival.get('statements_per_start'))} statements per start; "
            f"answers {_text(figures.get('answers'))}"
        )
    return lines


def _parameters(parameters: Mapping[str, str] | None) -> str:
    return ", ".join(f"{name} {value}" for name, value in (parameters or {}).items()) or "template defaults"


def _yardsticks(yardsticks: Mapping[str, float] | None) -> list[str]:
    if not yardsticks:
        return []
    return [
        "   in the same rounds: "
        + ", ".join(f"{name} {_text(value)} ms" for name, value in yardsticks.items())
        + " (judge a function's import against these on a loaded machine)"
    ]


def _arrival(results: Mapping[str, Any], marks: Marks) -> list[str]:
    config = (results.get("config") or {}).get("arrival") or {}
    rows = []
    for variant, rates in results["arrival"].items():
        for rate, figures in rates.items():
            path = ("arrival", variant, rate)
            rows.append(
                [
                    variant,
                    rate,
                    _text(figures.get("sent")),
                    marks.cell(figures.get("share_200_pct"), *path, "share_200_pct"),
                    marks.cell(figures.get("start_p50_ms"), *path, "start_p50_ms"),
                    _text(figures.get("start_p99_ms")),
                    _text(figures.get("backlog_max")),
                    _text(figures.get("backlog_at_load_end")),
                    marks.cell(figures.get("drained_after_s"), *path, "drained_after_s"),
                    _text(figures.get("steps_per_s")),
                    _text(figures.get("refused") or None),
                ]
            )
    header = ["worker", "rate", "starts", "% 200", "p50 ms", "p99 ms", "backlog max", "at end", "drained s", "steps/s"]
    return [
        "4. Arrival rates on the local stack: onboarding stand-in answering in "
        f"{config.get('onboarding_delay_ms')} ms, "
        f"open-loop starts for {config.get('seconds')} s per rate, the backlog (open external tasks) followed "
        f"up to {config.get('tail_s')} s after; '-' under drained: not empty by then",
        *_table([*header, "refused"], rows),
    ]


def _arrival_sweep(results: Mapping[str, Any]) -> list[str]:
    config = (results.get("config") or {}).get("arrival") or {}
    rows = [
        [
            bound,
            _text(figures.get("threads")),
            _text(figures.get("sent")),
            _text(figures.get("steps_per_s")),
            _text(figures.get("backlog_max")),
            _text(figures.get("drained_after_s")),
            _text(figures.get("load_average")),
            _text(figures.get("refused") or None),
        ]
        for bound, figures in results["arrival_sweep"].items()
    ]
    header = ["bound", "threads", "starts", "steps/s", "backlog max", "drained s", "load average", "refused"]
    return [
        f"4b. Throughput against the worker bound (WORKER_MAX_INVOCATIONS): {config.get('sweep_rate')} "
        f"asynchronous starts a second for {config.get('sweep_seconds')} s, steps completed per second until "
        "the backlog is empty",
        *_table(header, rows),
    ]


def _cost(cost: Mapping[str, Any]) -> list[str]:
    prices, profile = cost["prices"], cost["durable_profile"]
    rows = [
        [
            f"{row['median_s']:g} s",
            f"{row['classic_held_s']:.2f}",
            f"{row['classic']['x86_64']['gb_s']:.0f}",
            f"{row['classic']['x86_64']['total']:.2f}",
            f"{row['classic']['arm64']['total']:.2f}",
            f"{row['durable']['x86_64']['gb_s']:.0f}",
            f"{row['durable']['x86_64']['durable_operations']:.2f}",
            f"{row['durable']['x86_64']['total']:.2f}",
            f"{row['durable']['arm64']['total']:.2f}",
            f"{row['durable']['x86_64']['written_gb']:.2f}",
        ]
        for row in cost["table"]
    ]
    header = [
        "median", "classic held s", "classic GB-s/M", "classic $/M x86", "arm64",
        "durable GB-s/M", "durable ops $/M", "durable $/M x86", "arm64", "durable GB written/M",
    ]  # fmt: skip
    sizing = [
        [
            f"{row['arrival_per_s']:.0f}",
            f"{row['median_s']:g} s",
            *(_environments(row[mode]) for mode in ("classic", "durable")),
            *(str(row[mode]["db_connections"]) for mode in ("classic", "durable")),
        ]
        for row in cost["sizing"]
    ]
    crossover = cost["crossover_median_s"]
    operations = sum(cost["durable_operations_per_start"].values())
    return [
        "6. Cost per million starts and sizing, classic and durable wait modes (capacity model, bench/capacity.py)",
        f"   log-normal sigma {cost['sigma']}; classic = one invocation holding 512 MB for the process (push wake-up) "
        f"+ {cost['base_overhead_ms']} ms ({cost['measured_in']}), at most 25 s",
        f"   durable = {operations} durable operations, 2 invocations of {profile['first_invocation_s']} + "
        f"{profile['resume_invocation_s']} s (measured, DurableProfile in bench/capacity.py), "
        f"{profile['bytes_written_per_start']} bytes checkpointed (measured); data written/retained not priced",
        f"   prices, USD: GB-s x86 {prices['gb_s']['x86_64']:.10f}, arm64 {prices['gb_s']['arm64']:.10f}; "
        f"Lambda requests {prices['per_million_lambda_requests']:.2f}/M; HTTP API "
        f"{prices['per_million_http_api_requests']:.2f}/M; durable operations "
        f"{prices['per_million_durable_operations']:.2f}/M (sources: docs/CAPACITY.md)",
        *_table(header, rows),
        "   crossover (durable cheaper above this median): "
        + ", ".join(f"{arch} {_crossover(value)}" for arch, value in crossover.items()),
        *_table(
            ["starts/s", "median", "classic envs", "durable envs", "classic db conns", "durable db conns"],
            sizing,
        ),
        "   durable: a waiting start runs no invocation, so it holds no environment and no connection",
    ]


def _environments(figures: Mapping[str, Any]) -> str:
    return str(figures["concurrency"]) + (" (over 1,000)" if figures["over_default_account_concurrency"] else "")


def _crossover(value: float | None) -> str:
    return "none below 25 s" if value is None else f"{value:.1f} s"


def _summary(verdicts: Sequence[Verdict]) -> list[str]:
    missed = [verdict for verdict in verdicts if not verdict.met]
    lines = [f"Targets: {len(verdicts) - len(missed)} met, {len(missed)} missed"]
    lines += [
        f"  MISSED {'.'.join(verdict.path[1:])}: {_text(verdict.measured)} against {verdict.target} "
        f"(limit {_text(verdict.limit)}, missed by {_text(-verdict.margin)})"
        for verdict in missed
    ]
    return lines
