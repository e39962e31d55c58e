"""The printed report: every figure side by side, each one that has a target marked met or MISSED."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.clients import RAMP_S
from bench.targets import Verdict
from bench.workloads import LOGNORMAL_SIGMA

#: Columns of the wake table that carry a figure, in order.
WAKE_FIGURES = (
    ("p50", "wake_p50_ms"),
    ("p95", "wake_p95_ms"),
    ("p99", "wake_p99_ms"),
    ("reads/wait", "reads_per_wait"),
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
    if results.get("e2e"):
        lines += [*_end_to_end(results["e2e"], marks), ""]
    if results.get("cold_start"):
        lines += [*_cold(results["cold_start"], marks), ""]
    if results.get("arrival"):
        lines += [*_arrival(results, marks), ""]
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
        *_learnt(results["wake"]),
        *_schedule_model(results.get("schedule_model") or {}),
    ]


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


def _end_to_end(e2e: Mapping[str, Any], marks: Marks) -> list[str]:
    variants = list(e2e)
    rows = [[label, *(_e2e_cell(e2e, variant, key, marks) for variant in variants)] for label, key in E2E_ROWS]
    return [
        "2. End to end on the local stack (onboard-user; SQLite, worker on its schedule, development engine)",
        *_table(["", *variants], rows),
    ]


def _e2e_cell(e2e: Mapping[str, Any], variant: str, key: str, marks: Marks) -> str:
    return marks.cell(e2e[variant].get(key), "e2e", variant, key)


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


def _summary(verdicts: Sequence[Verdict]) -> list[str]:
    missed = [verdict for verdict in verdicts if not verdict.met]
    lines = [f"Targets: {len(verdicts) - len(missed)} met, {len(missed)} missed"]
    lines += [
        f"  MISSED {'.'.join(verdict.path[1:])}: {_text(verdict.measured)} against {verdict.target} "
        f"(limit {_text(verdict.limit)}, missed by {_text(-verdict.margin)})"
        for verdict in missed
    ]
    return lines
